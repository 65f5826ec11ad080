"""Table 5 of the paper for any mixture: per source #prompts, #pairs, mean prompt / chosen / rejected length in tokens
of the policy tokenizer, and what produced the completions and the labels.

Lengths count the tokens of the message contents (every context turn for the prompt, the reply for chosen and
rejected) without chat-template markup, so they do not depend on the template and match the paper's definition of
length as the text itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import polars as pl

from online_rlhf.data.sources import PAIR_ADAPTERS

COLUMNS = ("source", "pairs", "prompts", "mean_prompt_tokens", "mean_chosen_tokens", "mean_rejected_tokens", "completion", "annotator", "data")


def token_counts(texts: Sequence[str], encode: Callable[[list[str]], list[list[int]]], batch: int = 4096) -> list[int]:
    """Token count of each text, encoded in batches (fast tokenizers encode a batch in parallel)."""
    counts: list[int] = []
    for start in range(0, len(texts), batch):
        counts.extend(len(ids) for ids in encode(list(texts[start : start + batch])))
    return counts


def with_token_lengths(pairs: pl.DataFrame, encode: Callable[[list[str]], list[list[int]]]) -> pl.DataFrame:
    """The pairs with prompt_tokens, chosen_tokens and rejected_tokens columns."""
    turns = pairs.select(pl.int_range(pl.len()).alias("_pair"), pl.col("prompt")).explode("prompt")
    turns = turns.with_columns(pl.col("prompt").struct.field("content").fill_null("").alias("_text"))
    turns = turns.with_columns(pl.Series("_tokens", token_counts(turns["_text"].to_list(), encode), dtype=pl.Int64))
    prompt_tokens = turns.group_by("_pair").agg(pl.col("_tokens").sum()).sort("_pair")["_tokens"]
    return pairs.with_columns(
        prompt_tokens=prompt_tokens,
        chosen_tokens=pl.Series(token_counts(pairs["chosen"].to_list(), encode), dtype=pl.Int64),
        rejected_tokens=pl.Series(token_counts(pairs["rejected"].to_list(), encode), dtype=pl.Int64),
    )


def _row(name: str, frame: pl.DataFrame, completion: str, annotator: str, data: str) -> dict:
    def mean(col: str) -> float | None:
        return round(float(frame[col].mean()), 1) if frame.height else None

    return {
        "source": name,
        "pairs": frame.height,
        "prompts": frame["prompt_id"].n_unique(),
        "mean_prompt_tokens": mean("prompt_tokens"),
        "mean_chosen_tokens": mean("chosen_tokens"),
        "mean_rejected_tokens": mean("rejected_tokens"),
        "completion": completion,
        "annotator": annotator,
        "data": data,
    }


def mixture_statistics(mixture: str, pairs: pl.DataFrame, datasets: dict[str, dict], encode, tokenizer: str) -> dict:
    """Table 5 of one mixture. `datasets` maps each source name in the table to its config entry (format, source)."""
    measured = with_token_lengths(pairs, encode)
    rows = []
    for name in sorted(measured["source"].unique().to_list()):
        spec = datasets[name]
        adapter = PAIR_ADAPTERS[spec["format"]]
        data = {"synthetic": "made-up world", "hub": f"{spec.get('repo')}@{spec.get('revision')}", "local": spec.get("path", "")}[spec["source"]]
        rows.append(_row(name, measured.filter(pl.col("source") == name), adapter.COMPLETION, adapter.ANNOTATOR, data))
    total = _row("total", measured, "", "", "")
    return {
        "mixture": mixture,
        "tokenizer": tokenizer,
        "length_unit": "tokens of the policy tokenizer, message contents without chat-template markup",
        "columns": list(COLUMNS),
        "sources": rows,
        "total": total,
    }


def render_markdown(stats: dict) -> str:
    """The statistics as a markdown table in the layout of the paper's Table 5."""
    head = "| source | #prompts | #pairs | mean prompt | mean chosen | mean rejected | completion | annotator | data |"
    lines = [f"### Mixture `{stats['mixture']}`", "", f"Lengths: {stats['length_unit']} (`{stats['tokenizer']}`).", "", head, "|" + "---|" * 9]
    for r in stats["sources"] + [stats["total"]]:
        name = f"**{r['source']}**" if r["source"] == "total" else r["source"]
        cells = [name, f"{r['prompts']:,}", f"{r['pairs']:,}", r["mean_prompt_tokens"], r["mean_chosen_tokens"], r["mean_rejected_tokens"], r["completion"], r["annotator"], r["data"]]
        lines.append("| " + " | ".join("" if c is None else str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"
