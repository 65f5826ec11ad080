"""The SLURM profile against a live SLURM: a single-node cluster on localhost (tests/slurm_cluster.py) runs the smoke
config through `snakemake --profile profiles/slurm`, and SLURM's accounting database (sacct) must list every job of
the DAG as COMPLETED with the resources the config asked for. No mocks: if this machine cannot start SLURM, the tests
skip with the reason printed in the CI log."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import copy_workflow, snakemake_bin
from .slurm_cluster import PARTITION, LocalSlurm, SlurmUnavailable, ensure_installed
from .test_dag import snakemake

pytestmark = pytest.mark.slow

STATE = Path("/var/tmp/online-rlhf-slurm")  # fixed: a rerun finds the database initialised and starts in seconds
# The smoke jobs are mostly start-up time (Python, Snakemake, torch import), so the node advertises more CPUs than
# the machine has cores and runs more of them at once.
OVERSUBSCRIBE = 4


def _say(request, message: str) -> None:
    """Print past pytest's capture, so a skip's reason is in the CI log even without -rs."""
    capman = request.config.pluginmanager.getplugin("capturemanager")
    with capman.global_and_fixture_disabled():
        print(f"\n[test_slurm] {message}", flush=True)


@pytest.fixture(scope="module")
def cluster(request):
    slurm = LocalSlurm(STATE, cpus=OVERSUBSCRIBE * (os.cpu_count() or 1))
    try:
        ensure_installed()
        slurm.start()
    except SlurmUnavailable as err:
        slurm.stop()  # whatever did come up before the failing step
        reason = f"SKIPPED, no live SLURM on this machine: {err}"
        _say(request, reason)
        pytest.skip(reason)
    started = ", ".join(slurm.started) or "none, all were already running"
    _say(request, f"live SLURM cluster up ({slurm.cpus} CPUs advertised, state in {STATE}; started: {started})")
    yield slurm
    slurm.stop()


# The smoke config up to the first online iterate and the reward model's held-out accuracy: data, SFT, reward model,
# sharded generation and scoring, pairs and DPO, each training, generation and scoring job its own SLURM job. The 18
# tiny data-preparation jobs are bundled into one group job (Snakemake's --groups, also the way to run small configs on
# a real cluster), and the evaluation/report tail is left out: as 56 single jobs the whole smoke DAG takes ~8 minutes
# on this project's 2-core machines, this part 4-5.
TARGETS = ("results/iter1/policy", "results/rm/bt/heldout.json")
GROUPS = {"data": ("synthesize_dataset", "normalize_dataset", "build_base_model", "adopt_base_model", "build_mixture", "select_prompts")}
SACCT_FIELDS = ("JobID", "JobName", "Comment", "State", "ExitCode", "AllocCPUS", "ReqMem", "Timelimit", "Partition")


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    work = copy_workflow(tmp_path_factory.mktemp("slurm_workflow"))
    groups = [f"{rule}={group}" for group, rules in GROUPS.items() for rule in rules]
    proc = snakemake(
        *TARGETS, "--profile", "profiles/slurm", "--configfile", "config/smoke.yaml", "--config", "iterations=1",
        "--groups", *groups, "--group-components", *(f"{g}=100" for g in GROUPS),
        # The cluster is idle and local: poll its accounting every second instead of the plugin's 40 s start-up wait.
        "--slurm-init-seconds-before-status-checks", "1", "--slurm-keep-successful-logs",
        # at most the node's CPUs at once: a group job asks for the threads of its jobs that can run side by side
        "--jobs", str(cluster.cpus), "--cores", str(cluster.cpus),
        cwd=work, env=cluster.env, timeout=1200,
    )
    log = proc.stdout + proc.stderr
    run_id = re.search(r"SLURM run ID: (\S+)", log).group(1)
    planned = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", log[log.index("Job stats:"):], re.MULTILINE)}
    jobs = [j for j in cluster.sacct(*SACCT_FIELDS) if j["JobName"] == run_id]
    return work, log, planned, jobs


def _rule(job: dict) -> str:
    """The rule (or group) of a SLURM job, from the comment the plugin gives it: rule_<name>[_wildcards_<...>], where
    a group job's name is <group>_<its rules>, the rules cut to five and "..." when there are more (Snakemake's
    GroupJob.name)."""
    name = re.match(r"rule_([\w.]+?)(?:_wildcards_.*)?$", job["Comment"]).group(1)
    group = name.split("_")[0]
    return group if group in GROUPS else name


def test_every_job_of_the_smoke_dag_ran_in_slurm(slurm_run):
    work, log, planned, jobs = slurm_run
    assert jobs, f"sacct lists no job of this run; snakemake said:\n{log[-3000:]}"
    assert {j["State"] for j in jobs} == {"COMPLETED"} and {j["ExitCode"] for j in jobs} == {"0:0"}
    ran = {}
    for j in jobs:
        ran[_rule(j)] = ran.get(_rule(j), 0) + 1
    grouped = {rule for rules in GROUPS.values() for rule in rules}
    local = set(re.findall(r"^localrule (\w+):", log, re.MULTILINE))  # run by Snakemake itself on the login node
    expected = {rule: n for rule, n in planned.items() if rule not in grouped | local | {"total"}}
    assert {r: n for r, n in ran.items() if r in expected} == expected, f"rules in sacct {ran} != rules planned {planned}"
    # the bundled small jobs ran too, as one group job (--group-components merges all of a group's jobs)
    assert set(ran) - set(expected) == set(GROUPS) and all(ran[g] == 1 for g in GROUPS), ran
    assert {"train_sft", "train_reward_model", "train_dpo", "generate", "score"} <= set(ran)
    assert {j["Partition"] for j in jobs} == {PARTITION}
    assert (work / "results/iter1/policy/model.safetensors").is_file()
    assert 0.0 <= json.loads((work / "results/rm/bt/heldout.json").read_text())["accuracy"] <= 1.0


def test_jobs_got_the_resources_of_the_config(slurm_run):
    _, _, _, jobs = slurm_run
    train = next(j for j in jobs if _rule(j) == "train_sft")
    # config/smoke.yaml: compute.default = threads 1, mem_mb 2000, runtime 10 (minutes)
    assert train["AllocCPUS"] == "1" and train["ReqMem"] in ("2000M", "2000Mn") and train["Timelimit"] == "00:10:00"


def test_compute_jobs_ran_offline_and_on_the_cluster(slurm_run):
    work, _, _, jobs = slurm_run
    train_log = (work / "results/logs/train_sft.log").read_text()
    assert "HF_HUB_OFFLINE=1" in train_log and "SLURM job" in train_log
    job_ids = {j["JobID"] for j in jobs}
    assert re.search(r"SLURM job (\d+)", train_log).group(1) in job_ids


def test_training_job_signalled_by_slurm_resumes_from_its_checkpoint_when_retried(cluster, slurm_run):
    """Preemption on a real SLURM: `scancel --signal=TERM` (what SLURM sends a preempted or timed-out job) reaches the
    trainer inside the job, which saves a checkpoint and fails; the profile's retries submit the job again, and the
    new job resumes from that checkpoint instead of step 0."""
    work = slurm_run[0]
    steps, every = 200, 20  # signalled at checkpoint 40: 160 steps left, seconds of margin before the job ends
    (work / "config/longer_sft.yaml").write_text(f"sft: {{max_steps: {steps}, checkpoint_steps: {every}}}\n")
    cmd = [snakemake_bin(), "results/sft/model", "--profile", "profiles/slurm", "--configfile", "config/smoke.yaml",
           "config/longer_sft.yaml", "--config", "iterations=1", "--slurm-init-seconds-before-status-checks", "1"]
    env = {**cluster.env, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    signalled = None
    deadline = time.time() + 600
    while proc.poll() is None and time.time() < deadline and signalled is None:
        # Any complete checkpoint from step 40 on: only the last one is kept (save_total_limit 1), and on a loaded
        # machine checkpoint-40 can be rotated out between two polls (seen in a suite run beside other work).
        saved = [int(p.parent.name.split("-")[1]) for p in (work / "results/sft/model.checkpoints").glob("*/checkpoint-*/trainer_state.json")]
        if saved and max(saved) >= 2 * every:
            running = subprocess.run(["squeue", "-h", "-t", "R", "-o", "%i"], env=cluster.env, capture_output=True, text=True, check=True)
            if running.stdout.split():
                signalled = running.stdout.split()[0]
                subprocess.run(["scancel", "--signal=TERM", signalled], env=cluster.env, check=True)
        time.sleep(0.2)
    out, _ = proc.communicate(timeout=600)
    assert signalled, f"the training job was never seen running with a checkpoint from step {2 * every} on:\n{out[-3000:]}"
    assert proc.returncode == 0, out[-3000:]
    states = {j["JobID"]: j["State"] for j in cluster.sacct("JobID", "Comment", "State") if j["Comment"] == "rule_train_sft"}
    assert states[signalled] == "FAILED" and "COMPLETED" in states.values(), states
    metrics = json.loads((work / "results/sft/train_metrics.json").read_text())
    assert metrics["steps"] == steps and metrics["resumed_from_step"] >= 2 * every, metrics
    assert "resuming from" in (work / "results/logs/train_sft.log").read_text()
    assert not (work / "results/sft/model.checkpoints").exists()
