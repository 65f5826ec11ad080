# Stage 5: held-out evaluation of SFT, offline DPO and every iterate: sample (greedy and sampled decoding), judge
# (the made-up world's oracle, or the reward model for real configs), metrics incl. win rate against SFT.

EVAL = config["evaluation"]
EVAL_JUDGE = EVAL["judge"]


rule generate_eval:
    input:
        model=lambda wc: policy_dir(wc.model),
        prompts=clean_table(EVAL["prompts"]),
    output:
        generations="results/eval/{model}/generations.parquet",
    params:
        sampling=as_json(EVAL["sampling"]),
        max_new_tokens=EVAL["max_new_tokens"],
        batch_size=EVAL.get("batch_size", 64),
        backend=GEN["backend"],
        python=generation_python(),
        engine=generation_engine(),
        tp=GEN.get("tensor_parallel_size", 1),
        stop=as_json(GEN.get("stop_token_ids", [])),
        dtype="bfloat16" if config["dpo"].get("precision") == "bf16" else "float32",
        # The same seed for every model: differences between models are not sampling luck of different streams.
        seed=config["seed"],
    log:
        "results/logs/eval/{model}/generate.log",
    benchmark:
        "results/benchmarks/eval/{model}/generate.tsv"
    threads: compute("generate", "threads")
    resources:
        mem_mb=compute("generate", "mem_mb"),
        runtime=compute("generate", "runtime"),
        gpu=compute("generate", "gpu"),
    conda:
        "../envs/generation.yaml"
    shell:
        "{params.python} scripts/generate.py --model {input.model} --prompts {input.prompts} --sampling {params.sampling:q}"
        " --max-new-tokens {params.max_new_tokens} --batch-size {params.batch_size} --backend {params.backend}"
        " --tensor-parallel-size {params.tp} --stop-token-ids {params.stop:q} --dtype {params.dtype} --seed {params.seed}"
        " --threads {threads} --output {output.generations} {params.engine} > {log} 2>&1"


rule judge_eval:
    input:
        generations="results/eval/{model}/generations.parquet",
        rm=rm_dir() if EVAL_JUDGE == "reward_model" else [],
    output:
        scored="results/eval/{model}/scored.parquet",
    params:
        judge=EVAL_JUDGE,
        rm=lambda wc, input: f"--rm {input.rm}" if EVAL_JUDGE == "reward_model" else "",
        batch_size=ONLINE["scoring"].get("batch_size", 64),
        max_length=ONLINE["scoring"].get("max_length", config["reward_model"]["max_length"]),
    log:
        "results/logs/eval/{model}/judge.log",
    benchmark:
        "results/benchmarks/eval/{model}/judge.tsv"
    threads: compute("score", "threads")
    resources:
        mem_mb=compute("score", "mem_mb"),
        runtime=compute("score", "runtime"),
        gpu=compute("score", "gpu") if EVAL_JUDGE == "reward_model" else 0,
    conda:
        "../envs/training.yaml"
    shell:
        "python scripts/score.py --generations {input.generations} --judge {params.judge} {params.rm}"
        " --batch-size {params.batch_size} --max-length {params.max_length} --threads {threads}"
        " --output {output.scored} > {log} 2>&1"


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
        mem_mb=compute("evaluate_policy", "mem_mb"),
        runtime=compute("evaluate_policy", "runtime"),
        gpu=0,
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
