# Stage 3-4 of the paper beside the BT model: the pairwise preference model, and the studies of every judge:
# RewardBench-style accuracy (Table 1) and length bias on SFT samples (Figure 3).

RB = config["reward_bench"]
LB = config["length_bias"]
# The oracle joins the length-bias study where it exists (the made-up world): the ground truth's own length bias.
LB_JUDGES = {
    **JUDGES,
    **({"oracle": "oracle"} if DATASETS[config["evaluation"]["prompts"]]["source"] == "synthetic" else {}),
}


EXTERNAL_RM = config["models"]["reward"] if "reward" in config["models"] else None
if EXTERNAL_RM:

    ruleorder: adopt_reward_model > train_reward_model

    rule adopt_reward_model:
        """An external trained BT RM (models.reward) becomes reward_model.name's folder instead of a trained one."""
        input:
            model=EXTERNAL_RM["path"] if EXTERNAL_RM["source"] == "local" else "resources/models/prefetched/reward",
        output:
            model=directory(rm_dir()),
        params:
            pad=f"--pad-token {shlex.quote(EXTERNAL_RM['pad_token'])}" if EXTERNAL_RM["pad_token"] else "",
            template=f"--chat-template {EXTERNAL_RM['chat_template']}" if EXTERNAL_RM["chat_template"] else "",
        log:
            "results/logs/adopt_reward_model.log",
        threads: 1
        resources:
            **rule_resources("adopt_reward_model", gpu=False),
        conda:
            "../envs/training.yaml"
        shell:
            "python scripts/adopt_reward_model.py --model {input.model} {params.pad} {params.template}"
            " --output {output.model} > {log} 2>&1"


if PM:

    rule train_preference_model:
        """Pairwise preference model from the SFT model: label token A/B after [CONTEXT]/[RESPONSE A]/[RESPONSE B]."""
        input:
            init=policy_dir("sft"),
            data=f"results/data/mixtures/{PM['mixture']}.parquet",
        output:
            model=directory(judge_dir(PM["name"])),
            metrics=f"results/rm/{PM['name']}/train_metrics.json",
        params:
            launcher=launcher("preference_model"),
            hparams=training_hparams("preference_model"),
            seed=config["seed"],
        log:
            f"results/logs/train_preference_model/{PM['name']}.log",
        benchmark:
            f"results/benchmarks/train_preference_model/{PM['name']}.tsv"
        threads: compute("train_preference_model", "threads")
        resources:
            **training_resources("train_preference_model"),
        conda:
            "../envs/training.yaml"
        shell:
            "{params.launcher} scripts/train_preference_model.py --init {input.init} --data {input.data}"
            " --hparams {params.hparams:q} --seed {params.seed} --threads {threads}"
            " --output {output.model} --metrics {output.metrics} > {log} 2>&1"

    use rule evaluate_reward_model as evaluate_preference_model with:
        input:
            rm=judge_dir(PM["name"]),
            pairs=clean_table(config["reward_model"]["heldout"]) if config["reward_model"]["heldout"] else [],
        output:
            # held-out accuracy of the pairwise model on the BT model's held-out pairs, both orders averaged
            metrics=report(
                f"results/rm/{PM['name']}/heldout.json",
                caption="../report/pm_heldout.rst",
                category="Reward models",
            ),
        params:
            **judge_params(lambda wc: "preference_model"),
        log:
            f"results/logs/evaluate_preference_model/{PM['name']}.log",
        benchmark:
            f"results/benchmarks/evaluate_preference_model/{PM['name']}.tsv"


if RB and RB["source"] == "hub":

    localrules:
        prefetch_reward_bench,

    rule prefetch_reward_bench:
        """Login node: RewardBench's files at the pinned revision."""
        output:
            data=directory("resources/benchmarks/hub/reward_bench"),
        params:
            repo=RB["repo"],
            revision=RB["revision"],
            files=RB["files"],
        log:
            "results/logs/prefetch_reward_bench.log",
        conda:
            "../envs/data.yaml"
        shell:
            "python scripts/prefetch.py --repo-type dataset --repo {params.repo} --revision {params.revision}"
            " --files {params.files:q} --output {output.data} > {log} 2>&1"


if RB:

    rule build_reward_bench:
        input:
            data={
                "hub": "resources/benchmarks/hub/reward_bench",
                "local": RB["path"] if RB["source"] == "local" else [],
                "synthetic": [],
            }[RB["source"]],
        output:
            table="results/data/reward_bench.parquet",
        params:
            source=RB["source"],
            args=lambda wc, input: (
                f"--world {shlex.quote(as_json(config['world']))} --rows-per-subset {RB['rows_per_subset']} --seed {config['seed']}"
                if RB["source"] == "synthetic"
                else f"--data {input.data} --files {shlex.quote(RB['files'])}"
            ),
        log:
            "results/logs/build_reward_bench.log",
        threads: 1
        resources:
            **rule_resources("build_reward_bench", gpu=False),
        conda:
            "../envs/data.yaml"
        shell:
            "python scripts/build_reward_bench.py --source {params.source} {params.args} --output {output.table} > {log} 2>&1"

    rule reward_bench:
        """RewardBench-style table of one judge: per subset, per section (the benchmark's weighting), overall."""
        input:
            benchmark="results/data/reward_bench.parquet",
            rm=lambda wc: judge_dir(wc.judge),
        output:
            metrics=report(
                "results/rm/{judge}/rewardbench.json",
                caption="../report/rewardbench.rst",
                category="Reward models",
                subcategory="{judge}",
            ),
            table="results/rm/{judge}/rewardbench.md",
        wildcard_constraints:
            judge=names_regex(JUDGES),
        params:
            **judge_params(lambda wc: JUDGES[wc.judge], batch_size=RB["batch_size"]),
        log:
            "results/logs/reward_bench/{judge}.log",
        benchmark:
            "results/benchmarks/reward_bench/{judge}.tsv"
        threads: compute("evaluate_reward_model", "threads")
        resources:
            **rule_resources("evaluate_reward_model"),
        conda:
            "../envs/training.yaml"
        shell:
            "python scripts/reward_bench.py --benchmark {input.benchmark} --kind {params.judge} --model {input.rm}"
            " --name {wildcards.judge} --batch-size {params.batch_size} --max-length {params.judge_max_length}"
            " --dtype {params.dtype} --threads {threads} --output {output.metrics} --table {output.table} > {log} 2>&1"


if LB:

    use rule generate as length_bias_samples with:
        input:
            model=policy_dir("sft"),
            prompts=clean_table(config["evaluation"]["prompts"]),
        output:
            generations="results/rm/length_bias/samples.parquet",
        params:
            **sampler_params(
                [{"temperature": LB["temperature"], "n": LB["samples"]}],
                LB["max_new_tokens"],
                LB["batch_size"],
                seed=config["seed"],
            ),
            subset=f" --first {LB['prompts']}",
            benchmarks="",
        log:
            "results/logs/length_bias/generate.log",
        priority: SIDE_PRIORITY
        benchmark:
            "results/benchmarks/length_bias/generate.tsv"

    use rule score as length_bias_score with:
        input:
            generations="results/rm/length_bias/samples.parquet",
            rm=lambda wc: judge_dir(wc.judge) if LB_JUDGES[wc.judge] != "oracle" else [],
        output:
            scored="results/rm/length_bias/{judge}/scored.parquet",
        wildcard_constraints:
            judge=names_regex(LB_JUDGES),
        params:
            **judge_params(lambda wc: LB_JUDGES[wc.judge]),
            subset="",
        log:
            "results/logs/length_bias/{judge}/score.log",
        priority: SIDE_PRIORITY
        benchmark:
            "results/benchmarks/length_bias/{judge}/score.tsv"
        resources:
            **judge_resources("score", lambda wc: LB_JUDGES[wc.judge]),

    rule length_bias:
        """Figure 3: per-prompt r(reward, length), heatmap by mean length, mean coefficient."""
        input:
            scored="results/rm/length_bias/{judge}/scored.parquet",
        output:
            metrics=report(
                "results/rm/length_bias/{judge}.json",
                caption="../report/length_bias.rst",
                category="Reward models",
                subcategory="length bias",
            ),
            heatmap=report(
                "results/rm/length_bias/{judge}.png",
                caption="../report/length_bias.rst",
                category="Reward models",
                subcategory="length bias",
            ),
        wildcard_constraints:
            judge=names_regex(LB_JUDGES),
        log:
            "results/logs/length_bias/{judge}/summary.log",
        threads: 1
        resources:
            **rule_resources("length_bias", gpu=False),
        conda:
            "../envs/data.yaml"
        shell:
            "python scripts/length_bias.py --scored {input.scored} --judge {wildcards.judge}"
            " --output {output.metrics} --heatmap {output.heatmap} > {log} 2>&1"


if ONPOLICY:

    rule onpolicy_accuracy:
        """Pair accuracy of the online judge on the policy's own samples, labelled by the oracle (beside held-out)."""
        input:
            samples=list(onpolicy_samples().values()),
        output:
            metrics=report("results/onpolicy/accuracy.json", caption="../report/judges.rst", category="Reward models"),
        params:
            samples=" ".join(f"{k}={module_path(v)}" for k, v in onpolicy_samples().items()),
        log:
            "results/logs/onpolicy_accuracy.log",
        benchmark:
            "results/benchmarks/onpolicy_accuracy.tsv"
        threads: 1
        resources:
            **rule_resources("compare_judges", gpu=False),
        conda:
            "../envs/data.yaml"
        shell:
            "python scripts/onpolicy_accuracy.py --samples {params.samples} --output {output.metrics} > {log} 2>&1"


rule compare_judges:
    """One table of every judge: held-out accuracy, RewardBench-style sections, mean length correlation."""
    input:
        heldout=[f"results/rm/{n}/heldout.json" for n in JUDGES] if config["reward_model"]["heldout"] else [],
        reward_bench=[f"results/rm/{n}/rewardbench.json" for n in JUDGES] if RB else [],
        length_bias=[f"results/rm/length_bias/{n}.json" for n in LB_JUDGES] if LB else [],
    output:
        summary=report("results/rm/judges.json", caption="../report/judges.rst", category="Reward models"),
        table=report("results/rm/judges.md", caption="../report/judges.rst", category="Reward models"),
    log:
        "results/logs/compare_judges.log",
    threads: 1
    resources:
        **rule_resources("compare_judges", gpu=False),
    conda:
        "../envs/data.yaml"
    shell:
        "python scripts/compare_judges.py --heldout {input.heldout} --reward-bench {input.reward_bench}"
        " --length-bias {input.length_bias} --output {output.summary} --table {output.table} > {log} 2>&1"
