"""Turn n scored responses per prompt into one preference pair (Algorithm 2 of the paper), counting every drop."""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter
from collections.abc import Iterable

import polars as pl

from online_rlhf.core.tables import CHAT
from online_rlhf.data.sources.common import pair_id

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

    Each response dict has `response`, `reward`, `sample_index`, `over_length`, `finish_reason` ("stop", or "length"
    when cut at max_new_tokens) and optionally `comparison_over_length` (the pairwise judge's). Drops cover whole
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


# Columns of an iteration's pairs table (results/iter{t}/pairs.parquet), in order.
PAIR_SCHEMA = {"id": str, "source": str, "origin": str, "prompt_id": str, "prompt": CHAT, "chosen": str, "rejected": str,
               "chosen_score": float, "rejected_score": float, "chosen_reward": float, "rejected_reward": float,
               "chosen_sample": int, "rejected_sample": int}
DROP_SCHEMA = {"prompt_id": str, "sample_index": int, "reason": str}


def prompt_groups(table) -> list[tuple[str, list[dict], list[dict]]]:
    """(prompt_id, prompt, its scored responses in sample order) per prompt of a rewards table, in prompt order."""
    groups = []
    for (pid,), g in table.sort("prompt_id", "sample_index").group_by("prompt_id", maintain_order=True):
        rows = g.to_dicts()
        groups.append((pid, rows[0]["prompt"], rows))
    return groups


def pair_rows(pairs: list[dict], iteration: int, origin: str) -> list[dict]:
    """build_pairs' pairs as rows of the canonical pair table (PAIR_SCHEMA), sourced iter<t>, origin <file>:<prompt>."""
    return [
        {
            "id": pair_id(r["prompt"], r["chosen"][0]["content"], r["rejected"][0]["content"]),
            "source": f"iter{iteration}",
            "origin": f"{origin}:{r['prompt_id']}",
            "prompt_id": r["prompt_id"],
            "prompt": r["prompt"],
            "chosen": r["chosen"][0]["content"],
            "rejected": r["rejected"][0]["content"],
            "chosen_score": r["chosen_score"],
            "rejected_score": r["rejected_score"],
            "chosen_reward": r["chosen_reward"],
            "rejected_reward": r["rejected_reward"],
            "chosen_sample": r["chosen_sample"],
            "rejected_sample": r["rejected_sample"],
        }
        for r in pairs
    ]


def _mean(values) -> float | None:
    values = list(values)
    return statistics.fmean(values) if values else None


def pair_stats(table, pairs: list[dict], drops: list[dict], iteration: int, rule: str, length_penalty: float) -> dict:
    """pair_stats.json of an iteration: what was scored (rewards table), what became pairs (pair_rows) and why the
    rest was dropped; means are None where there is nothing to average. Unscored responses (NaN: e.g. the pairwise
    judge's over-length comparisons) are counted in `dropped`, not averaged."""
    scored = table.filter(pl.col("reward").is_finite())
    return {
        "iteration": iteration,
        "rule": rule,
        "length_penalty": length_penalty,
        "prompts": table["prompt_id"].n_unique(),
        "responses": table.height,
        "pairs": len(pairs),
        "dropped": dict(sorted(Counter(d["reason"] for d in drops).items())),
        "mean_reward": _mean(scored["reward"].to_list()),
        "mean_top1_reward": _mean(scored.group_by("prompt_id").max()["reward"].to_list()),
        "mean_chosen_reward": _mean(r["chosen_reward"] for r in pairs),
        "mean_rejected_reward": _mean(r["rejected_reward"] for r in pairs),
        "mean_chosen_chars": _mean(len(r["chosen"]) for r in pairs),
        "mean_rejected_chars": _mean(len(r["rejected"]) for r in pairs),
        "mean_response_chars": _mean(len(x) for x in table["response"].to_list()),
        "mean_response_tokens": _mean(table["num_tokens"].to_list()),
        # "length" = cut at max_new_tokens: many of these mean the budget is too small for the task.
        "finish_reasons": dict(sorted(Counter(table["finish_reason"].to_list()).items())),
    }
