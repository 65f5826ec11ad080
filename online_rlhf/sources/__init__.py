"""Source adapters: each native dataset schema to the canonical tables, with every dropped row kept and explained.

Canonical pair row: id (content hash), source, origin (file:line), prompt (list of {role, content}), chosen, rejected
(assistant replies), chosen_score, rejected_score (nullable: higher is better), meta (JSON of source extras).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from ..records import Malformed, Record
from . import hh_rlhf, nectar, shp, ultrafeedback
from .common import Drop, RowError, check_messages, pair_id, prompt_id

PAIR_ADAPTERS = {"hh_rlhf": hh_rlhf, "ultrafeedback": ultrafeedback, "shp": shp, "nectar": nectar}
KIND = {**{f: "pairs" for f in PAIR_ADAPTERS}, "messages": "sft", "prompts": "prompts"}


@dataclass
class Converted:
    rows: list[dict]
    drops: list[dict]
    rows_in: int

    def check_accounting(self, name: str) -> None:
        """rows in = rows that produced output + rows dropped whole; a guard against adapters losing rows."""
        produced = len({r["origin"] for r in self.rows})
        whole = len({d["origin"] for d in self.drops if d["whole_row"]} - {r["origin"] for r in self.rows})
        if produced + whole != self.rows_in:
            raise AssertionError(f"{name}: {self.rows_in} rows read but {produced} kept + {whole} dropped")

    def summary(self) -> dict:
        return {
            "rows_in": self.rows_in,
            "rows_out": len(self.rows),
            "dropped": dict(sorted(Counter(d["reason"] for d in self.drops).items())),
        }


def _drop(source: str, origin: str, reason: str, detail: str, raw, whole_row: bool) -> dict:
    raw_text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False, default=str)
    return {"source": source, "origin": origin, "reason": reason, "detail": detail, "whole_row": whole_row, "raw": raw_text}


def adapter_options(fmt: str, overrides: dict | None) -> dict:
    defaults = dict(PAIR_ADAPTERS[fmt].DEFAULTS)
    unknown = set(overrides or {}) - set(defaults)
    if unknown:
        raise ValueError(f"format {fmt!r} has no option(s) {sorted(unknown)}; allowed: {sorted(defaults) or 'none'}")
    return defaults | (overrides or {})


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


def _mark_whole_rows(rows: list[dict], drops: list[dict]) -> None:
    """A row none of whose pairs survived (deduplicated, capped) is still accounted for: its last drop counts for it."""
    kept = {r["origin"] for r in rows}
    last: dict[str, dict] = {}
    for d in drops:
        last[d["origin"]] = d
    for origin, d in last.items():
        if origin not in kept:
            d["whole_row"] = True


def convert_pairs(records: Iterable[Record | Malformed], fmt: str, source: str, options: dict | None = None) -> Converted:
    """Run the format's adapter over every record; then drop exact duplicates and apply per-prompt caps."""
    if fmt not in PAIR_ADAPTERS:
        raise ValueError(f"unknown preference format {fmt!r}; expected one of {sorted(PAIR_ADAPTERS)}")
    adapter, opts = PAIR_ADAPTERS[fmt], adapter_options(fmt, options)
    seen: set[str] = set()

    def convert_one(rec: Record):
        for item in adapter.adapt(rec.data, opts):
            if isinstance(item, Drop):
                yield item
                continue
            pid = pair_id(item.prompt, item.chosen, item.rejected)
            if pid in seen:
                yield Drop("duplicate", f"same prompt, chosen and rejected as pair {pid}")
                continue
            seen.add(pid)
            yield {
                "id": pid,
                "prompt_id": prompt_id(item.prompt),
                "prompt": item.prompt,
                "chosen": item.chosen,
                "rejected": item.rejected,
                "chosen_score": item.chosen_score,
                "rejected_score": item.rejected_score,
                "meta": json.dumps(item.meta, ensure_ascii=False, sort_keys=True, default=str),
            }

    rows, drops, n_in = _convert(records, source, convert_one)
    cap = opts.get("max_pairs_per_prompt")
    if cap:
        rows, capped = cap_per_prompt(rows, cap)
        drops += [_drop(source, r["origin"], "per_prompt_cap", f"more than {cap} pairs for this prompt", r["meta"], False) for r in capped]
    _mark_whole_rows(rows, drops)
    out = Converted(rows, drops, n_in)
    out.check_accounting(source)
    return out


def cap_per_prompt(rows: list[dict], cap: int) -> tuple[list[dict], list[dict]]:
    """Keep at most `cap` pairs per prompt, the most decisive first (largest score ratio/margin, then id)."""
    def strength(r):
        s_c, s_r = r["chosen_score"], r["rejected_score"]
        if s_c is None or s_r is None:
            return 0.0
        return s_c / s_r if s_r > 0 else float("inf")

    by_prompt: dict[str, list[dict]] = {}
    for r in rows:
        by_prompt.setdefault(r["prompt_id"], []).append(r)
    keep_ids = set()
    for group in by_prompt.values():
        group.sort(key=lambda r: (-strength(r), r["id"]))
        keep_ids.update(r["id"] for r in group[:cap])
    return [r for r in rows if r["id"] in keep_ids], [r for r in rows if r["id"] not in keep_ids]


def convert_messages(records: Iterable[Record | Malformed], source: str, field: str = "messages") -> Converted:
    """SFT conversations: a valid chat ending in an assistant turn."""

    def convert_one(rec: Record):
        if field not in rec.data:
            raise RowError("missing_field", f"field {field!r} is missing")
        messages = check_messages(rec.data[field], field, last_role="assistant")
        yield {"id": prompt_id(messages), "messages": messages}

    out = Converted(*_convert(records, source, convert_one))
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

    out = Converted(*_convert(records, source, convert_one))
    out.check_accounting(source)
    return out
