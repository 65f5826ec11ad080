"""Turn n scored responses per prompt into one preference pair (Algorithm 2 of the paper), counting every drop."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable

PAIR_RULES = ("best_worst", "best_random", "random")
# Prompt-level drops because every reply that could be chosen was truncated (finish_reason "length").
NO_COMPLETE = ("no_complete_response", "no_complete_response_above_the_worst")


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


def select_pair(
    candidates: list[tuple[int, float]], rule: str, rng: random.Random, choosable: set[int] | None = None
) -> tuple[int, int] | str:
    """Indices (chosen, rejected) among (index, reward) candidates, or the reason no pair exists.

    best_worst: max vs min (the paper). best_random: max vs a random strictly worse one. random: two random distinct
    responses, the better chosen. Equal rewards are a tie: the prompt is dropped, as in the paper. Only indices in
    `choosable` (default: all) may be chosen: a truncated response can still be the rejected one, never the chosen
    one (the chat template ends the chosen reply with EOS, which would teach stopping mid-answer).
    """
    if rule not in PAIR_RULES:
        raise ValueError(f"unknown pair rule {rule!r}; expected one of {PAIR_RULES}")
    if len(candidates) < 2:
        return "fewer_than_two_usable"
    # Stable ordering: highest reward first, then lowest sample index, so ties among the best break the same way.
    ranked = sorted(candidates, key=lambda c: (-c[1], c[0]))
    eligible = [c for c in ranked if choosable is None or c[0] in choosable]
    if not eligible:
        return "no_complete_response"
    if rule == "random":
        a, b = rng.sample(ranked, 2)
        if a[1] == b[1]:
            return "tie"
        better, worse = (a, b) if a[1] > b[1] else (b, a)
        if better not in eligible:
            return "truncated_would_be_chosen"
        return better[0], worse[0]
    best, worst = eligible[0], ranked[-1]
    if best[1] == worst[1]:
        return "tie" if ranked[0][1] == best[1] else "no_complete_response_above_the_worst"
    if rule == "best_worst":
        return best[0], worst[0]
    lower = [c for c in ranked if c[1] < best[1]]
    return best[0], rng.choice(lower)[0]


def build_pairs(
    groups: Iterable[tuple[str, list[dict], list[dict]]], rule: str, length_penalty: float, seed: int
) -> tuple[list[dict], list[dict]]:
    """For each (prompt_id, prompt, responses) build a pair; returns (pairs, drops) with a reason for every drop.

    Each response dict has `response`, `reward`, `sample_index`, `over_length`, optionally `comparison_over_length`
    (the pairwise judge's), and `finish_reason` ("stop", or "length" when cut at max_new_tokens). Drops cover whole
    prompts (tie, too few usable responses, no complete response to choose) and single responses: excluded before
    selection (empty, unscored comparison, non-finite reward, over length), or truncated and ranked above the chosen
    reply (`truncated_not_chosen`: it would have been chosen).
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
        complete = {i for i, _ in candidates if responses[i]["finish_reason"] != "length"}
        chosen = select_pair(candidates, rule, rng, complete)
        scores = dict(candidates)
        passed_over = chosen in NO_COMPLETE or not isinstance(chosen, str)
        if rule != "random" and passed_over:
            # Truncated replies that outrank the reply chosen in their place (or every complete reply) are counted.
            bar = scores[chosen[0]] if not isinstance(chosen, str) else None
            for i, score in candidates:
                if i not in complete and (bar is None or score > bar or (score == bar and i < chosen[0])):
                    drops.append({"prompt_id": prompt_id, "sample_index": responses[i]["sample_index"], "reason": "truncated_not_chosen"})
        if isinstance(chosen, str):
            drops.append({"prompt_id": prompt_id, "sample_index": None, "reason": chosen})
            continue
        c, j = responses[chosen[0]], responses[chosen[1]]
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
