"""coseal/CodeUltraFeedback: a coding instruction, responses of several models (`responses`: [{model, response}]) and
GPT-3.5 ratings of each (`annotations`: [{model, rating, rationale}], ratings as strings). Every pair of rated responses,
the higher rating chosen; equal ratings are dropped by the cleaning rules."""

from __future__ import annotations

from online_rlhf.data.sources.common import Drop, RowError, require, scored_pairs, user_prompt

DEFAULTS: dict = {}
COMPLETION, ANNOTATOR = "LLM (14 models)", "GPT-3.5"


def adapt(data: dict, opts: dict):
    prompt = user_prompt(require(data, "instruction", str), "instruction")
    ratings: dict = {}
    for i, a in enumerate(require(data, "annotations", list)):
        if not isinstance(a, dict) or not isinstance(a.get("model"), str):
            yield Drop("malformed_completion", f"annotation {i} has no model name")
            continue
        try:
            ratings[a["model"]] = float(a.get("rating"))
        except (TypeError, ValueError):
            yield Drop("missing_score", f"annotation {i} ({a['model']}) has no numeric rating: {a.get('rating')!r}")
    scored = []
    for i, r in enumerate(require(data, "responses", list)):
        if not isinstance(r, dict) or not isinstance(r.get("response"), str):
            yield Drop("malformed_completion", f"response {i} has no response string")
        elif r.get("model") not in ratings:
            yield Drop("missing_score", f"response {i} ({r.get('model')}) has no rating")
        else:
            scored.append((i, r["response"], ratings[r["model"]], r["model"]))
    if len(scored) < 2:
        raise RowError("too_few_completions", f"{len(scored)} rated responses, need 2")
    yield from scored_pairs(prompt, scored)
