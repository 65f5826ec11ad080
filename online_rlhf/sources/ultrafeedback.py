"""openbmb/UltraFeedback: 4 completions per instruction with GPT-4 ratings; the paper keeps every pair except
equal scores (optionally also small margins)."""

from __future__ import annotations

import itertools

from .common import Drop, Pair, RowError, require

DEFAULTS = {"score_field": "fine-grained_score", "min_margin": 0.0}


def adapt(data: dict, opts: dict):
    instruction = require(data, "instruction", str)
    if not instruction.strip():
        raise RowError("empty_turn", "instruction is empty")
    completions = require(data, "completions", list)
    field = opts["score_field"]
    scored = []
    for i, c in enumerate(completions):
        if not isinstance(c, dict) or not isinstance(c.get("response"), str):
            yield Drop("malformed_completion", f"completion {i} has no response string")
            continue
        score = c.get(field)
        if isinstance(score, str):
            try:
                score = float(score)
            except ValueError:
                score = None
        if not isinstance(score, (int, float)):
            yield Drop("missing_score", f"completion {i} has no numeric {field!r}")
            continue
        if not c["response"].strip():
            yield Drop("empty_turn", f"completion {i} response is empty")
            continue
        scored.append((i, c["response"], float(score), c.get("model")))
    if len(scored) < 2:
        raise RowError("too_few_completions", f"{len(scored)} usable completions, need 2")
    prompt = [{"role": "user", "content": instruction}]
    for (ia, a, sa, ma), (ib, b, sb, mb) in itertools.combinations(scored, 2):
        if sa == sb:
            yield Drop("equal_scores", f"completions {ia} and {ib} both scored {sa}")
            continue
        if abs(sa - sb) < opts["min_margin"]:
            yield Drop("small_margin", f"completions {ia} and {ib}: |{sa} - {sb}| < {opts['min_margin']}")
            continue
        if sa < sb:
            (ia, a, sa, ma), (ib, b, sb, mb) = (ib, b, sb, mb), (ia, a, sa, ma)
        if a == b:
            yield Drop("identical_responses", f"completions {ia} and {ib} are the same text")
            continue
        yield Pair(prompt, a, b, sa, sb, {"chosen_model": ma, "rejected_model": mb, "completions": [ia, ib]})
