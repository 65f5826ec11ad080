"""Source adapters: each native dataset schema to the canonical tables, with every dropped row kept and explained.

Canonical pair row: id (content hash), source, origin (file:line; a pair built from several rows names each, joined by
" & "), prompt (list of {role, content}), chosen, rejected (assistant replies), chosen_score, rejected_score (nullable:
higher is better), meta (JSON of source extras).

Preference data flows: native rows -> `<format>.adapt` (per row: parsing, shape errors, pair formation) -> candidate
pairs -> `cleaning.clean_pairs` (the paper's rules as polars expressions over all candidates) -> kept + drops.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import polars as pl

from online_rlhf.core.records import Malformed, Record
from online_rlhf.core.tables import CHAT
from online_rlhf.data.sources import (
    argilla_math,
    codeultrafeedback,
    distilabel_capybara,
    distilabel_orca,
    helpsteer,
    hh_rlhf,
    nectar,
    pku_saferlhf,
    shp,
    tldr,
    ultrafeedback,
    ultrainteract,
)
from online_rlhf.data.sources.cleaning import (
    CANDIDATE_SCHEMA,
    CLEANING_DEFAULTS,
    DROP_SCHEMA,
    ORIGIN_SEP,
    check_accounting,
    clean_pairs,
    mark_whole_rows,
)
from online_rlhf.data.sources.common import Drop, Pair, RowError, check_messages, pair_id, prompt_id

PAIR_ADAPTERS = {
    "hh_rlhf": hh_rlhf,
    "shp": shp,
    "helpsteer": helpsteer,
    "pku_saferlhf": pku_saferlhf,
    "ultrafeedback": ultrafeedback,
    "ultrainteract": ultrainteract,
    "codeultrafeedback": codeultrafeedback,
    "argilla_math": argilla_math,
    "distilabel_orca": distilabel_orca,
    "distilabel_capybara": distilabel_capybara,
    "tldr": tldr,
    "nectar": nectar,
}
KIND = {**{f: "pairs" for f in PAIR_ADAPTERS}, "messages": "sft", "gsm8k": "sft", "prompts": "prompts"}

SCHEMAS = {
    "pairs": CANDIDATE_SCHEMA,
    "sft": {"id": pl.String, "source": pl.String, "origin": pl.String, "messages": CHAT},
    "prompts": {"prompt_id": pl.String, "source": pl.String, "origin": pl.String, "prompt": CHAT},
}


@dataclass
class Converted:
    table: pl.DataFrame
    drops: pl.DataFrame
    rows_in: int
    options: dict = field(default_factory=dict)

    @property
    def rows(self) -> list[dict]:
        return self.table.to_dicts()

    @property
    def drop_rows(self) -> list[dict]:
        return self.drops.to_dicts()

    def check_accounting(self, name: str) -> None:
        check_accounting(name, self.rows_in, self.table, self.drops)

    def summary(self) -> dict:
        reasons = self.drops.group_by("reason").len().sort("reason").rows() if self.drops.height else []
        return {"rows_in": self.rows_in, "rows_out": self.table.height, "dropped": dict(reasons), "options": self.options}


def _drop(source: str, origin: str, reason: str, detail: str, raw, whole_row: bool) -> dict:
    raw_text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False, default=str)
    return {"source": source, "origin": origin, "reason": reason, "detail": detail, "whole_row": whole_row, "raw": raw_text}


def adapter_options(fmt: str, overrides: dict | None) -> tuple[dict, dict]:
    """(parsing options, cleaning options) of a format: library defaults < the format's < the config's."""
    adapter = PAIR_ADAPTERS[fmt]
    parsing, cleaning = dict(adapter.DEFAULTS), CLEANING_DEFAULTS | getattr(adapter, "CLEANING", {})
    unknown = set(overrides or {}) - set(parsing) - set(cleaning)
    if unknown:
        raise ValueError(f"format {fmt!r} has no option(s) {sorted(unknown)}; allowed: {sorted(set(parsing) | set(cleaning))}")
    for key, value in (overrides or {}).items():
        (parsing if key in parsing else cleaning)[key] = value
    return parsing, cleaning


def _convert(records: Iterable[Record | Malformed], source: str, convert_one) -> tuple[list[dict], list[dict], int]:
    """The loop every format shares: malformed lines and RowErrors become whole-row drops, `Drop` items that
    `convert_one(record)` yields become partial drops, and everything else it yields is a kept row."""
    rows, drops, n_in = [], [], 0
    for rec in records:
        n_in += 1
        if isinstance(rec, Malformed):
            drops.append(_drop(source, rec.origin, "malformed_json", rec.error, rec.raw, True))
            continue
        try:
            for item in convert_one(rec):
                if isinstance(item, Drop):
                    drops.append(_drop(source, rec.origin, item.reason, item.detail, rec.data, False))
                else:
                    rows.append({"source": source, "origin": rec.origin, **item})
        except RowError as err:
            drops.append(_drop(source, rec.origin, err.reason, err.detail, rec.data, True))
    return rows, drops, n_in


def candidate(pair: Pair) -> dict:
    """A pair in the canonical schema, before cleaning (id: content hash, so duplicates are found across files)."""
    return {
        "id": pair_id(pair.prompt, pair.chosen, pair.rejected),
        "prompt_id": prompt_id(pair.prompt),
        "prompt": pair.prompt,
        "chosen": pair.chosen,
        "rejected": pair.rejected,
        "chosen_score": pair.chosen_score,
        "rejected_score": pair.rejected_score,
        "meta": json.dumps(pair.meta, ensure_ascii=False, sort_keys=True, default=str),
    }


def _frame(rows: list[dict], schema: dict) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema)


def convert_pairs(records: Iterable[Record | Malformed], fmt: str, source: str, options: dict | None = None) -> Converted:
    """Native rows -> candidate pairs (the format's adapter, row by row) -> the cleaning rules (polars, all candidates
    at once). Every native row ends up kept (in some pair) or in the drops with file:line and reason; checked."""
    if fmt not in PAIR_ADAPTERS:
        raise ValueError(f"unknown preference format {fmt!r}; expected one of {sorted(PAIR_ADAPTERS)}")
    adapter = PAIR_ADAPTERS[fmt]
    parsing, cleaning = adapter_options(fmt, options)
    grouped = hasattr(adapter, "pairs_from_rows")

    def convert_one(rec: Record):
        for item in adapter.adapt(rec.data, parsing):
            yield item if isinstance(item, Drop) or grouped else candidate(item)

    rows, drops, n_in = _convert(records, source, convert_one)
    if grouped:
        # Formats that score single responses (HelpSteer) pair them up across rows once all rows are read.
        parsed, rows = rows, []
        for origins, item in adapter.pairs_from_rows(parsed, parsing):
            origin = ORIGIN_SEP.join(origins)
            if isinstance(item, Drop):
                drops.append(_drop(source, origin, item.reason, item.detail, "", False))
            else:
                rows.append({"source": source, "origin": origin, **candidate(item)})
    kept, cleaning_drops = clean_pairs(_frame(rows, CANDIDATE_SCHEMA), cleaning)
    all_drops = mark_whole_rows(kept, pl.concat([_frame(drops, DROP_SCHEMA), cleaning_drops]))
    out = Converted(kept, all_drops, n_in, {"parsing": parsing, "cleaning": cleaning})
    out.check_accounting(source)
    return out


def convert_messages(records: Iterable[Record | Malformed], source: str, field: str = "messages") -> Converted:
    """SFT conversations: a valid chat ending in an assistant turn."""

    def convert_one(rec: Record):
        if field not in rec.data:
            raise RowError("missing_field", f"field {field!r} is missing")
        messages = check_messages(rec.data[field], field, last_role="assistant")
        yield {"id": prompt_id(messages), "messages": messages}

    rows, drops, n_in = _convert(records, source, convert_one)
    out = Converted(_frame(rows, SCHEMAS["sft"]), _frame(drops, DROP_SCHEMA), n_in)
    out.check_accounting(source)
    return out


def convert_gsm8k(records: Iterable[Record | Malformed], source: str) -> Converted:
    """GSM8K's native rows (`question`, `answer` = worked solution ending in `#### N`) as SFT conversations: the
    question as the user turn, the solution unchanged as the assistant turn (so the policy learns the `#### N` form
    that GSM8K's strict-match scoring reads)."""

    def convert_one(rec: Record):
        for key in ("question", "answer"):
            if not isinstance(rec.data.get(key), str) or not rec.data[key].strip():
                raise RowError("missing_field", f"field {key!r} is missing or empty")
        if "#### " not in rec.data["answer"]:
            raise RowError("no_final_answer", "answer has no '#### N' line")
        messages = [{"role": "user", "content": rec.data["question"]}, {"role": "assistant", "content": rec.data["answer"]}]
        yield {"id": prompt_id(messages), "messages": messages}

    rows, drops, n_in = _convert(records, source, convert_one)
    out = Converted(_frame(rows, SCHEMAS["sft"]), _frame(drops, DROP_SCHEMA), n_in)
    out.check_accounting(source)
    return out


def convert_prompts(records: Iterable[Record | Malformed], source: str, field: str = "context_messages") -> Converted:
    """Prompt sets: a chat ending in a user turn (a plain string is taken as one user turn). Duplicates dropped."""
    seen: set[str] = set()

    def convert_one(rec: Record):
        value = rec.data.get(field)
        if value is None:
            raise RowError("missing_field", f"field {field!r} is missing")
        if isinstance(value, str):
            value = [{"role": "user", "content": value}]
        prompt = check_messages(value, field, last_role="user")
        pid = prompt_id(prompt)
        if pid in seen:
            raise RowError("duplicate", f"prompt {pid} already seen")
        seen.add(pid)
        yield {"prompt_id": pid, "prompt": prompt}

    rows, drops, n_in = _convert(records, source, convert_one)
    out = Converted(_frame(rows, SCHEMAS["prompts"]), _frame(drops, DROP_SCHEMA), n_in)
    out.check_accounting(source)
    return out
