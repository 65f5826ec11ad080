"""Length bias of a judge (Figure 3 of the paper): per prompt, the Pearson correlation between the judge's reward and
the length of k sampled responses; prompts grouped by their mean response length for a heatmap; the mean coefficient.

A prompt whose k responses all have the same length (or the same reward) has no defined coefficient: it is counted
as `undefined` and left out of the mean and the heatmap cells, never given a made-up 0.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict


def pearson(xs: list[float], ys: list[float]) -> float | None:
    """Pearson's r, or None when either side is constant (or a reward is not finite)."""
    if len(xs) < 2 or not all(math.isfinite(y) for y in ys):
        return None
    try:
        return statistics.correlation(xs, ys)
    except statistics.StatisticsError:
        return None


def per_prompt(rows: list[dict]) -> list[dict]:
    """One record per prompt: mean length (characters), k, and r(reward, length)."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[r["prompt_id"]].append(r)
    out = []
    for pid, g in sorted(groups.items()):
        lengths = [float(len(r["response"])) for r in g]
        out.append({"prompt_id": pid, "samples": len(g), "mean_length": statistics.fmean(lengths), "r": pearson(lengths, [r["reward"] for r in g])})
    return out


def length_groups(prompts: list[dict], groups: int) -> list[list[dict]]:
    """Prompts sorted by mean length and cut into `groups` groups of (near) equal size, shortest first."""
    ordered = sorted(prompts, key=lambda p: (p["mean_length"], p["prompt_id"]))
    n = len(ordered)
    groups = max(1, min(groups, n))
    return [ordered[i * n // groups : (i + 1) * n // groups] for i in range(groups)]


def summarise(rows: list[dict], groups: int = 5) -> dict:
    prompts = per_prompt(rows)
    defined = [p["r"] for p in prompts if p["r"] is not None]
    grouped = []
    for g in length_groups(prompts, groups):
        rs = [p["r"] for p in g if p["r"] is not None]
        grouped.append({
            "mean_length_min": g[0]["mean_length"], "mean_length_max": g[-1]["mean_length"], "prompts": len(g),
            "defined": len(rs), "mean_r": statistics.fmean(rs) if rs else None,
            # Heatmap row: this group's coefficients, highest first (None: undefined)
            "r": sorted(rs, reverse=True) + [None] * (len(g) - len(rs)),
        })
    return {
        "prompts": len(prompts),
        "responses": len(rows),
        "defined": len(defined),
        "undefined": len(prompts) - len(defined),
        # e.g. the pairwise judge's over-length comparisons: no score, so their prompt's r is undefined
        "unscored_responses": sum(not math.isfinite(r["reward"]) for r in rows),
        "mean_r": statistics.fmean(defined) if defined else None,
        "median_r": statistics.median(defined) if defined else None,
        "share_positive": sum(r > 0 for r in defined) / len(defined) if defined else None,
        "groups": grouped,
        "per_prompt": prompts,
    }


def plot_heatmap(summary: dict, judge: str, path: str) -> None:
    """Rows: groups of prompts by mean response length; cells: each prompt's r (sorted), blank where undefined."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    groups = summary["groups"]
    width = max((len(g["r"]) for g in groups), default=1)
    grid = np.full((len(groups), width), np.nan)
    for i, g in enumerate(groups):
        for j, r in enumerate(g["r"]):
            if r is not None:
                grid[i, j] = r
    fig, ax = plt.subplots(figsize=(8, 1 + 0.5 * len(groups)))
    im = ax.imshow(grid, aspect="auto", cmap="coolwarm", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_yticks(range(len(groups)), [f"{g['mean_length_min']:.1f}-{g['mean_length_max']:.1f}" for g in groups])
    ax.set_ylabel("mean response length (chars)")
    ax.set_xlabel("prompts in the group, by coefficient")
    mean = summary["mean_r"]
    ax.set_title(f"{judge}: Pearson r(reward, length) per prompt; mean {mean:.3f}" if mean is not None else f"{judge}: no defined coefficient")
    fig.colorbar(im, ax=ax, label="r")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
