"""Argument parsing shared by the rule scripts: JSON-valued options and one logger per script."""

from __future__ import annotations

import argparse
import json
import logging


def json_arg(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON ({err.msg}): {text[:200]!r}") from err


def parser(description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)


def logger(name: str) -> logging.Logger:
    return logging.getLogger(name)


def add_training_args(p: argparse.ArgumentParser) -> None:
    """The options every training script takes after its inputs."""
    p.add_argument("--hparams", type=json_arg, required=True, help="the config section's hyperparameters (JSON)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--output", required=True, help="model folder to write (save_pretrained)")
    p.add_argument("--metrics", required=True, help="JSON with step count, losses and data counts")


def add_generation_args(p: argparse.ArgumentParser) -> None:
    """The decoding options every generation script takes (online samples, held-out evaluation, benchmark answers)."""
    p.add_argument("--max-new-tokens", type=int, required=True)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--backend", choices=["transformers", "vllm"], default="transformers")
    p.add_argument("--tensor-parallel-size", type=int, default=1)
    p.add_argument("--stop-token-ids", type=json_arg, default=[])
    p.add_argument("--dtype", default="float32")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--max-model-len", type=int, default=None, help="context tokens (prompt + response); default: the model's positions")
    p.add_argument("--gpu-memory-utilization", type=float, default=None, help="vllm on GPUs: fraction of GPU memory the engine takes (default: vLLM's)")
    p.add_argument("--cpu-kvcache-space", type=int, default=None, help="vllm on CPU: KV cache GiB (VLLM_CPU_KVCACHE_SPACE)")
    p.add_argument("--cpu-threads-bind", default=None, help="vllm on CPU: cores to bind, e.g. 0-1 (VLLM_CPU_OMP_THREADS_BIND)")
    p.add_argument("--enforce-eager", action="store_true", help="vllm: no torch.compile / CUDA graphs (faster start, slower steps)")


def add_judge_args(p: argparse.ArgumentParser) -> None:
    """How every judging script runs its judge model (online scoring, held-out evaluation, RewardBench): the rules
    pass all of them (rules/common.smk judge_params), so no script falls back to a default of its own."""
    p.add_argument("--batch-size", type=int, required=True)
    p.add_argument("--max-length", type=int, required=True, help="tokens the judge reads (score.py: longer responses are flagged over_length)")
    p.add_argument("--dtype", required=True, choices=["float32", "bfloat16", "float16"], help="the judge's weights dtype")
    p.add_argument("--threads", type=int, default=None)
