"""Throughput of the online loop's two GPU-shaped steps, generation and scoring, with batching vs without.

Builds the default config's base model (its architecture, random init, the world's tokenizer) and a reward model
of the same shape, then times on the same prompts:
  - generation: transformers `generate` in length-sorted batches vs one prompt at a time (tokens/second);
  - scoring: reward-model forward passes in length-sorted batches vs one response at a time (responses/second);
  - on a CUDA machine with vLLM installed, also vLLM vs transformers generation on the same model.
Ratios are against the one-at-a-time baseline measured in the same run. Writes benchmarks/results/generation.json.

    python benchmarks/generation.py [--prompts 128] [--samples 4] [--max-new-tokens 12]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from online_rlhf.judges.scoring import score_with_reward_model
from online_rlhf.online.generation import SamplingGroup, generate_transformers, generate_vllm
from online_rlhf.train.models import build_base_model, build_tokenizer, seed_everything
from online_rlhf.world.task import WorldSpec, draw_queries

RESULTS = ROOT / "benchmarks" / "results" / "generation.json"


def build_models(folder: Path) -> tuple[str, str]:
    """The default config's policy shape and a same-shape reward model, random init (throughput does not depend on
    what the weights learned, only on how many tokens pass through)."""
    from transformers import AutoModelForSequenceClassification

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    tok = build_tokenizer([config["world"]["alphabet"]])
    policy, rm = folder / "policy", folder / "rm"
    build_base_model(tok, config["models"]["base"]["architecture"], seed=0).save_pretrained(policy)
    tok.save_pretrained(policy)
    reward_model = AutoModelForSequenceClassification.from_pretrained(policy, num_labels=1)
    reward_model.config.pad_token_id = tok.pad_token_id
    reward_model.save_pretrained(rm)
    tok.save_pretrained(rm)
    return str(policy), str(rm)


def timed(fn, repeats: int = 1):
    """The result and the median wall time of `repeats` calls (a shared machine makes single timings noisy)."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        seconds.append(time.perf_counter() - start)
    return out, statistics.median(seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=128)
    ap.add_argument("--samples", type=int, default=4, help="responses per prompt")
    ap.add_argument("--max-new-tokens", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="timings are the median of this many runs")
    ap.add_argument("--output", type=Path, default=RESULTS)
    a = ap.parse_args()
    seed_everything(0, a.threads)
    spec = WorldSpec()
    queries = draw_queries(random.Random(0), spec, "heldout", a.prompts, unique=True)
    prompts = [[{"role": "user", "content": q}] for q in queries]
    groups = [SamplingGroup(1.0, a.samples)]
    result: dict = {"machine": platform.processor() or platform.machine(), "threads": a.threads, "prompts": a.prompts,
                    "samples_per_prompt": a.samples, "max_new_tokens": a.max_new_tokens, "batch_size": a.batch_size,
                    "repeats": a.repeats}
    with tempfile.TemporaryDirectory() as tmp:
        policy, rm = build_models(Path(tmp))
        runs = {}
        for name, batch in (("one_prompt_at_a_time", 1), ("batched", a.batch_size)):
            out, seconds = timed(lambda b=batch, n=name: generate_transformers(policy, prompts, groups, a.max_new_tokens, b, seed=0, desc=n), a.repeats)
            tokens = sum(r["num_tokens"] for r in out)
            runs[name] = {"seconds": seconds, "responses": len(out), "tokens": tokens, "tokens_per_second": tokens / seconds}
            print(f"generation, {name:>20}: {len(out)} responses, {tokens} tokens in {seconds:.2f} s = {tokens / seconds:,.0f} tokens/s")
        runs["speedup"] = runs["batched"]["tokens_per_second"] / runs["one_prompt_at_a_time"]["tokens_per_second"]
        result["generation_transformers"] = runs
        print(f"generation: batching is {runs['speedup']:.1f}x one prompt at a time")

        responses = [r["response"] for r in out]
        contexts = [prompts[r["prompt_index"]] for r in out]
        scoring = {}
        for name, batch in (("one_response_at_a_time", 1), ("batched", a.batch_size)):
            _, seconds = timed(lambda b=batch, n=name: score_with_reward_model(rm, contexts, responses, b, max_length=64, desc=n), a.repeats)
            scoring[name] = {"seconds": seconds, "responses": len(responses), "responses_per_second": len(responses) / seconds}
            print(f"scoring, {name:>22}: {len(responses)} responses in {seconds:.2f} s = {len(responses) / seconds:,.0f} responses/s")
        scoring["speedup"] = scoring["batched"]["responses_per_second"] / scoring["one_response_at_a_time"]["responses_per_second"]
        result["scoring"] = scoring
        print(f"scoring: batching is {scoring['speedup']:.1f}x one response at a time")

        result["vllm_vs_transformers"] = compare_vllm(policy, prompts, groups, a)
    a.output.parent.mkdir(parents=True, exist_ok=True)
    a.output.write_text(json.dumps(result, indent=2) + "\n")


def compare_vllm(policy: str, prompts: list, groups: list, a) -> dict:
    """vLLM against batched transformers on the GPU, when this machine has both; otherwise why not."""
    import importlib.util

    import torch

    if not torch.cuda.is_available():
        return {"skipped": "no CUDA device on this machine"}
    if importlib.util.find_spec("vllm") is None:
        return {"skipped": "vLLM is not installed (pip install '.[gpu]')"}
    out = {}
    for name, fn in (
        ("transformers", lambda: generate_transformers(policy, prompts, groups, a.max_new_tokens, a.batch_size, seed=0, dtype="bfloat16")),
        ("vllm", lambda: generate_vllm(policy, prompts, groups, a.max_new_tokens, seed=0, dtype="bfloat16")),
    ):
        res, seconds = timed(fn)
        tokens = sum(r["num_tokens"] for r in res)
        out[name] = {"seconds": seconds, "tokens": tokens, "tokens_per_second": tokens / seconds}
        print(f"GPU generation, {name:>12}: {tokens} tokens in {seconds:.2f} s = {tokens / seconds:,.0f} tokens/s")
    out["speedup"] = out["vllm"]["tokens_per_second"] / out["transformers"]["tokens_per_second"]
    out["device"] = torch.cuda.get_device_name(0)
    return out


if __name__ == "__main__":
    main()
