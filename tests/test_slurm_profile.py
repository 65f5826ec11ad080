"""The SLURM profile without a cluster: dry-runs of the paper config show every rule's sbatch resources, a DPO rule
asking for two nodes launches through srun, and the sbatch line the plugin builds for such a job is the right one.
(The live-cluster run is tests/test_slurm.py.)"""

import re
from types import SimpleNamespace

import pytest
import yaml
from snakemake_executor_plugin_slurm.partitions import read_partition_file
from snakemake_executor_plugin_slurm.submit_string import get_submit_command
from snakemake_executor_plugin_slurm.utils import set_gres_string

from online_rlhf.train.launch import gpu_resources, launch_prefix

from .conftest import ROOT
from .test_dag import snakemake

PROFILE = ("--profile", "profiles/slurm")


def rule_blocks(out: str) -> dict[str, str]:
    """rule name -> its last dry-run block (local rules print as `localrule`)."""
    return {m.group(2): m.group(0) for m in re.finditer(r"^(local)?rule (\w+):\n(?:    .*\n)+", out, re.MULTILINE)}


def resources(block: str) -> dict[str, str]:
    line = re.search(r"^    resources: (.*)$", block, re.MULTILINE).group(1)
    return dict(item.split("=", 1) for item in line.split(", "))


@pytest.fixture(scope="module")
def paper_plan():
    return snakemake("-n", "--forceall", *PROFILE, "--configfile", "config/paper.yaml").stdout


def test_paper_dry_run_shows_each_rule_with_its_sbatch_resources(paper_plan):
    blocks = rule_blocks(paper_plan)
    compute = yaml.safe_load((ROOT / "config/paper.yaml").read_text())["compute"]
    for rule, spec in compute["rules"].items():
        res = resources(blocks[rule])
        assert res["mem_mb"] == str(spec["mem_mb"]) and res["runtime"] == str(spec["runtime"]), rule
        assert res.get("gpu", "0") == str(spec["gpu"]), rule
        assert re.search(rf"^    threads: {spec['threads']}$", blocks[rule], re.MULTILINE), rule
    # rules without an override get compute.default (threads 4, 32 GB, 60 min, no GPU)
    res = resources(blocks["normalize_dataset"])
    assert (res["mem_mb"], res["runtime"], res["gpu"]) == ("32000", "60", "0")


def test_profile_reads_account_and_partition_from_the_environment():
    env = {"RLHF_SLURM_ACCOUNT": "proj42", "RLHF_SLURM_PARTITION": "gpu-a100"}
    out = snakemake("results/sft/model", "-n", "--forceall", *PROFILE, "--configfile", "config/paper.yaml", env=env).stdout
    res = resources(rule_blocks(out)["train_sft"])
    assert res["slurm_account"] == "proj42" and res["slurm_partition"] == "gpu-a100"
    out = snakemake("results/sft/model", "-n", "--forceall", *PROFILE, "--configfile", "config/paper.yaml").stdout
    assert "slurm_account" not in out and "slurm_partition" not in out  # unset: the plugin's own choice


@pytest.fixture(scope="module")
def two_node_plan(tmp_path_factory):
    overlay = tmp_path_factory.mktemp("two_nodes") / "two_node_dpo.yaml"
    overlay.write_text(yaml.safe_dump({"compute": {"rules": {"train_dpo": {"nodes": 2}}}}))
    return snakemake(
        "results/iter1/policy", "-n", "--forceall", "--printshellcmds", *PROFILE, "--configfile", "config/paper.yaml", str(overlay)
    ).stdout


def test_two_node_dpo_launches_accelerate_on_every_node_through_srun(two_node_plan):
    block = rule_blocks(two_node_plan)["train_dpo"]
    shell = re.search(r"^Shell command: (srun .*scripts/train_dpo\.py.*)$", two_node_plan, re.MULTILINE).group(1)
    assert shell.startswith(
        "srun --nodes 2 --ntasks-per-node 1 bash -c 'accelerate launch --config_file config/accelerate/deepspeed_zero3.yaml"
        " --mixed_precision bf16 --num_machines 2 --num_processes 16 --machine_rank $SLURM_NODEID"
        " --main_process_ip $(scontrol show hostnames $SLURM_JOB_NODELIST | head -n 1) --main_process_port 29500 \"$@\"'"
        " accelerate scripts/train_dpo.py --init results/sft/model"
    )
    res = resources(block)
    assert (res["nodes"], res["tasks"], res["gres"], res["mpi"], res["tasks_per_gpu"]) == ("2", "2", "gpu:8", "srun", "0")
    assert "gpu" not in res
    # the single-node trainers keep one accelerate launch with one process per GPU
    assert (
        "accelerate launch --config_file config/accelerate/deepspeed_zero3.yaml --mixed_precision bf16 --num_processes 8"
        " scripts/train_sft.py" in two_node_plan
    )


class Resources(dict):
    __getattr__ = dict.__getitem__


def sbatch_line(resources: dict, threads: int) -> str:
    job = SimpleNamespace(resources=Resources(resources), threads=threads)
    params = {"run_uuid": "run", "slurm_logfile": "log/%j.log", "comment_str": "rule_train_dpo", "account": "", "partition": "", "workdir": "/w"}
    return get_submit_command(job, params) + set_gres_string(job)


def test_the_plugin_asks_slurm_for_gpus_per_node_and_one_task_per_node():
    multi = sbatch_line({"mem_mb": 480000, "runtime": 1440, "nodes": 2, **gpu_resources(8, 2)}, threads=32)
    assert "--nodes=2" in multi and "--ntasks=2" in multi and "--gres=gpu:8" in multi and "--cpus-per-task=32" in multi
    assert "--gpus=" not in multi and "--ntasks-per-gpu" not in multi
    single = sbatch_line({"mem_mb": 64000, "runtime": 480, "nodes": 1, **gpu_resources(1, 1)}, threads=8)
    assert "--gpus=1" in single and "--nodes=1" in single and "--mem 64000" in single and "-t 480" in single


def test_multi_node_needs_an_accelerate_config():
    assert launch_prefix(None, 0, 1, "train_dpo") == "python"
    with pytest.raises(ValueError, match="compute.rules.train_dpo.nodes = 2 needs an accelerate_config"):
        launch_prefix(None, 8, 2, "train_dpo")


def test_example_partition_file_is_one_the_plugin_reads():
    names = {p.name: p.limits.max_gpu for p in read_partition_file(ROOT / "profiles/slurm/partitions.yaml")}
    assert names == {"cpu": 0, "gpu": 8}
