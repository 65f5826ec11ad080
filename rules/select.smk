# Stage 4b: the recipe's output, the best iterate on a validation set. Validation prompts are the first slice of
# the prompt pool's seeded permutation (iteration 0), so they never meet an iteration's prompts; every candidate
# samples them, the configured judge scores the samples, and the highest mean reward becomes results/final/policy.


rule select_validation_prompts:
    input:
        pool=clean_table(ONLINE["prompt_pool"]),
    output:
        prompts="results/selection/validation_prompts.parquet",
    params:
        validation=VALIDATION_PROMPTS,
        per_iteration=ONLINE["prompts_per_iteration"],
        seed=config["seed"],
    log:
        "results/logs/selection/select_validation_prompts.log",
    threads: 1
    resources:
        mem_mb=compute("select_prompts", "mem_mb"),
        runtime=compute("select_prompts", "runtime"),
        gpu=0,
    conda:
        "../envs/data.yaml"
    shell:
        "python scripts/select_prompts.py --pool {input.pool} --iteration 0 --validation {params.validation}"
        " --per-iteration {params.per_iteration} --seed {params.seed} --output {output.prompts} > {log} 2>&1"


rule generate_validation:
    input:
        model=lambda wc: policy_dir(wc.model),
        prompts="results/selection/validation_prompts.parquet",
    output:
        generations="results/selection/{model}/generations.parquet",
    params:
        sampling=as_json(SELECTION["sampling"]),
        max_new_tokens=SELECTION["max_new_tokens"],
        batch_size=SELECTION.get("batch_size", 64),
        backend=GEN["backend"],
        python=generation_python(),
        engine=generation_engine(),
        tp=GEN.get("tensor_parallel_size", 1),
        stop=as_json(GEN.get("stop_token_ids", [])),
        dtype="bfloat16" if config["dpo"].get("precision") == "bf16" else "float32",
        # One seed for every candidate, so they are compared on the same sampling streams.
        seed=config["seed"],
    log:
        "results/logs/selection/{model}/generate.log",
    benchmark:
        "results/benchmarks/selection/{model}/generate.tsv"
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
        " --tensor-parallel-size {params.tp} --stop-token-ids {params.stop:q} --dtype {params.dtype}"
        " --seed {params.seed} --threads {threads} --output {output.generations} {params.engine} > {log} 2>&1"


rule judge_validation:
    input:
        generations="results/selection/{model}/generations.parquet",
        rm=rm_dir() if SELECTION["judge"] == "reward_model" else [],
    output:
        scored="results/selection/{model}/scored.parquet",
    params:
        judge=SELECTION["judge"],
        rm=lambda wc, input: f"--rm {input.rm}" if input.rm else "",
        batch_size=ONLINE["scoring"].get("batch_size", 64),
        max_length=ONLINE["scoring"].get("max_length", config["reward_model"]["max_length"]),
        dtype="bfloat16" if config["reward_model"].get("precision") == "bf16" else "float32",
    log:
        "results/logs/selection/{model}/judge.log",
    benchmark:
        "results/benchmarks/selection/{model}/judge.tsv"
    threads: compute("score", "threads")
    resources:
        mem_mb=compute("score", "mem_mb"),
        runtime=compute("score", "runtime"),
        gpu=compute("score", "gpu") if SELECTION["judge"] == "reward_model" else 0,
    conda:
        "../envs/training.yaml"
    shell:
        "python scripts/score.py --generations {input.generations} --judge {params.judge} {params.rm}"
        " --batch-size {params.batch_size} --max-length {params.max_length} --dtype {params.dtype}"
        " --threads {threads} --output {output.scored} > {log} 2>&1"


rule select_best_iterate:
    input:
        scored=expand("results/selection/{model}/scored.parquet", model=selection_candidates()),
        models=[policy_dir(m) for m in selection_candidates()],
    output:
        model=directory("results/final/policy"),
        ranking=report("results/selection/best.json", caption="../report/selection.rst", category="Report"),
    params:
        names=selection_candidates(),
        judge=SELECTION["judge"],
    log:
        "results/logs/selection/select_best_iterate.log",
    threads: 1
    resources:
        mem_mb=compute("select_prompts", "mem_mb"),
        runtime=compute("select_prompts", "runtime"),
        gpu=0,
    conda:
        "../envs/data.yaml"
    shell:
        "python scripts/select_best_iterate.py --names {params.names} --scored {input.scored} --models {input.models}"
        " --judge {params.judge} --output {output.model} --ranking {output.ranking} > {log} 2>&1"
