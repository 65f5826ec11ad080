# Stage 2: supervised fine-tuning of the base model on chat demonstrations.


rule train_sft:
    input:
        model=base_model_dir(),
        data=clean_table(config["sft"]["dataset"]),
    output:
        model=directory(policy_dir("sft")),
        metrics="results/sft/train_metrics.json",
    params:
        launcher=launcher("sft"),
        hparams=training_hparams("sft"),
        seed=config["seed"],
    log:
        "results/logs/train_sft.log",
    benchmark:
        "results/benchmarks/train_sft.tsv"
    priority: LOOP_PRIORITY
    threads: compute("train_sft", "threads")
    resources:
        mem_mb=compute("train_sft", "mem_mb"),
        runtime=compute("train_sft", "runtime"),
        **training_gpus("train_sft"),
        nodes=compute("train_sft", "nodes"),
    conda:
        "../envs/training.yaml"
    shell:
        "{params.launcher} scripts/train_sft.py --model {input.model} --data {input.data} --hparams {params.hparams:q}"
        " --seed {params.seed} --threads {threads} --output {output.model} --metrics {output.metrics} > {log} 2>&1"
