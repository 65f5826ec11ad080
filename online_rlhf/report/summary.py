"""Collect the run's numbers into one summary (JSON), a Markdown table and a plot of reward against iteration."""

from __future__ import annotations

import itertools
import math
import textwrap


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


# ---- the paper's tables and figures (Table 1: RM accuracy; 2/3: benchmarks; 4: length-penalty ablation; 5: mixture
# statistics; Figure 8: benchmarks against iteration). Each cell keeps the artifact it came from. -----------------

CHAT_BENCHMARKS = ("alpaca_eval", "mt_bench", "arena_hard")
BENCHMARK_LABELS = {
    "alpaca_eval": "LC AlpacaEval-2 (%)",
    "mt_bench": "MT-Bench (1-10)",
    "arena_hard": "Arena-Hard (%)",
}
# "LC AlpacaEval-2" means the leaderboard's GLM; any other GLM says which it is (the minimal one, fitted without
# df_gamed.csv, differs from the leaderboard's LC by up to 14 points on real annotations).
LEADERBOARD_GLM = "length_controlled_v1"


def alpaca_name(glm: str | None) -> str:
    if glm == LEADERBOARD_GLM:
        return BENCHMARK_LABELS["alpaca_eval"]
    if glm == "length_controlled_minimal":
        return "AlpacaEval-2 LC with the minimal GLM (%), not the leaderboard's LC"
    return f"AlpacaEval-2 LC with GLM {glm or 'unrecorded'} (%)"


def chat_provenance(result: dict) -> dict:
    """What a chat-benchmark number depends on besides the model: judge, GLM (AlpacaEval) and benchmark version."""
    out = {"judge": result.get("judge"), "benchmark_version": result.get("benchmark_version")}
    if result["benchmark"] == "alpaca_eval":
        out["glm"] = result.get("glm") or result.get("metrics", {}).get("glm")
    return out


def chat_label(benchmark: str, cell: dict) -> str:
    """A chat-benchmark number's full name: e.g. 'LC AlpacaEval-2 (%) [GLM length_controlled_v1; judge gpt-4-1106-preview;
    tatsu-lab/alpaca_eval@main]'."""
    name = alpaca_name(cell.get("glm")) if benchmark == "alpaca_eval" else BENCHMARK_LABELS[benchmark]
    parts = ([f"GLM {cell.get('glm')}"] if benchmark == "alpaca_eval" else []) + [
        f"judge {cell.get('judge') or 'unrecorded'}", cell.get("benchmark_version") or "version unrecorded"
    ]
    return f"{name} [{'; '.join(parts)}]"


def column_label(benchmark: str, cells: list) -> str:
    """A table column's header: the chat benchmark's full name; where the column mixes judges, GLMs or versions
    (e.g. Table 4 across runs), every one of them, so no number stands under a name that is not its own."""
    if benchmark not in CHAT_BENCHMARKS:
        return BENCHMARK_LABELS.get(benchmark, benchmark)
    labels = sorted({chat_label(benchmark, c) for c in cells if isinstance(c, dict)})
    return " | ".join(labels) if labels else BENCHMARK_LABELS[benchmark]


def cell(value, artifact: str, digits: int = 3, **extra) -> dict:
    """One table number with the file it came from."""
    return {"value": value, "artifact": artifact, "digits": digits, **extra}


def heldout_rows(evals: dict[str, dict]) -> list[dict]:
    """The held-out table (`policy_table`) with each number tied to its model's heldout.json."""
    return [
        {k: (cell(v, evals[r["model"]]["artifact"], 1 if k == "mean_length_chars" else 3) if isinstance(v, float) else v) for k, v in r.items()}
        for r in policy_table(evals)
    ]


def rm_table(rm_eval: dict, artifact: str) -> list[dict]:
    """Table 1 as this run can measure it: held-out pair accuracy of the reward model, overall and per source."""
    rows = [{"section": "all held-out pairs", "pairs": cell(rm_eval["pairs"], artifact, 0), "accuracy": cell(rm_eval["accuracy"], artifact)}]
    for source, s in sorted(rm_eval.get("by_source", {}).items()):
        rows.append({"section": source, "pairs": cell(s["pairs"], artifact, 0), "accuracy": cell(s["accuracy"], artifact)})
    return rows


def benchmark_tables(results: list[dict]) -> tuple[list[str], list[str], list[dict]]:
    """Tables 2/3: one row per model, one column per benchmark (chat first), each cell the benchmark's headline
    number. `results` are the leaves results/eval/<model>/<benchmark>.json with their path under "artifact"."""
    by_model: dict[str, dict] = {}
    for r in results:
        by_model.setdefault(r["model"], {})[r["benchmark"]] = r
    names = sorted({r["benchmark"] for r in results})
    chat = [b for b in CHAT_BENCHMARKS if b in names]
    academic = [b for b in names if b not in CHAT_BENCHMARKS]
    rows = []
    for model in model_order(list(by_model)):
        row = {"model": model}
        for b in chat + academic:
            r = by_model[model].get(b)
            if r is None:
                raise ValueError(f"benchmark {b!r} has no result for model {model!r}")
            # lm-eval reports fractions; the paper's tables show percentages for them too
            value = r["value"] * 100 if b in academic else r["value"]
            row[b] = cell(value, r["artifact"], 2, metric=r["metric"], **(chat_provenance(r) if b in chat else {}))
        # The paper quotes the mean Arena-Hard answer length (656 vs 382 tokens for the concise model).
        source = next((b for b in ("arena_hard", "alpaca_eval", "mt_bench") if b in chat), None)
        if source:
            r = by_model[model][source]
            row["mean_answer_chars"] = cell(r["metrics"]["mean_length_chars"], r["artifact"], 1, metric=f"mean {source} answer length (characters)")
        rows.append(row)
    return chat, academic, rows


def ablation_table(runs: list[dict], model: str) -> list[dict]:
    """Table 4: the same policy (the last iterate) of runs that differ in the length penalty lambda, side by side.
    `runs`: {label, length_penalty, summary (a summary.json), artifact}; benchmarks missing from a run stay empty."""
    rows = []
    for run in runs:
        table = {r["model"]: r for r in run["summary"].get("tables", {}).get("benchmarks", {}).get("rows", [])}
        if model not in table:
            raise ValueError(f"{run['artifact']}: no benchmark row for {model!r} (does that run have as many iterations?)")
        rows.append({"run": run["label"], "length_penalty": cell(run["length_penalty"], run["artifact"], 4), **{k: v for k, v in table[model].items() if k != "model"}})
    return rows


MIXTURE_COLUMNS = (
    ("source", "source"),
    ("prompts", "#prompts"),
    ("pairs", "#pairs"),
    ("mean_prompt_tokens", "prompt length"),
    ("mean_chosen_tokens", "preferred length"),
    ("mean_rejected_tokens", "rejected length"),
    ("completion", "completion"),
    ("annotator", "annotator"),
)


def mixture_table(stats: dict, artifact: str, columns=MIXTURE_COLUMNS) -> list[dict]:
    """Table 5 from a mixture-statistics file: {mixture, sources: [row, ...] or {source: row}, total: row}, each row
    holding the keys of `columns` (lengths in tokens of the policy tokenizer). A missing key is an error naming it."""
    sources = stats.get("sources")
    if sources is None:
        raise ValueError(f"{artifact}: mixture statistics need 'sources' (per-source rows)")
    if isinstance(sources, dict):
        sources = [{"source": k, **v} for k, v in sources.items()]
    rows = list(sources) + ([{"source": "total", **stats["total"]}] if "total" in stats else [])
    out = []
    for i, r in enumerate(rows):
        missing = [k for k, _ in columns if k not in r]
        if missing:
            raise ValueError(f"{artifact}: row {i} ({r.get('source', '?')}) lacks {missing}; expected {[k for k, _ in columns]}")
        out.append({k: r[k] if isinstance(r[k], str) else cell(r[k], artifact, 0 if isinstance(r[k], int) else 1) for k, _ in columns})
    return out


def _number(c) -> str:
    if not isinstance(c, dict):
        return "–" if c is None else str(c)
    v = c["value"]
    return _fmt(float(v), c["digits"]) if isinstance(v, (int, float)) and c["digits"] else _fmt(v)


def rst_table(title: str, rows: list[dict], columns: list[tuple[str, str]], link) -> str:
    """A reStructuredText list-table whose numbers link to their artifacts (`link(path)` -> URI)."""
    out = [f".. list-table:: {title}", "   :header-rows: 1", ""]
    out.append("   * - " + "\n     - ".join(label for _, label in columns))
    for r in rows:
        cells = []
        for key, _ in columns:
            c = r.get(key)
            cells.append(f"`{_number(c)} <{link(c['artifact'])}>`__" if isinstance(c, dict) else _number(c))
        out.append("   * - " + "\n     - ".join(cells))
    return "\n".join(out) + "\n"


def html_table(title: str, rows: list[dict], columns: list[tuple[str, str]], link) -> str:
    from html import escape

    head = "".join(f"<th>{escape(label)}</th>" for _, label in columns)
    body = []
    for r in rows:
        cells = []
        for key, _ in columns:
            c = r.get(key)
            if isinstance(c, dict):
                cells.append(f'<td><a href="{escape(link(c["artifact"]))}" title="{escape(c["artifact"])}">{escape(_number(c))}</a></td>')
            else:
                cells.append(f"<td>{escape(_number(c))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<h2>{escape(title)}</h2>\n<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>\n"


def plot_benchmarks_vs_iteration(results: list[dict], path: str) -> None:
    """Figure 8: each benchmark's headline number for SFT (iteration 0) and every iterate, offline DPO dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chat, academic, rows = benchmark_tables(results)
    names = chat + academic
    by_model = {r["model"]: r for r in rows}
    labels = {b: column_label(b, [r[b] for r in rows]) if b in chat else f"{b} (%)" for b in names}
    iters = [m for m in model_order(list(by_model)) if m.startswith("iter")]
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.5), squeeze=False)
    for ax, b in zip(axes[0], names):
        xs, ys = [], []
        for m in (["sft"] if "sft" in by_model else []) + iters:
            xs.append(0 if m == "sft" else int(m.removeprefix("iter")))
            ys.append(by_model[m][b]["value"])
        ax.plot(xs, ys, marker="o", label="online iterative DPO")
        if "offline_dpo" in by_model:
            ax.axhline(by_model["offline_dpo"][b]["value"], color="tab:orange", ls="--", label="offline DPO")
        ax.set_xticks(xs, ["SFT" if x == 0 else f"iter {x}" for x in xs])
        ax.set_title("\n".join(textwrap.wrap(labels[b], 48)), fontsize=8)
        ax.grid(alpha=0.3)
    axes[0][0].legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def judges_table(judges: dict) -> tuple[list[str], list[dict]]:
    """Table 1 for every judge (results/rm/judges.json): held-out pair accuracy, the RewardBench-style sections and
    score, and Figure 3's mean per-prompt correlation of reward with length; each cell links to its own file."""
    sections: list[str] = list(judges.get("sections", []))
    rows = []
    for name, j in judges["judges"].items():
        row: dict = {"judge": name}
        if "heldout" in j:
            row["heldout_accuracy"] = cell(j["heldout"]["accuracy"], j["heldout"]["source"])
            if "against_chance" in j["heldout"]:  # judges.json of a run before the test existed has none
                row["heldout_against_chance"] = {**j["heldout"]["against_chance"], "pairs": j["heldout"]["pairs"]}
        rb = j.get("reward_bench")
        if rb:
            for section in sections:
                if section in rb["sections"]:
                    row[section] = cell(rb["sections"][section], rb["source"])
            row["reward_bench_score"] = cell(rb["score"], rb["source"])
        if "length_bias" in j:
            row["length_r"] = cell(j["length_bias"]["mean_r"], j["length_bias"]["source"])
        rows.append(row)
    return sections, rows


def uninformative_judges(rows: list[dict], artifact: str) -> str | None:
    """A sentence naming the judges whose held-out accuracy is not above a judge without information's
    (judges_table rows; online_rlhf.judges.interface.against_chance), None when every judge is above it."""
    named = []
    for r in rows:
        test = r.get("heldout_against_chance")
        if test and not test["above_chance"]:
            named.append(f"`{r['judge']}` ({r['heldout_accuracy']['value']:.3f} on {test['pairs']} pairs, z {test['z']:.1f})")
    if not named:
        return None
    threshold = next(r["heldout_against_chance"]["threshold"] for r in rows if r.get("heldout_against_chance"))
    return (f"Not distinguishable from a judge without information on the held-out pairs (accuracy not above 1/2 by more "
            f"than {threshold:g} binomial standard errors, `{artifact}`): " + ", ".join(named)
            + "; the other columns of such a judge are those of one that has not learned the preferences.")


def selection_table(best: dict, artifact: str, onpolicy: dict | None = None, onpolicy_artifact: str | None = None) -> list[dict]:
    """The recipe's output: each candidate's mean validation reward by the selection judge, the winner marked, and
    (made-up world) the oracle's mean reward of the very same samples, so a pick that over-optimises the judge shows."""
    oracle = {}
    for r in (onpolicy or {}).get("rows", []):
        model, _, source = r["policy"].partition("@")
        if source == "selection":
            oracle[model] = r
    rows = []
    for c in best["candidates"]:
        row = {"model": c["model"] + (" (selected)" if c["model"] == best["best"] else ""), "mean_reward": cell(c["mean_reward"], artifact),
               "stderr": cell(c["stderr"], artifact), "samples": cell(c["samples"], artifact, 0)}
        if c["model"] in oracle:
            o = oracle[c["model"]]
            row["oracle_reward"] = cell(o["mean_oracle_reward"], onpolicy_artifact)
            row["oracle_stderr"] = cell(o["oracle_stderr"], onpolicy_artifact)
        rows.append(row)
    if oracle:
        best_oracle = max(oracle, key=lambda m: oracle[m]["mean_oracle_reward"])
        for row in rows:
            row["oracle_best"] = "yes" if row["model"].split(" ")[0] == best_oracle else ""
    return rows


def onpolicy_table(onpolicy: dict, artifact: str) -> list[dict]:
    """The online judge on the policy's own samples: one row per sampling policy and sample file."""
    out = []
    for r in onpolicy["rows"]:
        policy, _, source = r["policy"].partition("@")
        out.append({
            "policy": policy, "samples_from": source, "judge": r["judge"], "pairs": cell(r["pairs"], artifact, 0),
            "accuracy": cell(r["accuracy"], artifact), "stderr": cell(r["stderr"], artifact),
            "best_worst_right": cell(r["best_worst"]["accuracy"], artifact), "oracle_reward": cell(r["mean_oracle_reward"], artifact),
        })
    return out


def pooled_onpolicy(onpolicy: dict, source: str | None = None) -> dict | None:
    """Pair accuracy pooled over rows (optionally of one sample source, e.g. the loop's 'iter<t>' files)."""
    rows = [r for r in onpolicy["rows"] if source is None or r["policy"].partition("@")[2].startswith(source)]
    pairs = sum(r["pairs"] for r in rows)
    if not pairs:
        return None
    acc = sum(r["accuracy"] * r["pairs"] for r in rows) / pairs
    # rows are disjoint sets of prompts x policies: their clustered variances add
    se = math.sqrt(sum((r["stderr"] * r["pairs"]) ** 2 for r in rows if math.isfinite(r["stderr"]))) / pairs
    return {"pairs": pairs, "accuracy": acc, "stderr": se, "rows": len(rows)}


def claim_markdown(claim: dict) -> str:
    """The ordering test as Markdown: per decoding mode each model's mean +- SE and each step's paired difference."""
    chain = " < ".join(claim["chain"])
    out = [(f"\n## The paper's claim: {chain}\n\n"
            f"Held-out mean reward (judge: {claim['judge']}) ± standard error over prompts; each step is the paired "
            f"difference on the same prompts, significant when it exceeds {claim['z']:g} standard errors.\n")]
    for mode, r in claim["modes"].items():
        means = " · ".join(f"{m['model']} {m['mean_reward']:.3f} ± {m['stderr']:.3f}" for m in r["models"])
        verdict = "**holds**" if r["holds"] else "**does not hold**"
        sig = "every step significant" if r["holds_significantly"] else "not every step significant"
        failed = f"; fails at {', '.join(r['failed_steps'])}" if r["failed_steps"] else ""
        out.append(f"\n**{mode}**: {means}. Ordering {verdict} ({sig}){failed}.\n\n")
        out.append(markdown_table(
            [{"step": f"{s['lower']} → {s['higher']}", "diff": s["diff"], "stderr": s["stderr"], "z": s["z"],
              "holds": "yes" if s["holds"] else "no", "significant": "yes" if s["significant"] else "no"} for s in r["steps"]],
            ["step", "diff", "stderr", "z", "holds", "significant"]))
    return "".join(out)


def not_produced(facts: dict, tables: dict) -> list[dict]:
    """What of the paper's tables and figures this run's config does not produce, and why (said plainly in the
    report instead of showing an empty table)."""
    out = []
    rows = (tables.get("judges") or {}).get("rows", [])
    if not any("reward_bench_score" in r for r in rows):
        out.append({"item": "Table 1 (RewardBench Chat / Chat-Hard / Safety / Reasoning)",
                    "why": "the config has no reward_bench section; Table 1 shows held-out pair accuracy only"})
    if not any("length_r" in r for r in rows):
        out.append({"item": "Figure 3 (length-bias heatmap)", "why": "the config has no length_bias section"})
    if not tables.get("reward_model"):
        out.append({"item": "Table 1", "why": "reward_model.heldout is not set, so no held-out accuracy was measured"})
    if "benchmarks" not in tables:
        out.append({"item": "Tables 2/3 and Figure 8", "why": "the config has no benchmarks section"})
    for task in facts.get("held_back", []):
        out.append({"item": f"{task} (lm-eval)", "why": "it executes model-written code and benchmarks.lm_eval.allow_code_execution is false"})
    if not tables.get("length_ablation"):
        out.append({"item": "Table 4 (length-penalty ablation)",
                    "why": f"it compares runs with different online.length_penalty (this run: {facts['length_penalty']}); run the overlay "
                           "config/ablations/concise.yaml in a second copy of the workflow and list its results/report/summary.json "
                           "under report.compare" + ("" if "benchmarks" in tables else " (needs benchmarks too)")})
    if not tables.get("mixtures"):
        out.append({"item": "Table 5 (mixture statistics)",
                    "why": "needs results/data/stats/<mixture>.json, and no rule of this workflow makes it (the mixture-statistics stage, issue #3)"})
    return out


def ordering_tally(runs: list[dict]) -> dict:
    """The ordering test of several runs of one recipe that differ only in `seed` (an experiment group): per run and
    decoding mode each model's mean +- SE, whether the chain holds (significantly) and where it fails; plus how many
    runs it holds in. `runs`: {run (its label), summary (a summary.json), artifact (the summary's path)}."""
    out, modes = [], set()
    for s in runs:
        claim = s["summary"].get("claim")
        if not claim:
            raise ValueError(f"{s['artifact']}: no 'claim' (the ordering test); was it made by this version's report?")
        modes |= set(claim["modes"])
        onpolicy = (s["summary"].get("onpolicy") or {}).get("loop") or {}
        out.append({
            "run": s["run"], "artifact": s["artifact"], "chain": claim["chain"],
            "rm_heldout_accuracy": (s["summary"].get("reward_model") or {}).get("accuracy"),
            "rm_onpolicy_accuracy": onpolicy.get("accuracy"),
            "modes": {m: {"means": {x["model"]: [x["mean_reward"], x["stderr"]] for x in r["models"]}, "holds": r["holds"],
                          "holds_significantly": r["holds_significantly"], "failed_steps": r["failed_steps"]}
                      for m, r in claim["modes"].items()},
        })
    tally = {m: {"runs": sum(m in r["modes"] for r in out), "holds": sum(r["modes"].get(m, {}).get("holds", False) for r in out),
                 "holds_significantly": sum(r["modes"].get(m, {}).get("holds_significantly", False) for r in out)}
             for m in sorted(modes, key=lambda m: m != "greedy")}
    return {"runs": out, "tally": tally}


def ordering_tally_markdown(table: dict, level: int = 2) -> str:
    """`ordering_tally` as Markdown: one table per decoding mode, then the reward model per run; headings at `level`."""
    h = "#" * level
    out = [("Cells: held-out oracle reward ± standard error over prompts; a step holds when the later model is higher, "
            "significantly when the paired difference exceeds 2 standard errors.\n")]
    for mode, t in table["tally"].items():
        chain = table["runs"][0]["chain"]
        out.append(f"\n{h} {mode}: {' < '.join(chain)} holds in {t['holds']} of {t['runs']} runs "
                   f"({t['holds_significantly']} with every step significant)\n\n")
        rows = []
        for r in table["runs"]:
            m = r["modes"].get(mode)
            if not m:
                continue
            row = {"run": r["run"], **{k: f"{v[0]:.3f} ± {v[1]:.3f}" for k, v in m["means"].items()},
                   "holds": "yes" if m["holds"] else "no", "significant": "yes" if m["holds_significantly"] else "no",
                   "fails at": ", ".join(m["failed_steps"]) or "–"}
            rows.append(row)
        out.append(markdown_table(rows, ["run", *chain, "holds", "significant", "fails at"]))
    out.append(f"\n{h} Reward model per run\n\n")
    out.append(markdown_table([{"run": r["run"], "held-out accuracy": r["rm_heldout_accuracy"], "on-policy accuracy (loop)": r["rm_onpolicy_accuracy"]}
                               for r in table["runs"]], ["run", "held-out accuracy", "on-policy accuracy (loop)"]))
    return "".join(out)
