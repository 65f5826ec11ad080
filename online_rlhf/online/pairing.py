"""Turn n scored responses per prompt into one preference pair (Algorithm 2 of the paper), counting every drop."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable

PAIR_RULES = ("best_worst", "best_random", "random")


def penalised(reward: float, response: str, length_penalty: float) -> float:
    """r~ = r - lambda * |a|, |a| in characters (the paper's concise-model ablation, lambda = 0.001)."""
    return reward - length_penalty * len(response)


def usable(reward: float, response: str, over_length: bool = False, comparison_over_length: bool = False) -> str | None:
    """Why a response cannot enter a pair, or None. Stated rule: empty replies, responses the pairwise judge could
    not score because their comparison exceeded its max_length, non-finite rewards and responses whose judged
    conversation exceeded the judge's max_length (scored from a truncated text) are excluded."""
    if not response.strip():
        return "empty_response"
    if comparison_over_length:
        return "comparison_over_judge_max_length"
    if not math.isfinite(reward):
        return "non_finite_reward"
    if over_length:
        return "over_max_length"
    return None


def select_pair(candidates: list[tuple[int, float]], rule: str, rng: random.Random) -> tuple[int, int] | str:
    """Indices (chosen, rejected) among (index, reward) candidates, or the reason no pair exists.

    best_worst: max vs min (the paper). best_random: max vs a random strictly worse one. random: two random distinct
    responses, the better chosen. Equal rewards are a tie: the prompt is dropped, as in the paper.
    """
    if rule not in PAIR_RULES:
        raise ValueError(f"unknown pair rule {rule!r}; expected one of {PAIR_RULES}")
    if len(candidates) < 2:
        return "fewer_than_two_usable"
    # Stable ordering: highest reward first, then lowest sample index, so ties among the best break the same way.
    ranked = sorted(candidates, key=lambda c: (-c[1], c[0]))
    best, worst = ranked[0], ranked[-1]
    if best[1] == worst[1]:
        return "tie"
    if rule == "best_worst":
        return best[0], worst[0]
    if rule == "best_random":
        lower = [c for c in ranked if c[1] < best[1]]
        return best[0], rng.choice(lower)[0]
    a, b = rng.sample(ranked, 2)
    if a[1] == b[1]:
        return "tie"
    return (a[0], b[0]) if a[1] > b[1] else (b[0], a[0])


def build_pairs(
    groups: Iterable[tuple[str, list[dict], list[dict]]], rule: str, length_penalty: float, seed: int
) -> tuple[list[dict], list[dict]]:
    """For each (prompt_id, prompt, responses) build a pair; returns (pairs, drops) with a reason for every drop.

    Each response dict has `response`, `reward`, `sample_index`, `over_length` and optionally `comparison_over_length`
    (the pairwise judge's). Drops cover whole prompts (tie, too few usable responses) and single responses excluded
    before selection (empty, unscored comparison, non-finite reward, over length).
    """
    rng = random.Random(seed)
    pairs: list[dict] = []
    drops: list[dict] = []
    for prompt_id, prompt, responses in groups:
        candidates = []
        for i, r in enumerate(responses):
            why = usable(r["reward"], r["response"], r["over_length"], r.get("comparison_over_length", False))
            if why:
                drops.append({"prompt_id": prompt_id, "sample_index": r["sample_index"], "reason": why})
            else:
                candidates.append((i, penalised(r["reward"], r["response"], length_penalty)))
        chosen = select_pair(candidates, rule, rng)
        if isinstance(chosen, str):
            drops.append({"prompt_id": prompt_id, "sample_index": None, "reason": chosen})
            continue
        c, j = responses[chosen[0]], responses[chosen[1]]
        scores = dict(candidates)
        pairs.append(
            {
                "prompt_id": prompt_id,
                "prompt": prompt,
                "chosen": [{"role": "assistant", "content": c["response"]}],
                "rejected": [{"role": "assistant", "content": j["response"]}],
                "chosen_reward": c["reward"],
                "rejected_reward": j["reward"],
                "chosen_score": scores[chosen[0]],
                "rejected_score": scores[chosen[1]],
                "chosen_sample": c["sample_index"],
                "rejected_sample": j["sample_index"],
            }
        )
    return pairs, drops
