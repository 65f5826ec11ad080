"""Collect the run's numbers into one summary (JSON), a Markdown table and a plot of reward against iteration."""

from __future__ import annotations

import itertools
import math


def model_order(models: list[str]) -> list[str]:
    """sft, offline_dpo, iter1, iter2, ... in that order."""
    def key(m: str):
        if m == "sft":
            return (0, 0)
        if m == "offline_dpo":
            return (1, 0)
        return (2, int(m.removeprefix("iter")))

    return sorted(models, key=key)


def _fmt(x, digits=3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def policy_table(evals: dict[str, dict]) -> list[dict]:
    """One row per model and decoding mode with the headline metrics."""
    rows = []
    for model in model_order(list(evals)):
        for mode, m in sorted(evals[model]["metrics"].items(), key=lambda kv: kv[0] != "greedy"):
            vs = m.get("vs_sft", {})
            rows.append(
                {
                    "model": model,
                    "decoding": mode,
                    "mean_reward": m["mean_reward"],
                    "stderr": m["stderr_reward"],
                    "exact_rate": m.get("exact_rate"),
                    "win_rate_vs_sft": vs.get("win_rate"),
                    "mean_length_chars": m["mean_length_chars"],
                    "prompts": m["prompts"],
                }
            )
    return rows


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    return head + "".join("| " + " | ".join(_fmt(r.get(c)) for c in columns) + " |\n" for r in rows)


def ordering_check(evals: dict[str, dict], mode: str) -> dict:
    """Does the run show the paper's ordering SFT < offline DPO < iterative DPO (last iterate), and does the reward
    rise at every iteration? Reported as facts, never asserted: a made-up world can disagree."""
    def reward(m):
        return evals[m]["metrics"].get(mode, {}).get("mean_reward") if m in evals else None

    iters = [m for m in model_order(list(evals)) if m.startswith("iter")]
    chain = [reward("sft")] + [reward(m) for m in iters]
    out = {
        "decoding": mode,
        "sft": reward("sft"),
        "offline_dpo": reward("offline_dpo"),
        "last_iterate": reward(iters[-1]) if iters else None,
        "best_iterate": max(iters, key=reward) if iters else None,
        "rises_every_iteration": all(b > a for a, b in itertools.pairwise(chain)) if len(chain) > 1 else None,
    }
    if None not in (out["sft"], out["offline_dpo"], out["last_iterate"]):
        out["sft_lt_offline_lt_iterative"] = out["sft"] < out["offline_dpo"] < out["last_iterate"]
    return out


def plot_reward_vs_iteration(evals: dict[str, dict], path: str, judge: str, pair_stats: list[dict] | None = None) -> None:
    """Held-out judge reward per decoding mode against iteration; with pair statistics, one more panel with the
    reward model's mean score of the samples each policy generated in the loop (iteration t samples from pi_{t-1}),
    which is what the loop optimises: where it rises while the held-out reward falls, the policy exploits the RM."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    iters = [m for m in model_order(list(evals)) if m.startswith("iter")]
    modes = sorted({mode for e in evals.values() for mode in e["metrics"]}, key=lambda m: m != "greedy")
    panels = len(modes) + (1 if pair_stats else 0)
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.8), squeeze=False)
    for ax, mode in zip(axes[0], modes):
        xs = [0] + [int(m.removeprefix("iter")) for m in iters]
        ys = [evals["sft"]["metrics"][mode]["mean_reward"]] + [evals[m]["metrics"][mode]["mean_reward"] for m in iters]
        es = [evals["sft"]["metrics"][mode]["stderr_reward"]] + [evals[m]["metrics"][mode]["stderr_reward"] for m in iters]
        ax.errorbar(xs, ys, yerr=[0 if math.isnan(e) else e for e in es], marker="o", capsize=3, label="online iterative DPO")
        if "offline_dpo" in evals:
            ax.axhline(evals["offline_dpo"]["metrics"][mode]["mean_reward"], color="tab:orange", ls="--", label="offline DPO")
        ax.axhline(ys[0], color="grey", ls=":", label="SFT")
        ax.set_xticks(xs, ["SFT"] + [f"iter {x}" for x in xs[1:]])
        ax.set_title("greedy decoding" if mode == "greedy" else f"sampled at temperature {mode.removeprefix('t')}")
        ax.set_ylabel(f"mean {judge} reward (held-out)")
        ax.grid(alpha=0.3)
    if pair_stats:
        ax = axes[0][-1]
        stats = sorted(pair_stats, key=lambda s: s["iteration"])
        xs = [s["iteration"] - 1 for s in stats]
        ax.plot(xs, [s["mean_reward"] for s in stats], marker="s", color="tab:green", label="mean RM score of samples")
        ax.plot(xs, [s["mean_top1_reward"] for s in stats], marker="^", color="tab:olive", label="mean best-of-n RM score")
        ax.set_xticks(xs, ["SFT" if x == 0 else f"iter {x}" for x in xs])
        ax.set_title("reward model's view (online samples)")
        ax.set_ylabel("reward model score")
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    axes[0][0].legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
