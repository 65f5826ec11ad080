"""openbmb/UltraFeedback: 4 completions per instruction with GPT-4 ratings; the paper keeps every pair except equal
scores (cleaning: equal_scores; `min_margin` drops small margins too)."""

from __future__ import annotations

from online_rlhf.data.sources.common import Drop, RowError, require, scored_pairs, user_prompt

DEFAULTS = {"score_field": "fine-grained_score"}
COMPLETION, ANNOTATOR = "LLM (17 models)", "GPT-4"


def adapt(data: dict, opts: dict):
    prompt = user_prompt(require(data, "instruction", str), "instruction")
    field = opts["score_field"]
    scored = []
    for i, c in enumerate(require(data, "completions", list)):
        if not isinstance(c, dict) or not isinstance(c.get("response"), str):
            yield Drop("malformed_completion", f"completion {i} has no response string")
            continue
        score = c.get(field)
        if isinstance(score, str):
            try:
                score = float(score)
            except ValueError:
                score = None
        if not isinstance(score, (int, float)) or isinstance(score, bool):
            yield Drop("missing_score", f"completion {i} has no numeric {field!r}")
            continue
        scored.append((i, c["response"], float(score), c.get("model")))
    if len(scored) < 2:
        raise RowError("too_few_completions", f"{len(scored)} usable completions, need 2")
    yield from scored_pairs(prompt, scored)
