"""The launch layer's pure parts: the launcher prefix (precision, CPU processes), the TrainingArguments that make the
Trainer see its launch, one rank writing the model folder, and fp32 master weights under `precision: bf16` (a real,
one-process training job at the paper's DPO learning rate)."""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest
import torch
from safetensors.torch import load_file

from online_rlhf.train.launch import launch_prefix
from online_rlhf.train.models import build_base_model, build_tokenizer
from online_rlhf.train.trainers import _finish, is_main_process, launch_args, threads_per_process
from online_rlhf.world.datasets import synthesise
from online_rlhf.world.task import WorldSpec

from .conftest import ROOT


def test_launcher_passes_the_sections_precision_and_cpu_processes():
    assert launch_prefix("deepspeed_zero3.yaml", 8, 1, "train_dpo", "bf16") == (
        "accelerate launch --config_file config/accelerate/deepspeed_zero3.yaml --mixed_precision bf16 --num_processes 8"
    )
    assert launch_prefix("ddp.yaml", 0, 1, "train_sft", "fp32", processes=2) == (
        "accelerate launch --config_file config/accelerate/ddp.yaml --mixed_precision no --num_processes 2"
    )
    assert launch_prefix("ddp.yaml", 0, 1, "train_sft", "fp32").endswith("--num_processes 1")
    assert launch_prefix(None, 0, 1, "train_sft", "bf16") == "python"


def test_launcher_refuses_settings_it_cannot_honour():
    with pytest.raises(ValueError, match="compute.rules.train_sft: processes = 2 with gpu = 8"):
        launch_prefix("ddp.yaml", 8, 1, "train_sft", "fp32", processes=2)
    with pytest.raises(ValueError, match="compute.rules.train_sft.processes = 2 needs an accelerate_config"):
        launch_prefix(None, 0, 1, "train_sft", "fp32", processes=2)
    with pytest.raises(ValueError, match="precision of train_sft must be one of"):
        launch_prefix("ddp.yaml", 0, 1, "train_sft", "fp16")


def test_launch_args_name_the_cpu_backend_and_refuse_a_precision_mismatch():
    ds = {"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_MIXED_PRECISION": "no"}
    assert launch_args({"precision": "fp32"}, cuda=False, env=ds) == {"ddp_backend": "gloo"}
    assert launch_args({"precision": "fp32"}, cuda=False, env={"ACCELERATE_MIXED_PRECISION": "no"}) == {"use_cpu": True}
    assert launch_args({"precision": "fp32"}, cuda=True, env=ds) == {}
    assert launch_args({"precision": "bf16"}, cuda=False, env={}) == {"use_cpu": True}
    assert launch_args({"precision": "bf16"}, cuda=True, env={}) == {}
    with pytest.raises(ValueError, match="precision 'fp32' in the config section, but the launch asks for mixed precision 'bf16'"):
        launch_args({"precision": "fp32"}, cuda=True, env={"ACCELERATE_MIXED_PRECISION": "bf16"})


def test_processes_on_a_node_share_the_rules_threads():
    assert threads_per_process(8, env={"LOCAL_WORLD_SIZE": "2"}) == 4
    assert threads_per_process(1, env={"LOCAL_WORLD_SIZE": "2"}) == 1
    assert threads_per_process(2, env={}) == 2
    assert threads_per_process(None, env={"LOCAL_WORLD_SIZE": "2"}) is None


class FakeTrainer:
    """What _finish touches of a Trainer; save_model writes what transformers' Trainer writes on rank 0."""

    def __init__(self, rank: int):
        self.rank = rank
        self.state = SimpleNamespace(log_history=[{"loss": 1.5, "train_runtime": 3.0}], global_step=1)
        self.accelerator = SimpleNamespace(wait_for_everyone=lambda: None)

    def is_world_process_zero(self):
        return self.rank == 0

    def save_model(self, output):
        if self.rank == 0:
            Path(output).mkdir(exist_ok=True)
            (Path(output) / "model.safetensors").write_bytes(b"w")
            (Path(output) / "training_args.bin").write_bytes(b"pickle")


class FakeTokenizer:
    def save_pretrained(self, output):
        (Path(output) / "tokenizer.json").write_text("{}")


def test_only_rank_zero_writes_the_model_folder(tmp_path, monkeypatch):
    out = tmp_path / "model"
    out.mkdir()
    _finish(FakeTrainer(rank=1), FakeTokenizer(), out)
    assert list(out.iterdir()) == []  # before: every rank wrote the tokenizer and train_log.json
    result = _finish(FakeTrainer(rank=0), FakeTokenizer(), out)
    assert sorted(p.name for p in out.iterdir()) == ["model.safetensors", "tokenizer.json", "train_log.json"]
    assert json.loads((out / "train_log.json").read_text()) == [{"loss": 1.5}]
    assert result["last_loss"] == 1.5
    monkeypatch.setenv("RANK", "1")
    assert not is_main_process()  # the scripts write their metrics JSON only on rank 0
    monkeypatch.setenv("RANK", "0")
    assert is_main_process()


def test_bf16_keeps_fp32_master_weights_so_lr_5e7_moves_them(tmp_path):
    """`precision: bf16` without DeepSpeed: AdamW on bf16 weights rounds an update of 5e-7 away (w - 5e-7 == w in bf16
    for |w| >= 2**-14) and the iterate equals its init; with fp32 master weights and bf16 autocast it moves."""
    w = torch.tensor([0.01, 0.1, 0.001], dtype=torch.bfloat16)
    assert torch.equal(w - 5e-7, w)  # the defect's arithmetic
    spec = WorldSpec()
    tok = build_tokenizer([spec.alphabet])
    arch = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
            "num_key_value_heads": 2, "max_position_embeddings": 64}
    build_base_model(tok, arch, seed=3).save_pretrained(tmp_path / "base")
    tok.save_pretrained(tmp_path / "base")
    pl.DataFrame(synthesise("messages", spec, 16, seed=5)).write_parquet(tmp_path / "sft.parquet")
    hp = {"epochs": 1, "max_steps": 2, "learning_rate": 5e-7, "lr_scheduler": "constant", "warmup_ratio": 0.0,
          "global_batch_size": 8, "per_device_batch_size": 8, "max_length": 64, "packing": False,
          "assistant_only_loss": True, "precision": "bf16", "checkpoint_steps": None, "logging_steps": 1}
    out = tmp_path / "sft"
    cmd = [sys.executable, "scripts/train_sft.py", "--model", str(tmp_path / "base"), "--data", str(tmp_path / "sft.parquet"),
           "--hparams", json.dumps(hp), "--seed", "1", "--threads", "1", "--output", str(out), "--metrics", f"{out}.json"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    init, trained = load_file(tmp_path / "base" / "model.safetensors"), load_file(out / "model.safetensors")
    assert {str(t.dtype) for t in trained.values()} == {"torch.float32"}
    changed = sum(int((trained[k] != init[k]).sum()) for k in init)
    total = sum(t.numel() for t in init.values())
    assert changed / total > 0.5, f"only {changed} of {total} weights changed at lr 5e-7"
    step = max((trained[k] - init[k]).abs().max().item() for k in init)
    assert step <= 2 * 5e-7 * 1.01  # Adam moves each weight by at most ~lr per step
