# Online iterative RLHF (Dong et al., 2024, "RLHF Workflow: From Reward Modeling to Online RLHF") as a DAG:
# preference mixtures -> SFT -> reward model -> offline DPO baseline -> T iterations of
# (generate n per prompt -> score -> best/worst pairs -> DPO) -> held-out evaluation -> report.
from snakemake.utils import min_version

min_version("9.0")


# The embedded default, unless --configfile names another: a config replaces the default instead of being
# deep-merged into it (a paper run must not inherit the made-up world's keys).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"


wildcard_constraints:
    iteration=r"[1-9]\d*",
    shard=r"\d+",
    dataset=names_regex(DATASETS),
    model=r"sft|offline_dpo|iter[1-9]\d*",
    mixture=names_regex(config["mixtures"]),


include: "rules/data.smk"
include: "rules/sft.smk"
include: "rules/reward.smk"
include: "rules/iterate.smk"


if SELECTION:

    include: "rules/select.smk"


include: "rules/evaluate.smk"
include: "rules/judges.smk"
include: "rules/benchmarks.smk"
include: "rules/report.smk"
include: "rules/manifest.smk"


# How busy and fast this machine was while the jobs ran (results/logs/host/, read by docs/results.md beside the wall
# time): hooks run only when jobs run, never in a dry-run, and not inside cluster jobs (Snakemake passes --no-hooks).
onstart:
    write_host_snapshot("start")


onsuccess:
    write_host_snapshot("end")


rule all:
    default_target: True
    input:
        rules.manifest.input,
        rules.manifest.output,
