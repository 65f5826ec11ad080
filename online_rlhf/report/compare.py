"""Experiments side by side: one table and one plot from each experiment's results/report/summary.json (oracle or
judge reward per policy with standard errors, RM accuracy, pair statistics, response length), and groups of
experiments (seeds of one recipe) pooled as mean and standard error across their members, with the paper's ordering
test tallied over the members (how many seeds it holds in)."""

from __future__ import annotations

import math
import re
from typing import Any

from online_rlhf.report.summary import ordering_tally, ordering_tally_markdown


def model_key(model: str) -> tuple[int, int]:
    """sft < offline_dpo < iter1 < iter2 < ...; anything else last, in name order by the caller's sort."""
    if model == "sft":
        return (0, 0)
    if model == "offline_dpo":
        return (1, 0)
    m = re.fullmatch(r"iter(\d+)", model)
    return (2, int(m.group(1))) if m else (3, 0)


def _need(obj: dict, key: str, where: str) -> Any:
    if key not in obj:
        raise ValueError(f"{where}: missing key {key!r} (expected a summary.json written by scripts/report.py)")
    return obj[key]


def experiment_row(name: str, summary: dict, artifact: str) -> dict[str, Any]:
    """What the comparison reads of one experiment's summary; a missing required key names the file and the key."""
    policies: dict[str, dict[str, dict]] = {}
    for i, p in enumerate(_need(summary, "policies", artifact)):
        where = f"{artifact}: policies[{i}]"
        policies.setdefault(_need(p, "decoding", where), {})[_need(p, "model", where)] = {
            "mean_reward": _need(p, "mean_reward", where),
            "stderr": _need(p, "stderr", where),
            "mean_length_chars": _need(p, "mean_length_chars", where),
            "prompts": p.get("prompts"),
        }
    rm = summary.get("reward_model") or {}
    iterations = []
    for i, it in enumerate(_need(summary, "iterations", artifact)):
        where = f"{artifact}: iterations[{i}]"
        iterations.append({
            "iteration": _need(it, "iteration", where),
            "pairs": _need(it, "pairs", where),
            "dropped": sum((it.get("dropped") or {}).values()),
            "mean_top1_reward": it.get("mean_top1_reward"),
            "mean_chosen_chars": it.get("mean_chosen_chars"),
            "mean_rejected_chars": it.get("mean_rejected_chars"),
        })
    return {
        "name": name,
        "artifact": artifact,
        "judge": summary.get("judge"),
        "length_penalty": summary.get("length_penalty"),
        "rm_accuracy": rm.get("accuracy"),
        "rm_pairs": rm.get("pairs"),
        # the report's on-policy accuracy of the reward model on the loop's own samples (summary.onpolicy.loop)
        "rm_on_policy_accuracy": ((summary.get("onpolicy") or {}).get("loop") or {}).get("accuracy"),
        "policies": policies,
        "iterations": iterations,
        # the report's paper-ordering check per decoding (SFT < offline DPO < iterates, rises every iteration)
        "ordering": {d: {k: o.get(k) for k in ("sft_lt_offline_lt_iterative", "rises_every_iteration", "best_iterate")}
                     for d, o in (summary.get("ordering") or {}).items()},
    }


def pooled(values: list[float]) -> dict[str, Any]:
    """Mean and standard error of the mean across runs (sample standard deviation / sqrt(n); none for n = 1)."""
    n = len(values)
    mean = sum(values) / n
    se = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n) if n > 1 else None
    return {"mean": mean, "stderr": se, "runs": n}


def group_row(name: str, members: list[dict], summaries: dict[str, dict]) -> dict[str, Any]:
    """Each policy's mean reward pooled across the member experiments (seeds): the spread between runs, not the
    within-run standard error over prompts. Only policies and decodings every member has are pooled. `ordering`: the
    paper's ordering test per member and how many members it holds in (None, with the reason, when a member's report
    has no test, e.g. a world without an oracle)."""
    decodings = set.intersection(*(set(m["policies"]) for m in members))
    policies = {}
    for d in sorted(decodings):
        models = set.intersection(*(set(m["policies"][d]) for m in members))
        policies[d] = {mod: pooled([m["policies"][d][mod]["mean_reward"] for m in members]) for mod in sorted(models, key=model_key)}
    lacking = [m["name"] for m in members if not summaries[m["name"]].get("claim")]
    ordering = None if lacking else ordering_tally(
        [{"run": m["name"], "summary": summaries[m["name"]], "artifact": m["artifact"]} for m in members])
    return {"name": name, "members": [m["name"] for m in members], "policies": policies, "ordering": ordering,
            "no_ordering_test": [f"{n}: its summary has no 'claim'" for n in lacking]}


def compare(names: list[str], summaries: list[dict], artifacts: list[str], groups: dict[str, list[str]] | None = None) -> dict:
    if not (len(names) == len(summaries) == len(artifacts)):
        raise ValueError(f"{len(names)} names, {len(summaries)} summaries and {len(artifacts)} paths: one each per experiment")
    rows = [experiment_row(n, s, a) for n, s, a in zip(names, summaries, artifacts)]
    by_name = {r["name"]: r for r in rows}
    by_summary = dict(zip(names, summaries))
    out_groups = []
    for g, members in (groups or {}).items():
        unknown = [m for m in members if m not in by_name]
        if unknown:
            raise ValueError(f"group {g}: unknown experiments {unknown} (known: {sorted(by_name)})")
        out_groups.append(group_row(g, [by_name[m] for m in members], by_summary))
    return {"experiments": rows, "groups": out_groups}


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _pm(mean: float, se: float | None) -> str:
    return f"{mean:.3f} ± {se:.3f}" if se is not None else f"{mean:.3f}"


def markdown(result: dict) -> str:
    rows = result["experiments"]
    lines = ["# Experiments side by side", ""]
    decodings = sorted({d for r in rows for d in r["policies"]})
    for d in decodings:
        models = sorted({m for r in rows for m in r["policies"].get(d, {})}, key=model_key)
        lines += [f"## Mean reward per policy, decoding {d} (± standard error over prompts)", "",
                  "| experiment | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
        for r in rows:
            cells = [_pm(c["mean_reward"], c["stderr"]) if (c := r["policies"].get(d, {}).get(m)) else "–" for m in models]
            lines.append(f"| {r['name']} | " + " | ".join(cells) + " |")
        lines += ["", f"Mean response length (characters), decoding {d}:", "",
                  "| experiment | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
        for r in rows:
            cells = [_fmt(c["mean_length_chars"], 1) if (c := r["policies"].get(d, {}).get(m)) else "–" for m in models]
            lines.append(f"| {r['name']} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Judge and reward model", "", "| experiment | judge | λ | RM held-out accuracy | pairs | RM on-policy accuracy |",
              "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {_fmt(r['judge'])} | {_fmt(r['length_penalty'], 4)} | {_fmt(r['rm_accuracy'])} | "
                     f"{_fmt(r['rm_pairs'])} | {_fmt(r['rm_on_policy_accuracy'])} |")
    lines += ["", "## Paper ordering (from each report's check)", "",
              "| experiment | decoding | SFT < offline DPO < iterates | rises every iteration | best iterate |", "|---|---|---|---|---|"]
    for r in rows:
        for d, o in sorted(r["ordering"].items()):
            lines.append(f"| {r['name']} | {d} | {_fmt(o['sft_lt_offline_lt_iterative'])} | {_fmt(o['rises_every_iteration'])} | "
                         f"{_fmt(o['best_iterate'])} |")
    lines += ["", "## Pairs per iteration", "",
              "| experiment | iteration | pairs | dropped | mean top-1 reward | chosen chars | rejected chars |",
              "|---|---|---|---|---|---|---|"]
    for r in rows:
        for it in r["iterations"]:
            lines.append(f"| {r['name']} | {it['iteration']} | {it['pairs']} | {it['dropped']} | {_fmt(it['mean_top1_reward'])} | "
                         f"{_fmt(it['mean_chosen_chars'], 1)} | {_fmt(it['mean_rejected_chars'], 1)} |")
    for g in result["groups"]:
        lines += ["", f"## Group {g['name']}: mean across {', '.join(g['members'])} (± standard error across runs)", ""]
        for d, models in g["policies"].items():
            lines += [f"Decoding {d}:", "", "| " + " | ".join(models) + " |", "|" + "---|" * len(models),
                      "| " + " | ".join(_pm(v["mean"], v["stderr"]) for v in models.values()) + " |", ""]
        if g.get("ordering"):
            lines += [f"### Group {g['name']}: the paper's ordering per run", "", ordering_tally_markdown(g["ordering"], level=4)]
        for reason in g.get("no_ordering_test") or []:
            lines.append(f"- no ordering test: {reason}")
    lines += ["", "Sources: " + ", ".join(f"{r['name']}: {r['artifact']}" for r in rows), ""]
    return "\n".join(lines)


def plot(result: dict, path: str) -> None:
    """One panel per decoding: mean reward of each policy (sft, offline DPO, iterates) with standard-error bars,
    one line per experiment."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["experiments"]
    decodings = sorted({d for r in rows for d in r["policies"]})
    fig, axes = plt.subplots(1, max(len(decodings), 1), figsize=(5.5 * max(len(decodings), 1), 4), squeeze=False)
    for ax, d in zip(axes[0], decodings):
        models = sorted({m for r in rows for m in r["policies"].get(d, {})}, key=model_key)
        for r in rows:
            xs = [i for i, m in enumerate(models) if m in r["policies"].get(d, {})]
            cells = [r["policies"][d][models[i]] for i in xs]
            ax.errorbar(xs, [c["mean_reward"] for c in cells], yerr=[c["stderr"] or 0 for c in cells], marker="o",
                        capsize=3, label=r["name"])
        ax.set_xticks(range(len(models)), models)
        ax.set_title(f"decoding {d}")
        ax.set_ylabel("mean reward (± s.e.)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def results_section(comparisons: list[tuple[str, dict]], provenance: dict[str, str] | None = None) -> str:
    """docs/results.md's section for experiment sets: each comparison.json (path, content) as its Markdown tables,
    headings one level down, under its `provenance` lines (commit, machine, wall time) when given for that path."""
    if not comparisons:
        return ""
    parts = ["## Experiments side by side\n\nFrom `Experiments.smk` (docs/experiments.md), one DAG per set.\n"]
    for path, result in comparisons:
        body = markdown(result).replace("# Experiments side by side", f"# `{path}`\n\n{(provenance or {}).get(path, '')}", 1)
        body = re.sub(r"^(#+) ", lambda m: "#" * (len(m.group(1)) + 2) + " ", body, flags=re.MULTILINE)
        parts.append(body)
    return "\n".join(parts)
