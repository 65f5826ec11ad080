"""Preemption-safe training: a training job killed mid-way resumes from its last checkpoint when it runs again, and
on CPU the resumed run ends in exactly the model an uninterrupted run gives."""

import json
import os
import signal
import subprocess
import sys
import time

import polars as pl
import pytest
from safetensors.torch import load_file

from online_rlhf.train.checkpoints import checkpoint_args, checkpoint_root, last_complete_checkpoint, run_key
from online_rlhf.train.models import build_base_model, build_tokenizer
from online_rlhf.world.datasets import synthesise
from online_rlhf.world.task import WorldSpec

from .conftest import ROOT

STEPS, EVERY = 60, 10
HPARAMS = {
    "epochs": 1, "max_steps": STEPS, "learning_rate": 3e-3, "lr_scheduler": "cosine", "warmup_ratio": 0.03,
    "global_batch_size": 16, "per_device_batch_size": 8, "max_length": 64, "packing": False,
    "assistant_only_loss": True, "precision": "fp32", "checkpoint_steps": EVERY, "logging_steps": 5,
}


# ---- pure parts ----------------------------------------------------------------------------------------------

def test_last_complete_checkpoint_skips_one_killed_while_saving(tmp_path):
    for step, complete in ((10, True), (20, True), (30, False)):
        d = tmp_path / f"checkpoint-{step}"
        d.mkdir()
        if complete:
            (d / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-x").mkdir()
    assert last_complete_checkpoint(tmp_path) == tmp_path / "checkpoint-20"
    assert last_complete_checkpoint(tmp_path / "absent") is None


def test_run_key_changes_with_anything_the_result_depends_on(tmp_path):
    rows = [{"messages": [{"role": "user", "content": "ab"}]}]
    base = run_key(HPARAMS, 1, 1, rows, [])
    assert base == run_key(dict(HPARAMS), 1, 1, [dict(r) for r in rows], [])
    assert base != run_key({**HPARAMS, "learning_rate": 1e-3}, 1, 1, rows, [])
    assert base != run_key(HPARAMS, 2, 1, rows, [])
    assert base != run_key(HPARAMS, 1, 8, rows, [])
    assert base != run_key(HPARAMS, 1, 1, rows + rows, [])
    (tmp_path / "model.safetensors").write_bytes(b"x")
    assert base != run_key(HPARAMS, 1, 1, rows, [tmp_path])


def test_checkpoint_interval_is_a_config_key():
    assert checkpoint_args({"checkpoint_steps": 7}) == {"save_strategy": "steps", "save_steps": 7, "save_total_limit": 1}
    assert checkpoint_args({})["save_steps"] == 500
    assert checkpoint_args({"checkpoint_steps": None}) == {"save_strategy": "no"}


# ---- a real training job, killed and run again -----------------------------------------------------------------

@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("sft_inputs")
    spec = WorldSpec()
    tok = build_tokenizer([spec.alphabet])
    arch = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
            "num_key_value_heads": 2, "max_position_embeddings": 64}
    build_base_model(tok, arch, seed=3).save_pretrained(d / "base")
    tok.save_pretrained(d / "base")
    pl.DataFrame(synthesise("messages", spec, 300, seed=5)).write_parquet(d / "sft.parquet")
    return d


def train_command(inputs, output, hparams=HPARAMS):
    return [sys.executable, str(ROOT / "scripts/train_sft.py"), "--model", str(inputs / "base"), "--data", str(inputs / "sft.parquet"),
            "--hparams", json.dumps(hparams), "--seed", "7", "--threads", "1", "--output", str(output), "--metrics", f"{output}.json"]


def run_and_kill_at(inputs, output, step: int, sig: signal.Signals, hparams=HPARAMS) -> int:
    """Start the training job, send `sig` once checkpoint-<step> is complete on disk; the job's exit code."""
    proc = subprocess.Popen(train_command(inputs, output, hparams), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while proc.poll() is None and time.time() < deadline:
        if any((d / f"checkpoint-{step}" / "trainer_state.json").is_file() for d in checkpoint_root(output).glob("*")):
            os.kill(proc.pid, sig)
            break
        time.sleep(0.01)
    return proc.wait(timeout=240)


def rerun(inputs, output, hparams=HPARAMS) -> str:
    proc = subprocess.run(train_command(inputs, output, hparams), cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stderr


@pytest.fixture(scope="module")
def uninterrupted(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "model"
    rerun(inputs, out)
    return out


def same_weights(a, b) -> bool:
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    return wa.keys() == wb.keys() and all((wa[k] == wb[k]).all() for k in wa)


def test_killed_job_resumes_from_its_last_checkpoint_and_ends_in_the_same_model(inputs, uninterrupted, tmp_path):
    out = tmp_path / "model"
    # SIGKILL: no chance to save anything; only the periodic checkpoint survives.
    assert run_and_kill_at(inputs, out, 20, signal.SIGKILL) == -signal.SIGKILL
    assert not (out / "model.safetensors").exists()
    log = rerun(inputs, out)
    assert "resuming from" in log and "checkpoint-20 (step 20)" in log
    metrics = json.loads(out.with_suffix(".json").read_text())
    assert metrics["resumed_from_step"] == 20 and metrics["steps"] == STEPS
    assert same_weights(out, uninterrupted)
    assert not checkpoint_root(out).exists()  # removed once the model is saved


def test_sigterm_saves_a_checkpoint_at_the_next_step_and_the_job_fails(inputs, uninterrupted, tmp_path):
    out = tmp_path / "model"
    # SIGTERM (SLURM's preemption and time-limit signal): the step in flight finishes, a checkpoint is saved there.
    assert run_and_kill_at(inputs, out, 10, signal.SIGTERM) == 1
    saved = last_complete_checkpoint(next(checkpoint_root(out).iterdir()))
    assert saved is not None and int(saved.name.split("-")[1]) > 10
    log = rerun(inputs, out)
    assert f"{saved.name} (step" in log
    assert same_weights(out, uninterrupted)


def test_a_length_grouped_job_killed_in_its_second_epoch_resumes_to_the_same_model(inputs, uninterrupted, tmp_path):
    # 300 rows in batches of 16 are 19 steps an epoch: step 20 is in epoch 1, whose length-grouped order the resumed
    # job must draw again (the sampler is reseeded from seed and epoch, not from the RNG state at the checkpoint).
    grouped = {**HPARAMS, "group_by_length": True}
    whole = tmp_path / "whole"
    rerun(inputs, whole, grouped)
    assert not same_weights(whole, uninterrupted)  # the option took effect
    out = tmp_path / "model"
    assert run_and_kill_at(inputs, out, 20, signal.SIGKILL, grouped) == -signal.SIGKILL
    assert "checkpoint-20 (step 20)" in rerun(inputs, out, grouped)
    assert same_weights(out, whole)
