# Stage 4: the offline DPO baseline and the online loop. Iteration t (a wildcard): prompts -> S generation shards
# -> gather (K checked) -> S scoring shards -> gather -> pairs -> DPO from pi_{t-1} against the configured reference.

ONLINE = config["online"]
GEN = ONLINE["generation"]
K = responses_per_prompt(GEN["sampling"])
ONLINE_JUDGE = ONLINE["scoring"].get("judge", "reward_model")


rule train_offline_dpo:
    """Vanilla DPO on a fixed preference dataset (Nectar in the paper), from and against the SFT model."""
    input:
        init=policy_dir("sft"),
        ref=policy_dir("sft"),
        pairs=clean_table(config["offline_dpo"]["dataset"]),
    output:
        model=directory(policy_dir("offline_dpo")),
        metrics="results/offline_dpo/train_metrics.json",
    params:
        launcher=launcher("offline_dpo"),
        hparams=training_hparams("offline_dpo"),
        seed=config["seed"],
    log:
        "results/logs/train_offline_dpo.log",
    benchmark:
        "results/benchmarks/train_offline_dpo.tsv"
    threads: compute("train_offline_dpo", "threads")
    resources:
        mem_mb=compute("train_offline_dpo", "mem_mb"),
        runtime=compute("train_offline_dpo", "runtime"),
        **training_gpus("train_offline_dpo"),
        nodes=compute("train_offline_dpo", "nodes"),
    conda:
        "../envs/training.yaml"
    shell:
        "{params.launcher} scripts/train_dpo.py --init {input.init} --ref {input.ref} --pairs {input.pairs}"
        " --hparams {params.hparams:q} --seed {params.seed} --threads {threads}"
        " --output {output.model} --metrics {output.metrics} > {log} 2>&1"


rule select_prompts:
    input:
        pool=clean_table(ONLINE["prompt_pool"]),
    output:
        prompts="results/iter{iteration}/prompts.parquet",
    params:
        per_iteration=ONLINE["prompts_per_iteration"],
        validation=VALIDATION_PROMPTS,
        seed=config["seed"],
    log:
        "results/logs/iter{iteration}/select_prompts.log",
    priority: LOOP_PRIORITY
    threads: 1
    resources:
        mem_mb=compute("select_prompts", "mem_mb"),
        runtime=compute("select_prompts", "runtime"),
        gpu=0,
    conda:
        "../envs/data.yaml"
    shell:
        "python scripts/select_prompts.py --pool {input.pool} --iteration {wildcards.iteration}"
        " --per-iteration {params.per_iteration} --validation {params.validation} --seed {params.seed}"
        " --output {output.prompts} > {log} 2>&1"


rule generate:
    """One shard of iteration t's prompts, n samples each, from the current policy pi_{t-1}."""
    input:
        model=generation_policy,
        prompts="results/iter{iteration}/prompts.parquet",
    output:
        generations="results/iter{iteration}/generations/{shard}.parquet",
    params:
        shards=len(GEN_SHARDS),
        sampling=as_json(GEN["sampling"]),
        max_new_tokens=GEN["max_new_tokens"],
        batch_size=GEN.get("batch_size", 64),
        backend=GEN["backend"],
        python=generation_python(),
        engine=generation_engine(),
        tp=GEN.get("tensor_parallel_size", 1),
        stop=as_json(GEN.get("stop_token_ids", [])),
        dtype="bfloat16" if config["dpo"].get("precision") == "bf16" else "float32",
        seed=lambda wc: config["seed"] + int(wc.iteration),
    log:
        "results/logs/iter{iteration}/generate/{shard}.log",
    benchmark:
        "results/benchmarks/iter{iteration}/generate/{shard}.tsv"
    priority: LOOP_PRIORITY
    threads: compute("generate", "threads")
    resources:
        mem_mb=compute("generate", "mem_mb"),
        runtime=compute("generate", "runtime"),
        gpu=compute("generate", "gpu"),
    conda:
        "../envs/generation.yaml"
    shell:
        "{params.python} scripts/generate.py --model {input.model} --prompts {input.prompts} --shard {wildcards.shard}"
        " --shards {params.shards} --sampling {params.sampling:q} --max-new-tokens {params.max_new_tokens}"
        " --batch-size {params.batch_size} --backend {params.backend} --tensor-parallel-size {params.tp}"
        " --stop-token-ids {params.stop:q} --dtype {params.dtype} --seed {params.seed} --threads {threads}"
        " --output {output.generations} {params.engine} > {log} 2>&1"


rule gather_generations:
    input:
        shards=expand("results/iter{{iteration}}/generations/{shard}.parquet", shard=GEN_SHARDS),
        prompts="results/iter{iteration}/prompts.parquet",
    output:
        generations="results/iter{iteration}/generations.parquet",
    params:
        k=K,
    log:
        "results/logs/iter{iteration}/gather_generations.log",
    priority: LOOP_PRIORITY
    threads: 1
    resources:
        mem_mb=compute("gather", "mem_mb"),
        runtime=compute("gather", "runtime"),
        gpu=0,
    conda:
        "../envs/data.yaml"
    shell:
        "python scripts/gather_shards.py --shards {input.shards} --expected {input.prompts} --per-prompt {params.k}"
        " --output {output.generations} > {log} 2>&1"


rule score:
    """Reward of every response of one shard of prompts."""
    input:
        generations="results/iter{iteration}/generations.parquet",
        rm=judge_of_kind(ONLINE_JUDGE),
    output:
        rewards="results/iter{iteration}/rewards/{shard}.parquet",
    params:
        judge=ONLINE_JUDGE,
        rm=lambda wc, input: f"--rm {input.rm}" if input.rm else "",
        judge_max_length=judge_max_length(ONLINE_JUDGE),
        shards=len(SCORE_SHARDS),
        batch_size=ONLINE["scoring"].get("batch_size", 64),
        max_length=ONLINE["scoring"].get("max_length", config["reward_model"]["max_length"]),
        dtype="bfloat16" if config["reward_model"].get("precision") == "bf16" else "float32",
    log:
        "results/logs/iter{iteration}/score/{shard}.log",
    benchmark:
        "results/benchmarks/iter{iteration}/score/{shard}.tsv"
    priority: LOOP_PRIORITY
    threads: compute("score", "threads")
    resources:
        mem_mb=compute("score", "mem_mb"),
        runtime=compute("score", "runtime"),
        gpu=compute("score", "gpu"),
    conda:
        "../envs/training.yaml"
    shell:
        "python scripts/score.py --generations {input.generations} --judge {params.judge} {params.rm}"
        " --shard {wildcards.shard} --shards {params.shards} --batch-size {params.batch_size}"
        " --max-length {params.max_length} --judge-max-length {params.judge_max_length} --dtype {params.dtype}"
        " --threads {threads} --output {output.rewards} > {log} 2>&1"


rule gather_rewards:
    input:
        shards=expand("results/iter{{iteration}}/rewards/{shard}.parquet", shard=SCORE_SHARDS),
        generations="results/iter{iteration}/generations.parquet",
    output:
        rewards="results/iter{iteration}/rewards.parquet",
    params:
        k=K,
    log:
        "results/logs/iter{iteration}/gather_rewards.log",
    priority: LOOP_PRIORITY
    threads: 1
    resources:
        mem_mb=compute("gather", "mem_mb"),
        runtime=compute("gather", "runtime"),
        gpu=0,
    conda:
        "../envs/data.yaml"
    shell:
        "python scripts/gather_shards.py --shards {input.shards} --expected {input.generations} --per-prompt {params.k}"
        " --output {output.rewards} > {log} 2>&1"


rule build_pairs:
    input:
        rewards="results/iter{iteration}/rewards.parquet",
    output:
        pairs="results/iter{iteration}/pairs.parquet",
        drops="results/iter{iteration}/pair_drops.parquet",
        stats="results/iter{iteration}/pair_stats.json",
    params:
        rule=ONLINE["pair_rule"],
        length_penalty=ONLINE["length_penalty"],
        seed=config["seed"],
    log:
        "results/logs/iter{iteration}/build_pairs.log",
    priority: LOOP_PRIORITY
    threads: 1
    resources:
        mem_mb=compute("build_pairs", "mem_mb"),
        runtime=compute("build_pairs", "runtime"),
        gpu=0,
    conda:
        "../envs/data.yaml"
    shell:
        "python scripts/build_pairs.py --rewards {input.rewards} --iteration {wildcards.iteration} --rule {params.rule}"
        " --length-penalty {params.length_penalty} --seed {params.seed} --output {output.pairs}"
        " --drops {output.drops} --stats {output.stats} > {log} 2>&1"


rule train_dpo:
    """Iteration t's policy: DPO from pi_{t-1} (online.init) against pi_0 = SFT (online.reference)."""
    input:
        init=dpo_init,
        ref=dpo_reference,
        pairs=dpo_pairs,
    output:
        model=directory("results/iter{iteration}/policy"),
        metrics="results/iter{iteration}/train_metrics.json",
    params:
        launcher=launcher("dpo"),
        hparams=training_hparams("dpo"),
        seed=lambda wc: config["seed"] + int(wc.iteration),
    log:
        "results/logs/iter{iteration}/train_dpo.log",
    benchmark:
        "results/benchmarks/iter{iteration}/train_dpo.tsv"
    priority: LOOP_PRIORITY
    threads: compute("train_dpo", "threads")
    resources:
        mem_mb=compute("train_dpo", "mem_mb"),
        runtime=compute("train_dpo", "runtime"),
        **training_gpus("train_dpo"),
        nodes=compute("train_dpo", "nodes"),
    conda:
        "../envs/training.yaml"
    shell:
        "{params.launcher} scripts/train_dpo.py --init {input.init} --ref {input.ref} --pairs {input.pairs}"
        " --hparams {params.hparams:q} --seed {params.seed} --threads {threads}"
        " --output {output.model} --metrics {output.metrics} > {log} 2>&1"
