"""Held-out evaluation of a policy: mean judge reward (greedy and sampled), win rate against SFT, mean length."""

from __future__ import annotations

import itertools
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


def prompt_means(rows: list[dict]) -> dict[str, dict[str, float]]:
    """{decoding mode: {prompt_id: mean reward of that prompt's samples}} (the unit the paired tests compare)."""
    per: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        mode = "greedy" if r["temperature"] == 0 else f"t{r['temperature']:g}"
        per[mode][r["prompt_id"]].append(r["reward"])
    return {mode: {k: statistics.fmean(v) for k, v in prompts.items()} for mode, prompts in per.items()}


def paired_difference(ours: dict[str, float], theirs: dict[str, float]) -> dict:
    """Mean of ours - theirs over the prompts both answered, its standard error (paired over prompts) and z."""
    common = sorted(set(ours) & set(theirs))
    if len(common) < 2:
        raise ValueError(f"a paired difference needs at least 2 shared prompts, got {len(common)}")
    diffs = [ours[k] - theirs[k] for k in common]
    mean, se = statistics.fmean(diffs), statistics.stdev(diffs) / math.sqrt(len(diffs))
    return {"diff": mean, "stderr": se, "z": mean / se if se > 0 else (math.inf if mean > 0 else -math.inf if mean < 0 else 0.0), "prompts": len(common)}


def ordering_chain(per_model: dict[str, dict[str, dict[str, float]]], chain: list[str], z: float = 2.0) -> dict:
    """Test the paper's claim chain[0] < chain[1] < ... (SFT < offline DPO < iter1 < ... < iterT) per decoding mode.

    `per_model`: {model: prompt_means(...)}. Each model's mean reward with its standard error over prompts, and each
    adjacent step's paired difference (same prompts, same sampling seed) with its standard error. A step *holds* when
    the later model's mean is higher, and holds *significantly* when the difference exceeds z standard errors; the
    chain holds (significantly) when every step does. Reported as facts, never asserted.
    """
    missing = [m for m in chain if m not in per_model]
    if missing:
        raise ValueError(f"ordering check: no held-out samples for {missing}; have {sorted(per_model)}")
    modes = sorted(set.intersection(*(set(per_model[m]) for m in chain)), key=lambda m: m != "greedy")
    out = {"chain": chain, "z": z, "modes": {}}
    for mode in modes:
        models = []
        for m in chain:
            values = list(per_model[m][mode].values())
            models.append({"model": m, "mean_reward": statistics.fmean(values),
                           "stderr": statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else math.nan})
        steps = []
        for a, b in itertools.pairwise(chain):
            d = paired_difference(per_model[b][mode], per_model[a][mode])
            steps.append({"lower": a, "higher": b, **d, "holds": d["diff"] > 0, "significant": d["diff"] > z * d["stderr"]})
        out["modes"][mode] = {
            "models": models,
            "steps": steps,
            "holds": all(s["holds"] for s in steps),
            "holds_significantly": all(s["significant"] for s in steps),
            "failed_steps": [f"{s['lower']} < {s['higher']}" for s in steps if not s["holds"]],
        }
    return out
