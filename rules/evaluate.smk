# Stage 5: held-out evaluation of SFT, offline DPO and every iterate: sample (greedy and sampled decoding), judge
# (the made-up world's oracle, or the reward model for real configs), metrics incl. win rate against SFT.

EVAL = config["evaluation"]
EVAL_JUDGE = EVAL["judge"]


use rule generate as generate_eval with:
    input:
        model=lambda wc: policy_dir(wc.model),
        prompts=clean_table(EVAL["prompts"]),
    output:
        generations="results/eval/{model}/generations.parquet",
    params:
        # The same seed for every model: differences between models are not sampling luck of different streams.
        **sampler_params(EVAL["sampling"], EVAL["max_new_tokens"], EVAL["batch_size"], seed=config["seed"]),
        subset="",
    log:
        "results/logs/eval/{model}/generate.log",
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
    threads: 1
    resources:
        **rule_resources("evaluate_policy", gpu=False),
    conda:
        "../envs/data.yaml"
    shell:
        "python scripts/evaluate_policy.py --model-name {wildcards.model} --scored {input.scored}"
        " --baseline {input.baseline} --judge {params.judge} --output {output.metrics} > {log} 2>&1"
