# Stage 3: Bradley-Terry reward model on a preference mixture, initialised from the SFT model, and its held-out
# accuracy.


rule train_reward_model:
    input:
        init=policy_dir("sft"),
        data=f"results/data/mixtures/{config['reward_model']['mixture']}.parquet",
    output:
        model=directory("results/rm/{rm}/model"),
        metrics="results/rm/{rm}/train_metrics.json",
    wildcard_constraints:
        rm=RM,
    params:
        launcher=launcher("reward_model"),
        hparams=training_hparams("reward_model"),
        seed=config["seed"],
    log:
        "results/logs/train_reward_model/{rm}.log",
    benchmark:
        "results/benchmarks/train_reward_model/{rm}.tsv"
    priority: LOOP_PRIORITY
    threads: compute("train_reward_model", "threads")
    resources:
        mem_mb=compute("train_reward_model", "mem_mb"),
        runtime=compute("train_reward_model", "runtime"),
        **training_gpus("train_reward_model"),
        nodes=compute("train_reward_model", "nodes"),
    conda:
        "../envs/training.yaml"
    shell:
        "{params.launcher} scripts/train_reward_model.py --init {input.init} --data {input.data}"
        " --hparams {params.hparams:q} --seed {params.seed} --threads {threads}"
        " --output {output.model} --metrics {output.metrics} > {log} 2>&1"


rule evaluate_reward_model:
    input:
        rm="results/rm/{rm}/model",
        pairs=clean_table(config["reward_model"]["heldout"]) if config["reward_model"].get("heldout") else [],
    output:
        metrics=report(
            "results/rm/{rm}/heldout.json",
            caption="../report/rm_heldout.rst",
            category="Reward model",
        ),
    wildcard_constraints:
        rm=RM,
    params:
        batch_size=config["online"]["scoring"].get("batch_size", 64),
        max_length=config["reward_model"]["max_length"],
    log:
        "results/logs/evaluate_reward_model/{rm}.log",
    benchmark:
        "results/benchmarks/evaluate_reward_model/{rm}.tsv"
    threads: compute("evaluate_reward_model", "threads")
    resources:
        mem_mb=compute("evaluate_reward_model", "mem_mb"),
        runtime=compute("evaluate_reward_model", "runtime"),
        gpu=compute("evaluate_reward_model", "gpu"),
    conda:
        "../envs/training.yaml"
    shell:
        "python scripts/evaluate_reward_model.py --rm {input.rm} --pairs {input.pairs} --batch-size {params.batch_size}"
        " --max-length {params.max_length} --threads {threads} --output {output.metrics} > {log} 2>&1"
