"""Compute jobs are offline: inside a SLURM job the Hub is off, and what was not prefetched fails with a message that
names it and the command that fetches it."""

import json
import subprocess
import sys

import pytest

from online_rlhf.core.offline import hub_folder_key, not_prefetched_message, offline_in_slurm_jobs
from online_rlhf.core.records import find_files
from online_rlhf.train.models import check_model_dir

from .conftest import ROOT


def test_inside_a_slurm_job_the_hub_is_off_unless_said_otherwise():
    env = {"SLURM_JOB_ID": "17"}
    assert offline_in_slurm_jobs(env) == "SLURM job 17: HF_HUB_OFFLINE=1 (compute jobs read only what prefetch stored)"
    assert env["HF_HUB_OFFLINE"] == "1"
    env = {"SLURM_JOB_ID": "17", "HF_HUB_OFFLINE": "0"}  # a cluster whose compute nodes do reach the Hub
    offline_in_slurm_jobs(env)
    assert env["HF_HUB_OFFLINE"] == "0"
    env = {}
    assert offline_in_slurm_jobs(env) is None and "HF_HUB_OFFLINE" not in env


def test_scripts_go_offline_in_a_slurm_job():
    code = "import _bootstrap, huggingface_hub.constants as c; print(c.HF_HUB_OFFLINE)"
    env = {"PATH": "/usr/bin:/bin", "SLURM_JOB_ID": "5"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "scripts", env=env, capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "True" and "SLURM job 5: HF_HUB_OFFLINE=1" in proc.stderr


@pytest.mark.parametrize(
    ("path", "key"),
    [("resources/models/prefetched/base", "models.base"), ("/w/resources/data/hub/hh_rlhf", "datasets.hh_rlhf"),
     ("resources/models/synthetic/base", None), ("results/sft/model", None), ("/data/my_model", None)],
)
def test_prefetch_folders_map_back_to_their_config_key(path, key):
    assert hub_folder_key(path) == key


def test_a_model_that_was_not_prefetched_is_named_with_the_command_to_fetch_it(tmp_path):
    base = tmp_path / "resources/models/prefetched/base"
    with pytest.raises(FileNotFoundError) as err:
        check_model_dir(base, "policy")
    msg = str(err.value)
    assert f"policy: {base} (models.base of the config) was not prefetched: the folder is missing" in msg
    assert "HF_HUB_OFFLINE=1" in msg and "snakemake prefetch --configfile <your config>" in msg
    base.mkdir(parents=True)
    (base / "config.json").write_text("{}")  # an interrupted download: files but no PREFETCH.json
    assert "has no PREFETCH.json (an interrupted download)" in not_prefetched_message(base, "policy")
    (base / "PREFETCH.json").write_text(json.dumps({"repo": "org/m", "repo_type": "model", "revision": "abc", "commit": "abc"}))
    assert check_model_dir(base, "policy") == base


def test_a_dataset_that_was_not_prefetched_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"datasets\.nectar of the config\) was not prefetched"):
        find_files(tmp_path / "resources/data/hub/nectar", "**/*.parquet")


def test_prefetch_refuses_to_run_offline_with_a_clear_message():
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "scripts/prefetch.py", "--repo-type", "model", "--repo", "org/m", "--revision", "v1", "--output", "/nonexistent"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 1
    assert "prefetch of model org/m@v1 needs the Hub, but HF_HUB_OFFLINE is set here" in proc.stderr
