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


def vllm_settings(a: argparse.Namespace):
    """The vLLM engine settings of a generation script's options (add_generation_args)."""
    from online_rlhf.online.generation import VllmSettings

    return VllmSettings(
        dtype=a.dtype,
        tensor_parallel_size=a.tensor_parallel_size,
        gpu_memory_utilization=a.gpu_memory_utilization,
        max_model_len=a.max_model_len,
        cpu_kvcache_space=a.cpu_kvcache_space,
        cpu_threads_bind=a.cpu_threads_bind,
        enforce_eager=a.enforce_eager,
    )
