# Stage 5: held-out evaluation of SFT, offline DPO and every iterate: sample (greedy and sampled decoding), judge
# (the made-up world's oracle, or the reward model for real configs), metrics incl. win rate against SFT.

EVAL = config["evaluation"]
EVAL_JUDGE = EVAL["judge"]


use rule generate as generate_eval with:
    input:
        model=lambda wc: policy_dir(wc.model),
        prompts=clean_table(EVAL["prompts"]),
        benchmarks=sorted({benchmark_data_dir(k, v) for k, v in CHAT_BENCH.items()}),
    output:
        generations="results/eval/{model}/generations.parquet",
        # the chat benchmarks' greedy answers in their native formats (rules/benchmarks.smk judges them)
        answers=[chat_answers("{model}", b) for b in CHAT_BENCH],
    params:
        # The same seed for every model: differences between models are not sampling luck of different streams.
        **sampler_params(EVAL["sampling"], EVAL["max_new_tokens"], EVAL["batch_size"], seed=config["seed"]),
        subset="",
        benchmarks=benchmark_answers_arg,
    log:
        "results/logs/eval/{model}/generate.log",
    priority: SIDE_PRIORITY
    benchmark:
        "results/benchmarks/eval/{model}/generate.tsv"


use rule score as judge_eval with:
    input:
        generations="results/eval/{model}/generations.parquet",
        rm=judge_of_kind(EVAL_JUDGE),
    output:
        scored="results/eval/{model}/scored.parquet",
    params:
        **judge_params(lambda wc: EVAL_JUDGE),
        subset="",
    log:
        "results/logs/eval/{model}/judge.log",
    priority: SIDE_PRIORITY
    benchmark:
        "results/benchmarks/eval/{model}/judge.tsv"
    resources:
        **judge_resources("score", lambda wc: EVAL_JUDGE),


rule evaluate_policy:
    input:
        scored="results/eval/{model}/scored.parquet",
        baseline="results/eval/sft/scored.parquet",
    output:
        metrics=report(
            "results/eval/{model}/heldout.json",
            caption="../report/heldout.rst",
            category="Held-out evaluation",
            labels={"model": "{model}"},
        ),
    params:
        judge=EVAL_JUDGE,
    log:
        "results/logs/eval/{model}/evaluate.log",
    benchmark:
        "results/benchmarks/eval/{model}/evaluate.tsv"
    threads: 1
    resources:
        **rule_resources("evaluate_policy", gpu=False),
    conda:
        "../envs/data.yaml"
    shell:
        "python scripts/evaluate_policy.py --model-name {wildcards.model} --scored {input.scored}"
        " --baseline {input.baseline} --judge {params.judge} --output {output.metrics} > {log} 2>&1"


rule check_ordering:
    """The paper's claim as a test on the held-out samples: every adjacent step of SFT < offline DPO < iter1 < ...
    (evaluated_models, in that order), as a paired difference over the same prompts with its standard error."""
    input:
        scored=expand("results/eval/{model}/scored.parquet", model=evaluated_models()),
    output:
        ordering=report("results/eval/ordering.json", caption="../report/summary.rst", category="Held-out evaluation"),
    params:
        scored=lambda wc, input: " ".join(f"{m}={p}" for m, p in zip(evaluated_models(), input.scored)),
        chain=" ".join(evaluated_models()),
        judge=EVAL_JUDGE,
    log:
        "results/logs/eval/check_ordering.log",
    benchmark:
        "results/benchmarks/eval/check_ordering.tsv"
    threads: 1
    resources:
        mem_mb=compute("evaluate_policy", "mem_mb"),
        runtime=compute("evaluate_policy", "runtime"),
        gpu=0,
    conda:
        "../envs/data.yaml"
    shell:
        "python scripts/check_ordering.py --scored {params.scored} --chain {params.chain} --judge {params.judge}"
        " --output {output.ordering} > {log} 2>&1"
