"""The paper's cleaning rules for preference pairs, as polars expressions over the canonical candidate table.

Adapters turn native rows into candidate pairs (one Python pass: the native schemas are too irregular for a columnar
reader); every rule below then runs column-wise, lazily, over all candidates of a source at once. Each rule is a
config option (`datasets.<name>.options`), each drop carries its rule's name as `reason` and a `detail`, and the
first rule that fires names the drop. Order of the rules (and so which reason wins when several apply):

  unknown_role, empty_turn, broken_role_order   the chat itself (context turns and both replies)
  identical_responses                           chosen == rejected
  label_contradicts_scores, equal_scores        the row's own scores disagree with its label / cannot rank
  small_margin, small_score_ratio               |s_c - s_r| < min_margin; s_c / s_r <= min_score_ratio (SHP)
  over_length                                   prompt + longer reply over max_chars characters
  duplicate                                     same (prompt, chosen, rejected) as an earlier kept pair
  per_prompt_cap                                more than max_pairs_per_prompt pairs for one prompt (most decisive kept)

`benchmarks/clean_pairs.py` holds a per-row Python version of the same rules as the speed baseline, and a test checks
that both keep and drop the same pairs for the same reasons.
"""

from __future__ import annotations

import polars as pl

from online_rlhf.core.tables import CHAT

ROLES = ("system", "user", "assistant")

CLEANING_DEFAULTS: dict = {
    "drop_empty_turns": True,  # a context turn or a reply that is empty or only whitespace
    "check_role_order": True,  # optional system turn, then user/assistant alternating from user, ending with user
    "drop_identical": True,  # chosen and rejected are the same text
    "check_labels": True,  # scores of the row contradict its label, or are equal (no preference)
    "min_margin": 0.0,  # drop when |chosen_score - rejected_score| < min_margin (0: off)
    "min_score_ratio": None,  # drop when chosen_score / rejected_score <= this (SHP: 2); null: off
    "max_chars": None,  # drop when prompt + longer reply exceed this many characters; null: off
    "drop_duplicates": True,  # same prompt, chosen and rejected as an earlier pair of the source
    "max_pairs_per_prompt": None,  # keep at most this many pairs per prompt (SHP: 5); null: no cap
}

CANDIDATE_SCHEMA = {
    "id": pl.String,
    "source": pl.String,
    "origin": pl.String,
    "prompt_id": pl.String,
    "prompt": CHAT,
    "chosen": pl.String,
    "rejected": pl.String,
    "chosen_score": pl.Float64,
    "rejected_score": pl.Float64,
    "meta": pl.String,
}
DROP_SCHEMA = {"source": pl.String, "origin": pl.String, "reason": pl.String, "detail": pl.String, "whole_row": pl.Boolean, "raw": pl.String}

# A pair formed from several native rows (HelpSteer: two responses to one prompt) names all of them in `origin`.
ORIGIN_SEP = " & "

_ROLE_PATTERN = r"^(system\x1f)?user(\x1fassistant\x1fuser)*$"


def cleaning_options(overrides: dict | None) -> dict:
    unknown = set(overrides or {}) - set(CLEANING_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown cleaning option(s) {sorted(unknown)}; allowed: {sorted(CLEANING_DEFAULTS)}")
    return CLEANING_DEFAULTS | (overrides or {})


def decisiveness() -> pl.Expr:
    """How clearly a pair is preferred, for the per-prompt cap: the score ratio (inf when the rejected score is not
    positive), 0 without scores."""
    c, r = pl.col("chosen_score"), pl.col("rejected_score")
    return (
        pl.when(c.is_null() | r.is_null()).then(0.0).when(r > 0).then(c / r).otherwise(float("inf"))
    )


_KNOWN_ROLES = r"^(?:(?:system|user|assistant)(?:\x1f(?:system|user|assistant))*)?$"


def features(opts: dict) -> list[pl.Expr]:
    """Per-row facts several rules read, computed in one pass over the nested prompt column: the context roles
    joined by \x1f, each turn's length after stripping whitespace, and (for max_chars) the context's length."""
    turn = pl.element().struct
    out = [
        pl.col("prompt").list.eval(turn.field("role").fill_null("?")).list.join("\x1f").alias("_roles"),
        pl.col("prompt").list.eval(turn.field("content").fill_null("").str.strip_chars().str.len_chars()).alias("_stripped"),
    ]
    if opts["max_chars"] is not None:
        out.append(pl.col("prompt").list.eval(turn.field("content").fill_null("").str.len_chars()).list.sum().alias("_context_chars"))
    return out


def rule_checks(opts: dict) -> list[tuple[str, pl.Expr, pl.Expr]]:
    """(reason, fires, detail) per enabled row-wise rule, in order of precedence; they read the `features` columns."""
    c, r = pl.col("chosen_score"), pl.col("rejected_score")
    both = c.is_not_null() & r.is_not_null()
    roles = pl.col("_roles").str.replace_all("\x1f", ", ", literal=True)
    checks: list[tuple[str, pl.Expr, pl.Expr]] = [
        ("unknown_role", ~pl.col("_roles").str.contains(_KNOWN_ROLES), pl.format("context roles [{}]; allowed: {}", roles, pl.lit(", ".join(ROLES))))
    ]
    if opts["drop_empty_turns"]:
        blank_context = pl.col("_stripped").list.min() == 0
        blank_chosen = pl.col("chosen").fill_null("").str.strip_chars() == ""
        blank_rejected = pl.col("rejected").fill_null("").str.strip_chars() == ""
        where = pl.col("_stripped").list.eval(pl.int_range(pl.len()).filter(pl.element() == 0)).cast(pl.List(pl.String)).list.join(",")
        detail = pl.concat_str(
            [
                pl.when(blank_context).then(pl.format("context turn(s) {} empty", where)),
                pl.when(blank_chosen).then(pl.lit("chosen reply empty")),
                pl.when(blank_rejected).then(pl.lit("rejected reply empty")),
            ],
            separator="; ",
            ignore_nulls=True,
        )
        checks.append(("empty_turn", blank_context.fill_null(False) | blank_chosen | blank_rejected, detail))
    if opts["check_role_order"]:
        checks.append(
            (
                "broken_role_order",
                ~pl.col("_roles").str.contains(_ROLE_PATTERN),
                pl.format("context roles [{}]: expected optional system, then user/assistant alternating, ending with user", roles),
            )
        )
    if opts["drop_identical"]:
        checks.append(("identical_responses", pl.col("chosen") == pl.col("rejected"), pl.lit("chosen and rejected are the same text")))
    if opts["check_labels"]:
        checks.append(("label_contradicts_scores", both & (c < r), pl.format("chosen scored {} < rejected {}", c, r)))
        checks.append(("equal_scores", both & (c == r), pl.format("both scored {}", c)))
    if opts["min_margin"]:
        checks.append(("small_margin", both & ((c - r).abs() < opts["min_margin"]), pl.format("|{} - {}| < {}", c, r, pl.lit(opts["min_margin"]))))
    if opts["min_score_ratio"] is not None:
        ratio = decisiveness()
        checks.append(("small_score_ratio", both & (ratio <= opts["min_score_ratio"]), pl.format("score ratio {} <= {}", ratio.round(3), pl.lit(opts["min_score_ratio"]))))
    if opts["max_chars"] is not None:
        length = pl.col("_context_chars") + pl.max_horizontal(pl.col("chosen").str.len_chars(), pl.col("rejected").str.len_chars())
        checks.append(("over_length", length > opts["max_chars"], pl.format("{} characters > {}", length, pl.lit(opts["max_chars"]))))
    return checks


def _raw() -> pl.Expr:
    """The dropped candidate itself as JSON, for the audit (the native row is one `origin` lookup away)."""
    return pl.struct("prompt", "chosen", "rejected", "chosen_score", "rejected_score", "meta").struct.json_encode()


def _as_drops(frame: pl.LazyFrame, reason: pl.Expr, detail: pl.Expr) -> pl.LazyFrame:
    return frame.select(
        "_row", "source", "origin", reason.alias("reason"), detail.alias("detail"), pl.lit(False).alias("whole_row"), _raw().alias("raw")
    )


def clean_pairs(candidates: pl.DataFrame | pl.LazyFrame, options: dict | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Apply every enabled rule to the candidates of one source. Returns (kept, drops): kept has the candidate
    columns in input order; drops has DROP_SCHEMA columns, one row per dropped candidate (whole_row still False)."""
    opts = cleaning_options(options)
    columns = candidates.collect_schema().names()
    checks = rule_checks(opts)
    # First the cheap part on every row: which rule fires first, as a small integer. Details (strings) are only
    # built for the rows a rule dropped.
    first = pl.lit(None, pl.UInt8)
    for code, (_, fires, _) in reversed(list(enumerate(checks))):
        first = pl.when(fires).then(pl.lit(code, pl.UInt8)).otherwise(first)
    # One pass over the rows (read, features, first rule), materialised: every branch below starts from it.
    lf = candidates.lazy().with_row_index("_row").with_columns(features(opts)).with_columns(first.alias("_rule")).collect().lazy()
    names = pl.col("_rule").replace_strict(dict(enumerate(name for name, _, _ in checks)), return_dtype=pl.String)
    details = pl.coalesce([pl.when(pl.col("_rule") == code).then(text) for code, (_, _, text) in enumerate(checks)]) if checks else pl.lit(None, pl.String)
    dropped = [_as_drops(lf.filter(pl.col("_rule").is_not_null()), names, details)]
    survivors = lf.filter(pl.col("_rule").is_null())
    if opts["drop_duplicates"]:
        first_seen = pl.col("id").is_first_distinct()
        detail = pl.format("same prompt, chosen and rejected as pair {}", pl.col("id"))
        dropped.append(_as_drops(survivors.filter(~first_seen), pl.lit("duplicate"), detail))
        survivors = survivors.filter(first_seen)
    cap = opts["max_pairs_per_prompt"]
    if cap:
        # Only prompts with more than `cap` pairs need ranking: most decisive first (score ratio, then id).
        crowded = pl.len().over("prompt_id") > cap
        survivors = survivors.with_columns(crowded.alias("_crowded"))
        ranked = (
            survivors.filter(pl.col("_crowded"))
            .with_columns(decisiveness().alias("_strength"))
            .sort(["prompt_id", "_strength", "id"], descending=[False, True, False])
            .with_columns((pl.int_range(pl.len()).over("prompt_id") < cap).alias("_within_cap"))
        )
        dropped.append(_as_drops(ranked.filter(~pl.col("_within_cap")), pl.lit("per_prompt_cap"), pl.lit(f"more than {cap} pairs for this prompt")))
        survivors = pl.concat([survivors.filter(~pl.col("_crowded")).select(columns + ["_row"]), ranked.filter(pl.col("_within_cap")).select(columns + ["_row"])])
    kept_lf = survivors.sort("_row").select(columns)
    drops_lf = pl.concat(dropped).sort("_row").drop("_row")
    kept, drops = pl.collect_all([kept_lf, drops_lf])
    return kept, drops


def origins(frame: pl.DataFrame) -> pl.Series:
    """The distinct native rows a table's `origin` column names (a multi-row pair names each of its rows)."""
    return frame["origin"].str.split(ORIGIN_SEP).explode().unique()


def mark_whole_rows(kept: pl.DataFrame, drops: pl.DataFrame) -> pl.DataFrame:
    """A native row none of whose pairs survived is still accounted for: its last drop counts as the whole row."""
    if drops.is_empty():
        return drops
    kept_rows = origins(kept).implode() if not kept.is_empty() else pl.Series([], dtype=pl.String).implode()
    per_row = (
        drops.with_row_index("_d")
        .select("_d", pl.col("origin").str.split(ORIGIN_SEP).alias("_o"))
        .explode("_o")
        .filter(~pl.col("_o").is_in(kept_rows))
        .group_by("_o")
        .agg(pl.col("_d").max())
    )
    last = per_row["_d"].unique().implode()
    return drops.with_row_index("_d").with_columns((pl.col("whole_row") | pl.col("_d").is_in(last)).alias("whole_row")).drop("_d")


def check_accounting(name: str, rows_in: int, kept: pl.DataFrame, drops: pl.DataFrame) -> None:
    """rows in = rows that produced a kept pair + rows dropped whole; a guard against any rule or adapter losing rows."""
    produced = set(origins(kept).to_list()) if not kept.is_empty() else set()
    whole_drops = drops.filter(pl.col("whole_row"))
    whole = (set(origins(whole_drops).to_list()) if not whole_drops.is_empty() else set()) - produced
    if len(produced) + len(whole) != rows_in:
        raise AssertionError(f"{name}: {rows_in} rows read but {len(produced)} kept + {len(whole)} dropped")
