# Stage 4: the online loop and the offline DPO baseline. Iteration t (a wildcard): prompts -> S generation shards
# -> gather (K checked) -> S scoring shards -> gather -> pairs -> DPO from pi_{t-1} against the configured reference.

ONLINE = config["online"]
K = responses_per_prompt(GEN["sampling"])
ONLINE_JUDGE = SCORING["judge"]


rule select_prompts:
    input:
        pool=clean_table(ONLINE["prompt_pool"]),
    output:
        prompts="results/iter{iteration}/prompts.parquet",
    params:
        iteration=lambda wc: wc.iteration,
        per_iteration=ONLINE["prompts_per_iteration"],
        validation=VALIDATION_PROMPTS,
        seed=config["seed"],
    log:
        "results/logs/iter{iteration}/select_prompts.log",
    priority: LOOP_PRIORITY
    threads: 1
    resources:
        **rule_resources("select_prompts", gpu=False),
    conda:
        "../envs/data.yaml"
    shell:
        "python scripts/select_prompts.py --pool {input.pool} --iteration {params.iteration}"
        " --per-iteration {params.per_iteration} --validation {params.validation} --seed {params.seed}"
        " --output {output.prompts} > {log} 2>&1"


rule generate:
    """One shard of iteration t's prompts, n samples each, from the current policy pi_{t-1}. The one definition of
    sampling a policy: held-out evaluation, validation and the length-bias study are `use rule generate as ...`."""
    input:
        model=generation_policy,
        prompts="results/iter{iteration}/prompts.parquet",
    output:
        generations="results/iter{iteration}/generations/{shard}.parquet",
    params:
        **sampler_params(
            GEN["sampling"],
            GEN["max_new_tokens"],
            GEN["batch_size"],
            seed=lambda wc: config["seed"] + int(wc.iteration),
        ),
        subset=lambda wc: f" --shard {wc.shard} --shards {len(GEN_SHARDS)}",
        benchmarks="",
    log:
        "results/logs/iter{iteration}/generate/{shard}.log",
    benchmark:
        "results/benchmarks/iter{iteration}/generate/{shard}.tsv"
    priority: LOOP_PRIORITY
    threads: compute("generate", "threads")
    resources:
        **rule_resources("generate"),
    conda:
        "../envs/generation.yaml"
    shell:
        "{params.python} scripts/generate.py --model {input.model} --prompts {input.prompts}{params.subset}"
        " --sampling {params.sampling:q} {params.decoding} --threads {threads} --output {output.generations}"
        " {params.benchmarks} > {log} 2>&1"


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
        **rule_resources("gather", gpu=False),
    conda:
        "../envs/data.yaml"
    shell:
        "python scripts/gather_shards.py --shards {input.shards} --expected {input.prompts} --per-prompt {params.k}"
        " --output {output.generations} > {log} 2>&1"


rule score:
    """Reward of every response of one shard of prompts. The one definition of scoring with a judge: held-out
    evaluation, validation and the length-bias study are `use rule score as ...`."""
    input:
        generations="results/iter{iteration}/generations.parquet",
        rm=judge_of_kind(ONLINE_JUDGE),
    output:
        scored="results/iter{iteration}/rewards/{shard}.parquet",
    params:
        **judge_params(lambda wc: ONLINE_JUDGE),
        subset=lambda wc: f" --shard {wc.shard} --shards {len(SCORE_SHARDS)}",
    log:
        "results/logs/iter{iteration}/score/{shard}.log",
    benchmark:
        "results/benchmarks/iter{iteration}/score/{shard}.tsv"
    priority: LOOP_PRIORITY
    threads: compute("score", "threads")
    resources:
        **judge_resources("score", lambda wc: ONLINE_JUDGE),
    conda:
        "../envs/training.yaml"
    shell:
        "python scripts/score.py --generations {input.generations} --judge {params.judge}{params.rm}{params.subset}"
        " --batch-size {params.batch_size} --max-length {params.max_length} --judge-max-length {params.judge_max_length}"
        " --dtype {params.dtype} --threads {threads} --output {output.scored} > {log} 2>&1"


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
        **rule_resources("gather", gpu=False),
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
        **rule_resources("build_pairs", gpu=False),
    conda:
        "../envs/data.yaml"
    shell:
        "python scripts/build_pairs.py --rewards {input.rewards} --iteration {wildcards.iteration} --rule {params.rule}"
        " --length-penalty {params.length_penalty} --seed {params.seed} --output {output.pairs}"
        " --drops {output.drops} --stats {output.stats} > {log} 2>&1"


rule train_dpo:
    """Iteration t's policy: DPO from pi_{t-1} (online.init) against pi_0 = SFT (online.reference). The offline
    baseline is the same trainer on a fixed dataset (`use rule train_dpo as train_offline_dpo`)."""
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
        **training_resources("train_dpo"),
    conda:
        "../envs/training.yaml"
    shell:
        "{params.launcher} scripts/train_dpo.py --init {input.init} --ref {input.ref} --pairs {input.pairs}"
        " --hparams {params.hparams:q} --seed {params.seed} --threads {threads}"
        " --output {output.model} --metrics {output.metrics} > {log} 2>&1"


use rule train_dpo as train_offline_dpo with:
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
    priority: SIDE_PRIORITY
    benchmark:
        "results/benchmarks/train_offline_dpo.tsv"
    threads: compute("train_offline_dpo", "threads")
    resources:
        **training_resources("train_offline_dpo"),
