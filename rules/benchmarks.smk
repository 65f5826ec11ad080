# Stage 5b: benchmarks of the paper's Tables 2/3 over (model x benchmark): AlpacaEval-2 (LC win rate), MT-Bench
# (judge score 1-10, two turns), Arena-Hard (win rate vs a baseline), and lm-eval academic tasks. The made-up world
# synthesises small files in each benchmark's native format and judges with its oracle; real configs prefetch the
# official files on the login node and judge with an API or a local model.

HUB_BENCH = hub_benchmarks()
URL_BENCH = {k: v for k, v in CHAT_BENCH.items() if v["source"] == "url"}
BENCH_JUDGE = BENCH["judge"] if BENCH else None
SYNTH_BENCH = BENCH["synthetic"] if BENCH else None
SYNTHETIC_BENCH_NEEDED = any(v["source"] == "synthetic" for v in [*CHAT_BENCH.values(), *LM_TASKS.values()])


localrules:
    prefetch_benchmark,
    prefetch_benchmark_url,


if SYNTHETIC_BENCH_NEEDED:

    rule synthesize_benchmarks:
        """The made-up world's AlpacaEval, MT-Bench (with reference answers), Arena-Hard (both layouts) and lm-eval files,
        in each benchmark's native format."""
        output:
            data=directory("resources/benchmarks/synthetic"),
        params:
            world=as_json(config["world"]),
            sizes=as_json({k: SYNTH_BENCH[k] for k in ("alpaca_eval", "mt_bench", "arena_hard", "lm_eval")}),
            accuracy=SYNTH_BENCH["accuracy"],
            seed=config["seed"] + zlib.crc32(b"benchmarks") % 1_000_003,
        log:
            "results/logs/synthesize_benchmarks.log",
        threads: 1
        resources:
            **rule_resources("synthesize_dataset", gpu=False),
        conda:
            "../envs/data.yaml"
        shell:
            "python scripts/synthesize_benchmarks.py --world {params.world:q} --sizes {params.sizes:q}"
            " --accuracy {params.accuracy} --seed {params.seed} --output {output.data} > {log} 2>&1"


rule prefetch_benchmark:
    """Login node: a benchmark's Hub dataset at its pinned revision (compute nodes are offline)."""
    output:
        data=directory("resources/benchmarks/hub/{bench}"),
    wildcard_constraints:
        bench=names_regex(HUB_BENCH),
    params:
        repo=lambda wc: HUB_BENCH[wc.bench]["repo"],
        revision=lambda wc: HUB_BENCH[wc.bench]["revision"],
        files=lambda wc: " ".join(f"'{g}'" for g in HUB_BENCH[wc.bench]["files"]),
    log:
        "results/logs/prefetch_benchmark/{bench}.log",
    conda:
        "../envs/data.yaml"
    shell:
        "python scripts/prefetch.py --repo-type dataset --repo {params.repo} --revision {params.revision}"
        " --files {params.files} --output {output.data} > {log} 2>&1"


rule prefetch_benchmark_url:
    """Login node: benchmark files published outside the Hub (FastChat's MT-Bench, arena-hard-auto), by URL."""
    output:
        data=directory("resources/benchmarks/url/{bench}"),
    wildcard_constraints:
        bench=names_regex(URL_BENCH),
    params:
        urls=lambda wc: as_json(URL_BENCH[wc.bench]["urls"]),
    log:
        "results/logs/prefetch_benchmark/{bench}.log",
    conda:
        "../envs/data.yaml"
    shell:
        "python scripts/prefetch_url.py --urls {params.urls:q} --output {output.data} > {log} 2>&1"


if CHAT_BENCH:

    rule judge_benchmark:
        """Judge one policy's answers to one chat benchmark and score it (LC win rate, MT-Bench score, Arena-Hard win rate)."""
        input:
            answers=lambda wc: chat_answers(wc.model, wc.chat),
            data=lambda wc: benchmark_data_dir(wc.chat, CHAT_BENCH[wc.chat]),
            judge_model=model_dir("judge") if BENCH_JUDGE["kind"] == "local" else [],
        output:
            metrics=report(
                "results/eval/{model}/{chat}.json",
                caption="../report/benchmark.rst",
                category="Benchmarks",
                subcategory="{model}",
                labels={"model": "{model}", "benchmark": "{chat}"},
            ),
            annotations="results/eval/{model}/{chat}/annotations.jsonl",
        wildcard_constraints:
            chat=names_regex(CHAT_BENCH),
        params:
            questions=lambda wc: chat_file(wc.chat, "questions"),
            baseline=lambda wc: chat_option(wc.chat, "baseline", "baseline"),
            references=lambda wc: chat_option(wc.chat, "references", "references"),
            gamed=lambda wc: chat_option(wc.chat, "gamed", "gamed"),
            # arena-hard-auto's layout decides the verdict parser and the judge's settings (retry or not)
            layout=lambda wc: f"--layout {CHAT_BENCH[wc.chat]['layout']}" if wc.chat == "arena_hard" else "",
            version=lambda wc: benchmark_version(wc.chat, CHAT_BENCH[wc.chat]),
            # The judge section names the key's environment variable, never the key.
            judge=as_json(BENCH_JUDGE),
            judge_model=lambda wc, input: f"--judge-model {input.judge_model}" if input.judge_model else "",
            seed=config["seed"],
        log:
            "results/logs/eval/{model}/judge_{chat}.log",
        benchmark:
            "results/benchmarks/eval/{model}/judge_{chat}.tsv"
        threads: compute("judge_benchmark", "threads")
        resources:
            mem_mb=compute("judge_benchmark", "mem_mb"),
            runtime=compute("judge_benchmark", "runtime"),
            gpu=compute("judge_benchmark", "gpu") if BENCH_JUDGE["kind"] == "local" else 0,
        conda:
            "../envs/evaluation.yaml"
        shell:
            "python scripts/judge_benchmark.py --benchmark {wildcards.chat} --benchmark-version {params.version:q}"
            " --model-name {wildcards.model} --questions {params.questions} --answers {input.answers}"
            " {params.baseline} {params.references} {params.layout} {params.gamed}"
            " --judge {params.judge:q} {params.judge_model} --seed {params.seed}"
            " --annotations {output.annotations} --output {output.metrics} > {log} 2>&1"


if LM_TASKS:

    rule lm_eval:
        """lm-eval academic tasks of one policy in one pass (offline task files or prefetched Hub snapshots)."""
        input:
            model=lambda wc: policy_dir(wc.model),
            data=lm_eval_data,
        output:
            results=[
                report(
                    f"results/eval/{{model}}/{t}.json",
                    caption="../report/benchmark.rst",
                    category="Benchmarks",
                    subcategory="{model}",
                    labels={"model": "{model}", "benchmark": t},
                )
                for t in LM_TASKS
            ],
            samples=[f"results/eval/{{model}}/{t}/samples.jsonl" for t in LM_TASKS],
        params:
            tasks=lambda wc: as_json(lm_eval_task_specs(wc.model)),
            batch_size=LM_EVAL["batch_size"],
            max_gen_toks=f"--max-gen-toks {LM_EVAL['max_gen_toks']}" if LM_EVAL["max_gen_toks"] else "",
            limit=f"--limit {LM_EVAL['limit']}" if LM_EVAL["limit"] else "",
            chat_template="--apply-chat-template" if LM_EVAL["apply_chat_template"] else "",
            code="--allow-code-execution" if LM_EVAL["allow_code_execution"] else "",
            dtype=precision_dtype(config["dpo"]["precision"]),
            seed=config["seed"],
        log:
            "results/logs/eval/{model}/lm_eval.log",
        benchmark:
            "results/benchmarks/eval/{model}/lm_eval.tsv"
        threads: compute("lm_eval", "threads")
        resources:
            **rule_resources("lm_eval"),
        conda:
            "../envs/evaluation.yaml"
        shell:
            "python scripts/run_lm_eval.py --model {input.model} --model-name {wildcards.model} --tasks {params.tasks:q}"
            " --batch-size {params.batch_size} {params.max_gen_toks} {params.limit} {params.chat_template} {params.code}"
            " --dtype {params.dtype} --seed {params.seed} --threads {threads} > {log} 2>&1"
