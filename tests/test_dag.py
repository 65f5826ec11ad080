"""Dry-run DAG tests: the default and paper configs plan the right jobs, iterations unroll, nothing touches the Hub."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, snakemake_bin


def snakemake(*args, cwd=ROOT, check=True, env=None, timeout=1800):  # a shared 2-core machine can take minutes
    # Rules call `python`: make it the interpreter running the tests (the project's venv).
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, **(env or {}), "PATH": path, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([snakemake_bin(), *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def job_counts(*args) -> dict[str, int]:
    # --forceall so the plan does not depend on what an earlier local run left in results/.
    out = snakemake("-n", "--quiet", "rules", "--forceall", *args)
    text = out.stdout + out.stderr
    table = text[text.index("job ") :]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE) if m.group(1) != "total"}


def test_default_dag():
    counts = job_counts()
    assert counts["train_sft"] == counts["train_reward_model"] == counts["train_offline_dpo"] == 1
    assert counts["train_dpo"] == counts["build_pairs"] == counts["select_prompts"] == 3
    assert counts["generate"] == counts["score"] == 3  # 1 shard each (the smoke config exercises several)
    assert counts["check_ordering"] == counts["onpolicy_accuracy"] == 1
    assert counts["evaluate_policy"] == 5  # sft, offline_dpo, iter1..3
    assert counts["generate_validation"] == counts["judge_validation"] == 3 and counts["select_best_iterate"] == 1
    assert counts["synthesize_dataset"] == counts["normalize_dataset"] == 16
    assert counts["build_mixture"] == counts["mixture_stats"] == 3  # mix1, mix1_tldr, mix2 (the RM's)


def test_iterations_unroll_from_the_command_line():
    counts = job_counts("--config", "iterations=5")
    assert counts["train_dpo"] == 5 and counts["generate"] == 5 and counts["evaluate_policy"] == 7


def test_paper_dag_lists_the_full_recipe_without_the_hub():
    counts = job_counts("--configfile", "config/paper.yaml")
    assert counts["train_dpo"] == 3
    assert counts["generate"] == counts["score"] == 3 * 8  # 8 GPU shards per iteration
    assert counts["prefetch_model"] == 1 and counts["prefetch_dataset"] == 16
    assert counts["mixture_stats"] == 2
    assert "synthesize_dataset" not in counts and "build_base_model" not in counts


def test_paper_dag_gives_each_heavy_rule_its_gpus():
    out = snakemake("-n", "--forceall", "--configfile", "config/paper.yaml").stdout
    blocks = {m.group(1): m.group(0) for m in re.finditer(r"rule (\w+):\n(?:    .*\n)+", out)}
    assert "gpu=8" in blocks["train_dpo"] and "gpu=1" in blocks["generate"] and "gpu=1" in blocks["score"]
    assert "accelerate launch --config_file config/accelerate/deepspeed_zero3.yaml --mixed_precision bf16 --num_processes 8" in out


def test_one_iteration_can_be_built_alone():
    out = snakemake("-n", "--forceall", "results/iter2/pairs.parquet")
    assert "train_dpo" in out.stdout and "rule report" not in out.stdout
    assert "results/iter3" not in out.stdout


def test_reference_and_init_are_explicit_choices():
    out = snakemake("-n", "--forceall", "results/iter2/policy", "--config", "iterations=2").stdout
    assert re.search(r"rule train_dpo:\n    input: results/iter1/policy, results/sft/model, results/iter2/pairs.parquet", out)
    out = snakemake("-n", "--forceall", "results/iter2/policy", "--configfile", "config/smoke.yaml").stdout
    # smoke trains on the whole history: iteration 2 reads the pairs of iterations 1 and 2
    assert re.search(r"rule train_dpo:\n    input: results/iter1/policy, results/sft/model, results/iter1/pairs.parquet, results/iter2/pairs.parquet", out)


def test_generation_samples_from_the_previous_iterate_whatever_dpo_starts_from(tmp_path):
    """online.init: sft warm-starts each DPO from pi_0, but the loop stays online: iteration t samples from pi_{t-1}."""
    import yaml

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["online"]["init"] = "sft"
    config["iterations"] = 2
    overlay = tmp_path / "init_sft.yaml"
    overlay.write_text(yaml.safe_dump(config))
    out = snakemake("-n", "--forceall", "results/iter2/policy", "--configfile", str(overlay)).stdout
    generate = [m.group(1) for m in re.finditer(r"rule generate:\n    input: ([^\n]*)", out)]
    shards = config["online"]["generation"]["shards"]
    assert sorted(generate) == sorted(["results/sft/model, results/iter1/prompts.parquet"] * shards
                                      + ["results/iter1/policy, results/iter2/prompts.parquet"] * shards)
    assert re.search(r"rule train_dpo:\n    input: results/sft/model, results/sft/model, results/iter2/pairs.parquet", out)


def test_bad_config_fails_before_any_job_with_the_key_named():
    proc = snakemake("-n", "--config", "iterations=0", check=False)
    assert proc.returncode != 0
    assert "iterations: 0 is less than the minimum of 1" in proc.stdout + proc.stderr


def test_lint_is_clean():
    out = snakemake("--lint")
    assert "Congratulations, your workflow is in a good condition" in out.stdout + out.stderr


def test_ablation_overlays_merge_onto_the_default():
    out = snakemake("-n", "--forceall", "--configfile", "config/config.yaml", "config/ablations/gold_judge.yaml").stdout
    # the loop's judges switch to the oracle; the reward-model studies still score with the RMs they study
    assert re.search(r"--generations results/iter1/generations.parquet --judge oracle", out)
    assert re.search(r"--generations results/selection/iter1/generations.parquet --judge oracle", out)
    assert not re.search(r"--generations results/(iter\d+|selection/\w+)/generations.parquet --judge reward_model", out)
    out = snakemake("-n", "--forceall", "--configfile", "config/config.yaml", "config/ablations/concise.yaml").stdout
    assert "--length-penalty 0.001" in out


def shell_commands(*args) -> list[str]:
    out = snakemake("-n", "--forceall", "--printshellcmds", *args).stdout
    return re.findall(r"^Shell command: (.*)$", out, re.MULTILINE)


def option(cmd: str, name: str) -> str | None:
    """The value of `name` on a command line (None when the command does not pass it: the script's own default)."""
    found = re.search(rf" {name} ('[^']*'|\S+)", cmd)
    return found.group(1) if found else None


@pytest.fixture(scope="module")
def paper_commands():
    return shell_commands("--configfile", "config/paper.yaml")


def test_every_job_running_a_judge_model_runs_it_alike(paper_commands):
    """One definition of judging: on the paper's DAG the reward model reads the same max length in the same dtype in
    online scoring, held-out evaluation, validation, the length-bias study and its own evaluations (held-out pairs,
    RewardBench); likewise the pairwise model. (Held-out evaluation used to run the RM in float32, online bf16.)"""
    runs = {"reward_model": [], "preference_model": []}
    for cmd in paper_commands:
        if "scripts/score.py" in cmd:
            kind, length = option(cmd, "--judge"), option(cmd, "--judge-max-length")
        elif "scripts/evaluate_reward_model.py" in cmd or "scripts/reward_bench.py" in cmd:
            kind, length = (option(cmd, "--kind") if " --kind " in cmd else "reward_model"), option(cmd, "--max-length")
        else:
            continue
        if kind != "oracle":
            runs[kind].append((cmd.split()[1], length, option(cmd, "--dtype"), option(cmd, "--batch-size")))
    rm_scripts = {r[0] for r in runs["reward_model"]}
    assert rm_scripts == {"scripts/score.py", "scripts/evaluate_reward_model.py", "scripts/reward_bench.py"}
    # score: 3 iterations x 8 shards, judge_eval: 5 policies, judge_validation: 3 iterates, length bias: 1
    assert sum(r[0] == "scripts/score.py" for r in runs["reward_model"]) == 24 + 5 + 3 + 1
    assert {r[1:3] for r in runs["reward_model"]} == {("4096", "bfloat16")}
    assert {r[1:3] for r in runs["preference_model"]} == {("3072", "bfloat16")}
    assert len(runs["preference_model"]) == 3  # its held-out pairs, RewardBench, length bias


def test_every_job_sampling_a_policy_samples_it_alike(paper_commands):
    """One definition of sampling: the online samples, held-out evaluation, validation, benchmark answers and the
    length-bias study use one backend, dtype, stop tokens and tensor-parallel size."""
    runs = []
    for cmd in paper_commands:
        if "scripts/generate.py" in cmd:
            runs.append((cmd.split()[1], *(option(cmd, o) for o in ("--backend", "--dtype", "--stop-token-ids", "--tensor-parallel-size"))))
    # generate: 3 x 8 shards, generate_eval (held-out samples and benchmark answers): 5 policies, generate_validation:
    # 3, length bias: 1
    assert len(runs) == 24 + 5 + 3 + 1
    assert sum("--benchmarks" in cmd for cmd in paper_commands if "scripts/generate.py" in cmd) == 5
    assert {r[1:] for r in runs} == {("vllm", "bfloat16", "'[128001,128009]'", "1")}
