"""Held-out evaluation of a policy: mean judge reward (greedy and sampled), win rate against SFT, mean length."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict


def mean_or_nan(values) -> float:
    values = list(values)
    return statistics.fmean(values) if values else math.nan


def win_rate(ours: dict[str, float], theirs: dict[str, float]) -> dict:
    """Per-prompt comparison of two policies' rewards on the same prompts; a tie counts half (as in AlpacaEval)."""
    common = sorted(set(ours) & set(theirs))
    if not common:
        return {"win_rate": math.nan, "wins": 0, "ties": 0, "losses": 0, "prompts": 0}
    wins = sum(ours[k] > theirs[k] for k in common)
    ties = sum(ours[k] == theirs[k] for k in common)
    return {
        "win_rate": (wins + 0.5 * ties) / len(common),
        "wins": wins,
        "ties": ties,
        "losses": len(common) - wins - ties,
        "prompts": len(common),
    }


def summarise(rows: list[dict], baseline_rows: list[dict] | None, exact: bool = False) -> dict:
    """Metrics per decoding mode. `rows` have prompt_id, temperature, response, reward (and num_tokens).

    Sampled modes average the n samples of a prompt before comparing prompts, so win rate is per prompt.
    `exact` adds the share of perfect answers (reward 1.0), meaningful for the oracle judge only.
    """
    out: dict[str, dict] = {}
    modes = sorted({r["temperature"] for r in rows})
    for temp in modes:
        mode = "greedy" if temp == 0 else f"t{temp:g}"
        mine = [r for r in rows if r["temperature"] == temp]
        per_prompt: dict[str, list[float]] = defaultdict(list)
        for r in mine:
            per_prompt[r["prompt_id"]].append(r["reward"])
        means = {k: statistics.fmean(v) for k, v in per_prompt.items()}
        m = {
            "responses": len(mine),
            "prompts": len(per_prompt),
            "mean_reward": mean_or_nan(r["reward"] for r in mine),
            "stderr_reward": (statistics.stdev(means.values()) / math.sqrt(len(means))) if len(means) > 1 else math.nan,
            "mean_length_chars": mean_or_nan(len(r["response"]) for r in mine),
            "mean_length_tokens": mean_or_nan(r["num_tokens"] for r in mine),
        }
        if exact:
            m["exact_rate"] = mean_or_nan(r["reward"] == 1.0 for r in mine)
        if baseline_rows is not None:
            base: dict[str, list[float]] = defaultdict(list)
            for r in baseline_rows:
                if r["temperature"] == temp:
                    base[r["prompt_id"]].append(r["reward"])
            m["vs_sft"] = win_rate(means, {k: statistics.fmean(v) for k, v in base.items()})
        out[mode] = m
    return out
