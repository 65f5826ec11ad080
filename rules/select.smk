# Stage 4b: the recipe's output, the best iterate on a validation set. Validation prompts are the first slice of
# the prompt pool's seeded permutation (iteration 0), so they never meet an iteration's prompts; every candidate
# samples them, the configured judge scores the samples, and the highest mean reward becomes results/final/policy.


use rule select_prompts as select_validation_prompts with:
    output:
        prompts="results/selection/validation_prompts.parquet",
    params:
        iteration=0,
        per_iteration=ONLINE["prompts_per_iteration"],
        validation=VALIDATION_PROMPTS,
        seed=config["seed"],
    log:
        "results/logs/selection/select_validation_prompts.log",
    priority: SELECTION_PRIORITY


use rule generate as generate_validation with:
    input:
        model=lambda wc: policy_dir(wc.model),
        prompts="results/selection/validation_prompts.parquet",
    output:
        generations="results/selection/{model}/generations.parquet",
    params:
        # One seed for every candidate, so they are compared on the same sampling streams.
        **sampler_params(
            SELECTION["sampling"], SELECTION["max_new_tokens"], SELECTION["batch_size"], seed=config["seed"]
        ),
        subset="",
        benchmarks="",
    log:
        "results/logs/selection/{model}/generate.log",
    priority: SELECTION_PRIORITY
    benchmark:
        "results/benchmarks/selection/{model}/generate.tsv"


use rule score as judge_validation with:
    input:
        generations="results/selection/{model}/generations.parquet",
        rm=judge_of_kind(SELECTION["judge"]),
    output:
        scored="results/selection/{model}/scored.parquet",
    params:
        **judge_params(lambda wc: SELECTION["judge"]),
        subset="",
    log:
        "results/logs/selection/{model}/judge.log",
    priority: SELECTION_PRIORITY
    benchmark:
        "results/benchmarks/selection/{model}/judge.tsv"
    resources:
        **judge_resources("score", lambda wc: SELECTION["judge"]),


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
        **rule_resources("select_prompts", gpu=False),
    conda:
        "../envs/data.yaml"
    shell:
        "python scripts/select_best_iterate.py --names {params.names} --scored {input.scored} --models {input.models}"
        " --judge {params.judge} --output {output.model} --ranking {output.ranking} > {log} 2>&1"
