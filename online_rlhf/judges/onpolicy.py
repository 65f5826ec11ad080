"""How well the online loop's judge orders the *policy's own* samples, measured against the made-up world's oracle.

Held-out accuracy is measured on pairs written by the preference data's writers; the loop, though, asks the judge to
rank the samples of the current policy, whose mistakes may differ. Two numbers per sampling policy:
  - pair accuracy: over every two samples of one prompt with different oracle rewards, the share the judge orders as
    the oracle does (a judge tie counts half), with a standard error clustered by prompt;
  - best-worst agreement: the share of prompts whose judge-picked (best, worst) pair, the one DPO trains on, has the
    truly better response as chosen (prompts whose pair the oracle rates equal are counted apart).
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import defaultdict

from online_rlhf.judges.scoring import score_with_oracle


def _clustered_ratio_se(correct: list[float], totals: list[int]) -> float:
    """Standard error of sum(correct)/sum(totals) with prompts as clusters (a ratio estimator's linearisation)."""
    n, total = len(totals), sum(totals)
    if n < 2 or total == 0:
        return math.nan
    acc = sum(correct) / total
    resid = sum((c - acc * t) ** 2 for c, t in zip(correct, totals))
    return math.sqrt(resid * n / (n - 1)) / total


def onpolicy_accuracy(rows: list[dict]) -> dict:
    """`rows`: prompt_id, prompt (messages), response, reward (the judge's) and optionally over_length, of one
    policy's samples. Samples over the judge's max length are left out, as build_pairs leaves them out of pairs."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if not r.get("over_length", False) and math.isfinite(r["reward"]):
            groups[r["prompt_id"]].append(r)
    oracle = {}
    for pid, rs in groups.items():
        oracle[pid] = score_with_oracle([r["prompt"] for r in rs], [r["response"] for r in rs])
    correct, totals = [], []
    bw_right = bw_wrong = bw_equal = 0
    for pid, rs in groups.items():
        o = oracle[pid]
        c = t = 0
        for i, j in itertools.combinations(range(len(rs)), 2):
            if o[i] == o[j]:
                continue
            t += 1
            dj = (rs[i]["reward"] - rs[j]["reward"]) * (o[i] - o[j])
            c += 1.0 if dj > 0 else 0.5 if dj == 0 else 0.0
        if t:
            correct.append(c)
            totals.append(t)
        if len(rs) >= 2:
            # build_pairs' rule: highest judge reward first, ties to the lower sample index (pairing.select_pair)
            ranked = sorted(range(len(rs)), key=lambda k: (-rs[k]["reward"], rs[k].get("sample_index", k)))
            best, worst = ranked[0], ranked[-1]
            if rs[best]["reward"] == rs[worst]["reward"]:
                continue
            if o[best] > o[worst]:
                bw_right += 1
            elif o[best] < o[worst]:
                bw_wrong += 1
            else:
                bw_equal += 1
    pairs = sum(totals)
    decided = bw_right + bw_wrong
    prompt_oracle = [sum(o) / len(o) for o in oracle.values() if o]
    return {
        "prompts": len(groups),
        "pairs": pairs,
        "accuracy": sum(correct) / pairs if pairs else math.nan,
        "stderr": _clustered_ratio_se(correct, totals),
        "mean_oracle_reward": math.fsum(x for o in oracle.values() for x in o) / max(1, sum(len(o) for o in oracle.values())),
        "oracle_stderr": statistics.stdev(prompt_oracle) / math.sqrt(len(prompt_oracle)) if len(prompt_oracle) > 1 else math.nan,
        "best_worst": {
            "right": bw_right,
            "wrong": bw_wrong,
            "oracle_tie": bw_equal,
            # the share of DPO pairs that point the right way, among pairs the oracle tells apart
            "accuracy": bw_right / decided if decided else math.nan,
        },
    }
