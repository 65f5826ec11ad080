# Stage 6: the report: a table of every policy's held-out metrics, the paper-ordering check, per-iteration pair
# statistics and the reward-vs-iteration figure (also in `snakemake --report`).


localrules:
    report,


rule report:
    input:
        evals=expand("results/eval/{model}/heldout.json", model=evaluated_models()),
        rm_eval=f"results/rm/{RM}/heldout.json" if config["reward_model"].get("heldout") else [],
        pair_stats=expand("results/iter{iteration}/pair_stats.json", iteration=ITERATIONS),
        mixture_stats=f"results/data/mixtures/{config['reward_model']['mixture']}.json",
    output:
        json=report("results/report/summary.json", caption="../report/summary.rst", category="Report"),
        markdown=report("results/report/summary.md", caption="../report/summary.rst", category="Report"),
        plot=report("results/report/reward_vs_iteration.png", caption="../report/reward_vs_iteration.rst", category="Report"),
    params:
        run_name=config["run_name"],
        rm_eval=lambda wc, input: f"--rm-eval {input.rm_eval}" if input.rm_eval else "",
    log:
        "results/logs/report.log",
    conda:
        "../envs/evaluation.yaml"
    shell:
        "python scripts/report.py --run-name {params.run_name} --evals {input.evals} {params.rm_eval}"
        " --pair-stats {input.pair_stats} --mixture-stats {input.mixture_stats}"
        " --json {output.json} --markdown {output.markdown} --plot {output.plot} > {log} 2>&1"
