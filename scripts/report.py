"""The run's report: summary.json (every number, with the file it came from), summary.md, the paper's tables as
reStructuredText (shown in `snakemake --report`, numbers linking to their artifacts) and HTML, the plot of held-out
reward against iteration and, with benchmarks, Figure 8 (benchmarks against iteration)."""

import html
import os
import urllib.parse
from pathlib import Path

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import json_arg, logger, parser
from online_rlhf.core.tables import read_json, write_json
from online_rlhf.report.summary import (
    MIXTURE_COLUMNS,
    ablation_table,
    benchmark_tables,
    claim_markdown,
    column_label,
    heldout_rows,
    html_table,
    judges_table,
    markdown_table,
    mixture_table,
    not_produced,
    onpolicy_table,
    ordering_check,
    plot_benchmarks_vs_iteration,
    plot_reward_vs_iteration,
    policy_table,
    pooled_onpolicy,
    rm_table,
    rst_table,
    selection_table,
    uninformative_judges,
)

log = logger("report")


def report_link(path: str) -> str:
    """Inside `snakemake --report`: open the artifact's entry (the same link Snakemake writes for report items)."""
    return f"javascript:app.showResultInfo('{urllib.parse.quote(path)}')"


def file_link(html_path: str):
    """In the standalone HTML: a relative link from the HTML's folder to the artifact."""
    base = Path(html_path).resolve().parent
    return lambda path: os.path.relpath(Path(path).resolve(), base)


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--run-name", required=True)
    p.add_argument("--evals", nargs="+", required=True, help="results/eval/<model>/heldout.json files")
    p.add_argument("--rm-eval", default=None)
    p.add_argument("--pair-stats", nargs="*", default=[])
    p.add_argument("--mixture-stats", nargs="*", default=[])
    p.add_argument("--benchmarks", nargs="*", default=[], help="results/eval/<model>/<benchmark>.json leaves")
    p.add_argument("--table5-stats", nargs="*", default=[], help="mixture statistics files (Table 5)")
    p.add_argument("--compare", type=json_arg, default=[], help='other runs for Table 4: [{"label", "summary"}]')
    p.add_argument("--facts", type=json_arg, required=True, help="config facts: length_penalty, iterations, held_back, benchmarks_configured")
    p.add_argument("--json", required=True)
    p.add_argument("--markdown", required=True)
    p.add_argument("--plot", required=True)
    p.add_argument("--tables-rst", required=True)
    p.add_argument("--tables-html", required=True)
    p.add_argument("--benchmark-plot", default=None)
    p.add_argument("--judges", default=None, help="results/rm/judges.json: Table 1 for every judge and Figure 3's coefficients")
    p.add_argument("--length-bias-plots", nargs="*", default=[], help="Figure 3 heatmaps, one per judge")
    p.add_argument("--selection", default=None, help="results/selection/best.json: the best iterate on validation")
    p.add_argument("--ordering", default=None, help="results/eval/ordering.json: the claim SFT < offline DPO < iter1 < ... tested")
    p.add_argument("--onpolicy", default=None, help="results/onpolicy/accuracy.json: the online judge's accuracy on the policy's own samples")
    a = p.parse_args()
    onpolicy = read_json(a.onpolicy) if a.onpolicy else None
    claim = read_json(a.ordering) if a.ordering else None
    evals = {}
    for path in a.evals:
        e = read_json(path)
        evals[e["model"]] = {**e, "artifact": path}
    judge = next(iter(evals.values()))["judge"]
    rows = policy_table(evals)
    modes = sorted({r["decoding"] for r in rows}, key=lambda m: m != "greedy")
    pair_stats = [{**read_json(f), "artifact": f} for f in a.pair_stats]
    facts = a.facts

    tables: dict = {"reward_model": rm_table(read_json(a.rm_eval), a.rm_eval) if a.rm_eval else None}
    bench_results = [{**read_json(f), "artifact": f} for f in a.benchmarks]
    if bench_results:
        chat, academic, bench_rows = benchmark_tables(bench_results)
        # labels: each chat column's full name (judge, GLM, version), for whatever renders summary.json
        labels = {k: column_label(k, [r[k] for r in bench_rows]) for k in chat}
        tables["benchmarks"] = {"chat": chat, "academic": academic, "rows": bench_rows, "labels": labels}
    # Table 4 compares the last iterate that was benchmarked (benchmarks.models may leave later ones out)
    benchmarked = [r["model"] for r in tables.get("benchmarks", {}).get("rows", []) if r["model"].startswith("iter")]
    last = benchmarked[-1] if benchmarked else f"iter{facts['iterations']}"
    if a.compare and bench_results:
        runs = [{"label": "this run", "length_penalty": facts["length_penalty"], "summary": {"tables": tables}, "artifact": a.json}]
        for c in a.compare:
            other = read_json(c["summary"])
            runs.append({"label": c["label"], "length_penalty": other["length_penalty"], "summary": other, "artifact": c["summary"]})
        tables["length_ablation"] = ablation_table(runs, last)
    tables["mixtures"] = [{"artifact": f, "rows": mixture_table(read_json(f), f)} for f in a.table5_stats] or None
    if a.judges:
        judge_sections, judge_rows = judges_table(read_json(a.judges))
        tables["judges"] = {"sections": judge_sections, "rows": judge_rows, "artifact": a.judges, "heatmaps": a.length_bias_plots}
    if a.selection:
        tables["selection"] = {"best": read_json(a.selection)["best"], "rows": selection_table(read_json(a.selection), a.selection, onpolicy, a.onpolicy), "artifact": a.selection}
    if onpolicy:
        tables["onpolicy"] = onpolicy_table(onpolicy, a.onpolicy)
    missing = not_produced(facts, tables)

    summary = {
        "run_name": a.run_name,
        "judge": judge,
        "length_penalty": facts["length_penalty"],
        "policies": rows,
        "ordering": {m: ordering_check(evals, m) for m in modes},
        "claim": {**claim, "artifact": a.ordering} if claim else None,
        "reward_model": {**read_json(a.rm_eval), "artifact": a.rm_eval} if a.rm_eval else None,
        "onpolicy": {"loop": pooled_onpolicy(onpolicy, "iter"), "selection": pooled_onpolicy(onpolicy, "selection"),
                     "rows": onpolicy["rows"], "artifact": a.onpolicy} if onpolicy else None,
        "iterations": pair_stats,
        "mixtures": [{**read_json(f), "artifact": f} for f in a.mixture_stats],
        "benchmarks": bench_results,
        "tables": tables,
        "not_produced": missing,
        "artifacts": {m: e["artifact"] for m, e in evals.items()},
    }
    write_json(summary, a.json)
    plot_reward_vs_iteration(evals, a.plot, judge, pair_stats)
    if a.benchmark_plot:
        plot_benchmarks_vs_iteration(bench_results, a.benchmark_plot)

    # The paper's tables, as reStructuredText for the Snakemake report and as a standalone HTML page.
    sections = [("Held-out evaluation (judge: " + judge + ")", heldout_rows(evals), [
        ("model", "model"), ("decoding", "decoding"), ("mean_reward", "mean reward"), ("exact_rate", "exact answers"),
        ("win_rate_vs_sft", "win rate vs SFT"), ("mean_length_chars", "mean length (chars)"),
    ])]
    if tables["reward_model"]:
        sections.append(("Table 1: reward model, held-out pair accuracy (ties half)", tables["reward_model"], [("section", "held-out pairs"), ("pairs", "#pairs"), ("accuracy", "accuracy")]))
    # A sentence under a table, by the table's title (rendered in every format below).
    table_notes: dict[str, str] = {}
    if tables.get("judges"):
        j = tables["judges"]
        title = "Table 1: judges (held-out accuracy, RewardBench-style sections, ties half)"
        uninformative = uninformative_judges(j["rows"], a.judges)
        if uninformative:
            table_notes[title] = uninformative
        sections.append((title, j["rows"],
                         [("judge", "judge"), ("heldout_accuracy", "held-out accuracy")] + [(s, s) for s in j["sections"]]
                         + [("reward_bench_score", "score")]))
        sections.append(("Figure 3 (length-bias heatmap): mean per-prompt r(reward, length) over SFT samples", j["rows"],
                         [("judge", "judge"), ("length_r", "mean r")]))
    if tables.get("selection"):
        sections.append((f"Best iterate on validation: {tables['selection']['best']} -> results/final/policy", tables["selection"]["rows"],
                         [("model", "candidate"), ("mean_reward", "mean reward"), ("stderr", "stderr"), ("samples", "samples")]
                         + ([("oracle_reward", "oracle reward"), ("oracle_stderr", "oracle stderr"), ("oracle_best", "oracle's pick")] if onpolicy else [])))
    if tables.get("onpolicy"):
        sections.append(("Online judge on the policy's own samples (oracle-labelled pairs, ties half)", tables["onpolicy"],
                         [("policy", "sampling policy"), ("samples_from", "samples"), ("judge", "judge"), ("pairs", "#pairs"),
                          ("accuracy", "pair accuracy"), ("stderr", "stderr"), ("best_worst_right", "best-worst pairs right"),
                          ("oracle_reward", "mean oracle reward")]))
    if "benchmarks" in tables:
        b = tables["benchmarks"]
        length = [("mean_answer_chars", "mean answer length (chars)")]
        if b["chat"]:
            # Each chat column is named with its judge, GLM (AlpacaEval) and benchmark version.
            chat_cols = [(k, b["labels"][k]) for k in b["chat"]]
            sections.append(("Table 2: chat benchmarks", b["rows"], [("model", "model")] + chat_cols + length))
        if b["academic"]:
            sections.append(("Table 3: academic benchmarks (lm-eval, %)", b["rows"], [("model", "model")] + [(k, k) for k in b["academic"]]))
    if tables.get("length_ablation"):
        b = tables["benchmarks"]
        ablation = tables["length_ablation"]
        cols = [("run", "run"), ("length_penalty", "λ")] + [(k, column_label(k, [r.get(k) for r in ablation])) for k in b["chat"] + b["academic"]]
        cols += [("mean_answer_chars", "mean answer length (chars)")]
        sections.append((f"Table 4: length-penalty ablation ({last})", tables["length_ablation"], cols))
    for mix in tables["mixtures"] or []:
        sections.append((f"Table 5: mixture statistics ({mix['artifact']})", mix["rows"], list(MIXTURE_COLUMNS)))
    notes = [f"- **{m['item']}**: {m['why']}" for m in missing]
    rst = [f"Run ``{a.run_name}``: every number links to the artifact it came from.\n\n"]
    rst += [rst_table(t, r, c, report_link) + (f"{table_notes[t].replace('`', '``')}\n\n" if t in table_notes else "") + "\n" for t, r, c in sections]
    if notes:
        rst.append("Not produced by this run:\n\n" + "\n".join(notes) + "\n")
    Path(a.tables_rst).write_text("".join(rst))
    html_link = file_link(a.tables_html)
    body = "".join(html_table(t, r, c, html_link) + (f"<p>{html.escape(table_notes[t])}</p>" if t in table_notes else "") for t, r, c in sections)
    body += "<h2>Not produced by this run</h2><ul>" + "".join(f"<li><b>{m['item']}</b>: {m['why']}</li>" for m in missing) + "</ul>" if missing else ""
    style = "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #bbb;padding:4px 8px;text-align:right}th{background:#eee}a{text-decoration:none}"
    Path(a.tables_html).write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{a.run_name}</title><style>{style}</style></head><body><h1>Run {a.run_name}</h1>{body}</body></html>\n")

    md = [f"# Run `{a.run_name}`\n", f"Held-out evaluation, judge: **{judge}**. Every number is in `{a.json}` with its source file.\n"]
    md.append(markdown_table(rows, ["model", "decoding", "mean_reward", "stderr", "exact_rate", "win_rate_vs_sft", "mean_length_chars", "prompts"]))
    for m, o in summary["ordering"].items():
        verdict = o.get("sft_lt_offline_lt_iterative")
        md.append(
            f"\n**{m}**: SFT {o['sft']:.3f} · offline DPO {o['offline_dpo'] if o['offline_dpo'] is None else round(o['offline_dpo'], 3)} · "
            f"last iterate {o['last_iterate']:.3f} (best: {o['best_iterate']}). Paper's ordering SFT < offline < iterative: "
            f"{'holds' if verdict else 'does not hold' if verdict is False else 'n/a'}; rises every iteration: {o['rises_every_iteration']}.\n"
        )
    if claim:
        md.append(claim_markdown(claim))
    if summary["reward_model"]:
        rm = summary["reward_model"]
        md.append(f"\n## Reward model\n\nHeld-out pair accuracy {rm['accuracy']:.3f} on {rm['pairs']} pairs (`{a.rm_eval}`).")
        loop = (summary["onpolicy"] or {}).get("loop")
        if loop:
            md.append(f" On the policy's own samples (the loop's, oracle-labelled): {loop['accuracy']:.3f} ± {loop['stderr']:.3f} "
                      f"on {loop['pairs']} pairs (`{a.onpolicy}`).")
        md.append("\n")
    if pair_stats:
        md.append("\n## Iterations\n\n")
        md.append(markdown_table(
            [{**s, "dropped": sum(s["dropped"].values())} for s in pair_stats],
            ["iteration", "prompts", "responses", "pairs", "dropped", "mean_reward", "mean_top1_reward", "mean_chosen_chars", "mean_rejected_chars"],
        ))
    for title, trows, cols in sections:
        # Headers are the tables' labels (a chat benchmark's carries its judge, GLM and version).
        flat = [{label: (r.get(k)["value"] if isinstance(r.get(k), dict) else r.get(k)) for k, label in cols} for r in trows]
        md.append(f"\n## {title}\n\n" + markdown_table(flat, [label for _, label in cols]))
        if title in table_notes:
            md.append(f"\n{table_notes[title]}\n")
    if notes:
        md.append("\n## Not produced by this run\n\n" + "\n".join(notes) + "\n")
    md.append(f"\n![held-out reward vs iteration]({Path(a.plot).name})\n")
    if a.benchmark_plot:
        md.append(f"\n![benchmarks vs iteration]({Path(a.benchmark_plot).name})\n")
    for heatmap in a.length_bias_plots:
        md.append(f"\n![Figure 3, {Path(heatmap).stem}]({os.path.relpath(heatmap, Path(a.markdown).parent)})\n")
    Path(a.markdown).write_text("".join(md))
    log.info("report -> %s, %s, %s, %s", a.json, a.markdown, a.plot, a.tables_html)
