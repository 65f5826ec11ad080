"""The run's report: summary.json (every number, with the file it came from), summary.md and the plot of held-out
reward against iteration."""

from pathlib import Path

import _bootstrap  # noqa: F401

from online_rlhf.cli import logger, parser
from online_rlhf.report import markdown_table, ordering_check, plot_reward_vs_iteration, policy_table
from online_rlhf.tables import read_json, write_json

log = logger("report")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--run-name", required=True)
    p.add_argument("--evals", nargs="+", required=True, help="results/eval/<model>/heldout.json files")
    p.add_argument("--rm-eval", default=None)
    p.add_argument("--pair-stats", nargs="*", default=[])
    p.add_argument("--mixture-stats", nargs="*", default=[])
    p.add_argument("--json", required=True)
    p.add_argument("--markdown", required=True)
    p.add_argument("--plot", required=True)
    a = p.parse_args()
    evals = {}
    for path in a.evals:
        e = read_json(path)
        evals[e["model"]] = {**e, "artifact": path}
    judge = next(iter(evals.values()))["judge"]
    rows = policy_table(evals)
    modes = sorted({r["decoding"] for r in rows}, key=lambda m: m != "greedy")
    pair_stats = [{**read_json(f), "artifact": f} for f in a.pair_stats]
    summary = {
        "run_name": a.run_name,
        "judge": judge,
        "policies": rows,
        "ordering": {m: ordering_check(evals, m) for m in modes},
        "reward_model": {**read_json(a.rm_eval), "artifact": a.rm_eval} if a.rm_eval else None,
        "iterations": pair_stats,
        "mixtures": [{**read_json(f), "artifact": f} for f in a.mixture_stats],
        "artifacts": {m: e["artifact"] for m, e in evals.items()},
    }
    write_json(summary, a.json)
    plot_reward_vs_iteration(evals, a.plot, judge, pair_stats)

    md = [f"# Run `{a.run_name}`\n", f"Held-out evaluation, judge: **{judge}**. Every number is in `{a.json}` with its source file.\n"]
    md.append(markdown_table(rows, ["model", "decoding", "mean_reward", "stderr", "exact_rate", "win_rate_vs_sft", "mean_length_chars", "prompts"]))
    for m, o in summary["ordering"].items():
        verdict = o.get("sft_lt_offline_lt_iterative")
        md.append(
            f"\n**{m}**: SFT {o['sft']:.3f} · offline DPO {o['offline_dpo'] if o['offline_dpo'] is None else round(o['offline_dpo'], 3)} · "
            f"last iterate {o['last_iterate']:.3f} (best: {o['best_iterate']}). Paper's ordering SFT < offline < iterative: "
            f"{'holds' if verdict else 'does not hold' if verdict is False else 'n/a'}; rises every iteration: {o['rises_every_iteration']}.\n"
        )
    if summary["reward_model"]:
        rm = summary["reward_model"]
        md.append(f"\n## Reward model\n\nHeld-out pair accuracy {rm['accuracy']:.3f} on {rm['pairs']} pairs (`{a.rm_eval}`).\n")
    if pair_stats:
        md.append("\n## Iterations\n\n")
        md.append(markdown_table(
            [{**s, "dropped": sum(s["dropped"].values())} for s in pair_stats],
            ["iteration", "prompts", "responses", "pairs", "dropped", "mean_reward", "mean_top1_reward", "mean_chosen_chars", "mean_rejected_chars"],
        ))
    md.append(f"\n![held-out reward vs iteration]({Path(a.plot).name})\n")
    Path(a.markdown).write_text("".join(md))
    log.info("report -> %s, %s, %s", a.json, a.markdown, a.plot)
