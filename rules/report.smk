# Stage 6: the report: a table of every policy's held-out metrics, the paper-ordering check, per-iteration pair
# statistics and the reward-vs-iteration figure, and the paper's tables (1-5) and Figure 8 as far as the config
# produces them (also in `snakemake --report`).


localrules:
    report,


rule report:
    input:
        evals=expand("results/eval/{model}/heldout.json", model=evaluated_models()),
        rm_eval=f"results/rm/{RM}/heldout.json" if config["reward_model"]["heldout"] else [],
        pair_stats=expand("results/iter{iteration}/pair_stats.json", iteration=ITERATIONS),
        mixture_stats=f"results/data/mixtures/{config['reward_model']['mixture']}.json",
        benchmarks=benchmark_outputs(),
        # Table 5 reads the mixture-statistics stage's files only where this workflow has that stage.
        table5_stats=lambda wc: [
            f
            for f in (f"results/data/stats/{m}.json" for m in config["mixtures"])
            if produced_by_workflow(module_path(f))
        ],
        compare=[c["summary"] for c in config["report"]["compare"]],
        judges="results/rm/judges.json",
        length_bias_plots=[f"results/rm/length_bias/{n}.png" for n in LB_JUDGES] if LB else [],
        selection="results/selection/best.json" if SELECTION else [],
        ordering="results/eval/ordering.json",
        onpolicy="results/onpolicy/accuracy.json" if ONPOLICY else [],
    output:
        json=report("results/report/summary.json", caption="../report/summary.rst", category="Report"),
        markdown=report("results/report/summary.md", caption="../report/summary.rst", category="Report"),
        plot=report(
            "results/report/reward_vs_iteration.png", caption="../report/reward_vs_iteration.rst", category="Report"
        ),
        tables_rst="results/report/tables.rst",
        tables_html=report("results/report/tables.html", caption="../report/paper_tables.rst", category="Report"),
        benchmark_plot=(
            report(
                "results/report/benchmarks_vs_iteration.png",
                caption="../report/benchmarks_vs_iteration.rst",
                category="Report",
            )
            if benchmark_names()
            else []
        ),
    params:
        run_name=config["run_name"],
        rm_eval=lambda wc, input: f"--rm-eval {input.rm_eval}" if input.rm_eval else "",
        benchmarks=lambda wc, input: f"--benchmarks {' '.join(input.benchmarks)}" if input.benchmarks else "",
        table5=lambda wc, input: f"--table5-stats {' '.join(input.table5_stats)}" if input.table5_stats else "",
        compare=as_json(config["report"]["compare"]),
        facts=as_json(
            {
                "length_penalty": config["online"]["length_penalty"],
                "iterations": config["iterations"],
                "held_back": LM_TASKS_HELD_BACK,
            }
        ),
        benchmark_plot=lambda wc, output: f"--benchmark-plot {output.benchmark_plot}" if output.benchmark_plot else "",
        length_bias=lambda wc, input: (
            f"--length-bias-plots {' '.join(input.length_bias_plots)}" if input.length_bias_plots else ""
        ),
        selection=lambda wc, input: f"--selection {input.selection}" if input.selection else "",
        onpolicy=lambda wc, input: f"--onpolicy {input.onpolicy}" if input.onpolicy else "",
    log:
        "results/logs/report.log",
    conda:
        "../envs/evaluation.yaml"
    shell:
        "python scripts/report.py --run-name {params.run_name} --evals {input.evals} {params.rm_eval}"
        " --pair-stats {input.pair_stats} --mixture-stats {input.mixture_stats} {params.benchmarks} {params.table5}"
        " --compare {params.compare:q} --facts {params.facts:q} --json {output.json} --markdown {output.markdown}"
        " --plot {output.plot} --tables-rst {output.tables_rst} --tables-html {output.tables_html} {params.benchmark_plot}"
        " --judges {input.judges} {params.length_bias} {params.selection} --ordering {input.ordering} {params.onpolicy}"
        " > {log} 2>&1"
