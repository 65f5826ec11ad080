# Experiments side by side (docs/experiments.md): every experiment of an experiment set is the workflow (Snakefile)
# loaded as a module with its own config (base config + the experiment's overlay). One DAG for all of them:
#   snakemake -s Experiments.smk --cores 2                      # config/experiments/ablations.yaml
#   snakemake -s Experiments.smk --configfile config/experiments/seeds.yaml -n
# Outputs: results/experiments/<name>/... per experiment, results/experiments/_shared/<stage>-<fingerprint>/ for the
# stages (data, sft, rm, offline_dpo) whose config is identical between experiments, built once by the first
# experiment that has them; results/experiments/_comparison/ for the table and plot across experiments.
import json
import sys
from pathlib import Path

sys.path.insert(0, workflow.basedir)

from snakemake.exceptions import WorkflowError

from online_rlhf.config import validate_config
from online_rlhf.experiments.plan import (
    ROOT,
    ExperimentError,
    misplaced_outputs,
    plan,
    renamed_localrules,
    sharing_table,
    top_level_names,
)

from online_rlhf.provenance.host import write_snapshot as write_host_snapshot
from snakemake.utils import min_version

min_version("9.0")


if not workflow.overwrite_configfiles:

    configfile: "config/experiments/ablations.yaml"


try:
    EXPERIMENTS = plan(config, workflow.basedir, validate=validate_config)
except ExperimentError as err:
    raise WorkflowError(str(err)) from None

RULE_FILES = [
    f"{workflow.basedir}/Snakefile",
    *sorted(Path(workflow.basedir, "rules").glob("*.smk")),
]
TOP_LEVEL = top_level_names(RULE_FILES)
COMPARISON = f"{ROOT}/_comparison"

# The Python form of `module <name>: ...` and `use rule * from <name> exclude ... as <name>_*` (what Snakemake's
# parser writes for those statements): the experiments' names come from the config, so the statements cannot be
# spelled out in this file.
for _exp in EXPERIMENTS:
    workflow.module(
        _exp.name,
        snakefile="Snakefile",
        config=_exp.config,
        replace_prefix=_exp.replace_prefix(TOP_LEVEL),
    )
    workflow.userule(
        rules=["*"],
        from_module=_exp.name,
        exclude_rules=["all", *_exp.excluded_rules()],
        name_modifier=_exp.rule_name("*"),
    )(lambda: None)


# Every output of an experiment's rules in its own folder or a shared folder it owns (else two experiments would write
# one file); a module's `localrules:` names its rules unrenamed, so each experiment's renamed rule is marked instead.
_problems = misplaced_outputs(
    EXPERIMENTS,
    [(r.name, [*r.output, *r.log, *([r.benchmark] if r.benchmark else [])]) for r in workflow.rules],
)
if _problems:
    raise WorkflowError(
        "outputs outside the experiment's folders (add the rule to STAGE_RULES or its folder to the rules' paths; "
        "online_rlhf/experiments/plan.py):\n  " + "\n  ".join(_problems)
    )
workflow._localrules = renamed_localrules(EXPERIMENTS, workflow._localrules, {r.name for r in workflow.rules})


# The machine while the jobs ran (results/logs/host/, online_rlhf/provenance/host.py): a module's hooks are not
# registered, so the experiment set has its own.
onstart:
    write_host_snapshot("start")


onsuccess:
    write_host_snapshot("end")


localrules:
    experiments,
    sharing,
    compare_experiments,


rule experiments:
    """Every experiment's manifest (report and run outputs included) and the comparison across experiments."""
    default_target: True
    input:
        manifests=[f"{e.folder}/manifest.json" for e in EXPERIMENTS],
        comparison=f"{COMPARISON}/comparison.json",
        sharing=f"{COMPARISON}/sharing.json",


rule sharing:
    """Which experiment builds each shared stage and where it lives (docs/experiments.md)."""
    output:
        sharing=f"{COMPARISON}/sharing.json",
    log:
        f"{COMPARISON}/logs/sharing.log",
    params:
        table=lambda wc: sharing_table(EXPERIMENTS),
    run:
        Path(output.sharing).write_text(json.dumps(params.table, indent=2) + "\n")


rule compare_experiments:
    """The table and plot across experiments: oracle reward per iteration with standard errors, RM accuracy, pair
    statistics, response length."""
    input:
        summaries=[f"{e.folder}/report/summary.json" for e in EXPERIMENTS],
    output:
        json=f"{COMPARISON}/comparison.json",
        markdown=f"{COMPARISON}/comparison.md",
        plot=f"{COMPARISON}/comparison.png",
    log:
        f"{COMPARISON}/logs/compare_experiments.log",
    conda:
        "envs/evaluation.yaml"
    params:
        names=[e.name for e in EXPERIMENTS],
        groups=json.dumps(
            (config.get("compare") or {}).get("groups", {}),
            sort_keys=True,
            separators=(",", ":"),
        ),
    shell:
        "python scripts/compare_experiments.py --names {params.names} --summaries {input.summaries}"
        " --groups {params.groups:q} --json {output.json} --markdown {output.markdown} --plot {output.plot} > {log} 2>&1"
