"""nvidia/HelpSteer: one response per row with five 0-4 attribute scores; several rows share a prompt. Pairs are formed
per prompt from every two responses, the higher score chosen; equal and small margins are dropped by the cleaning
rules (`min_margin`). The score is a weighted sum of attributes (`score_weights`, default helpfulness alone)."""

from __future__ import annotations

from online_rlhf.data.sources.common import Drop, RowError, number, require, scored_pairs, user_prompt

ATTRIBUTES = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")
DEFAULTS = {"score_weights": {"helpfulness": 1.0}}
CLEANING = {"min_margin": 1.0}
COMPLETION, ANNOTATOR = "LLM (Nemotron 43B)", "human"


def adapt(data: dict, opts: dict):
    weights = opts["score_weights"]
    unknown = set(weights) - set(ATTRIBUTES)
    if unknown:
        raise ValueError(f"helpsteer score_weights: unknown attribute(s) {sorted(unknown)}; expected some of {ATTRIBUTES}")
    prompt = require(data, "prompt", str)
    response = require(data, "response", str)
    scores = {a: number(data, a) for a in ATTRIBUTES}
    if not all(0 <= s <= 4 for s in scores.values()):
        raise RowError("wrong_type", f"attribute scores should lie in 0..4, got {scores}")
    yield {"prompt": prompt, "response": response, "score": sum(w * scores[a] for a, w in weights.items()), "attributes": scores}


def pairs_from_rows(rows: list[dict], opts: dict):
    """(origins, Pair | Drop) for every two responses to the same prompt, in order of first appearance."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["prompt"], []).append(r)
    for text, group in groups.items():
        if len(group) < 2:
            yield [group[0]["origin"]], Drop("single_response", "no other response to this prompt to pair with")
            continue
        scored = [(i, r["response"], r["score"], None) for i, r in enumerate(group)]
        for pair in scored_pairs(user_prompt(text, "prompt"), scored):
            ic, ir = pair.meta.pop("completions")
            pair.meta = {"chosen_attributes": group[ic]["attributes"], "rejected_attributes": group[ir]["attributes"]}
            yield [group[ic]["origin"], group[ir]["origin"]], pair
