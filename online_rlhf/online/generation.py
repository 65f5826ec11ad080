"""Sample n responses per prompt with the current policy: transformers on CPU, vLLM on GPUs (imported lazily)."""

from __future__ import annotations

from dataclasses import dataclass

from tqdm.auto import tqdm


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
) -> list[dict]:
    """Batched `generate` with left padding; prompts are length-sorted so a batch pads little.

    Generation stops at EOS or any of `stop_token_ids` (e.g. Llama-3's <|eot_id|> beside <|end_of_text|>); the stop
    token is not part of the response. Returns one record per response: prompt index, sample index, temperature,
    text, token count, finish reason ("stop" or "length").
    """
    import torch

    from online_rlhf.train.models import default_device, load_policy, load_tokenizer

    device = default_device()
    tok = load_tokenizer(model_dir)
    model = load_policy(model_dir, dtype=dtype, device=device)
    texts = render_prompts(tok, prompts)
    order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), i))
    out: list[dict] = []
    stops = stop_ids(tok.eos_token_id, stop_token_ids)
    with tqdm(total=len(order) * len(groups), desc=desc, unit="prompt") as bar:
        for g_idx, group in enumerate(groups):
            first_sample = sum(g.n for g in groups[:g_idx])
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                # Seed per (group, batch) so a shard's samples do not depend on what ran before it in the process.
                torch.manual_seed(seed * 1_000_003 + g_idx * 10_007 + start)
                enc = tok([texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False).to(device)
                sampling = {"do_sample": True, "temperature": group.temperature, "top_k": 0, "top_p": 1.0} if group.temperature > 0 else {"do_sample": False}
                with torch.no_grad():
                    gen = model.generate(
                        **enc,
                        max_new_tokens=max_new_tokens,
                        num_return_sequences=group.n,
                        pad_token_id=tok.pad_token_id,
                        eos_token_id=stops,
                        **sampling,
                    )
                new = gen[:, enc["input_ids"].shape[1] :].tolist()
                for j, ids in enumerate(new):
                    p = idx[j // group.n]
                    ids, reason = cut_at_stop(ids, stops, tok.pad_token_id)
                    out.append(
                        {
                            "prompt_index": p,
                            "sample_index": first_sample + j % group.n,
                            "temperature": group.temperature,
                            "response": tok.decode(ids, skip_special_tokens=True),
                            "num_tokens": len(ids),
                            "finish_reason": reason,
                        }
                    )
                bar.update(len(idx))
    out.sort(key=lambda r: (r["prompt_index"], r["sample_index"]))
    return out


def generate_vllm(
    model_dir: str,
    prompts: list[list[dict]],
    groups: list[SamplingGroup],
    max_new_tokens: int,
    seed: int,
    dtype: str = "bfloat16",
    tensor_parallel_size: int = 1,
    stop_token_ids: list[int] | None = None,
    gpu_memory_utilization: float = 0.9,
) -> list[dict]:
    """vLLM backend (GPU only): one engine, one SamplingParams per temperature group, no top-k/top-p."""
    try:
        from vllm import LLM, SamplingParams
    except ImportError as err:  # vLLM is a CUDA-only optional extra, never in the CPU install
        raise RuntimeError("generation.backend is 'vllm' but vLLM is not installed: use envs/generation.yaml or pip install '.[gpu]'") from err

    from online_rlhf.train.models import load_tokenizer

    tok = load_tokenizer(model_dir)
    # Token ids, not text: the chat template already wrote BOS, and vLLM would add another when tokenizing text.
    inputs = [{"prompt_token_ids": ids} for ids in tok(render_prompts(tok, prompts), add_special_tokens=False)["input_ids"]]
    llm = LLM(model=model_dir, dtype=dtype, tensor_parallel_size=tensor_parallel_size, seed=seed, gpu_memory_utilization=gpu_memory_utilization)
    stops = stop_ids(tok.eos_token_id, stop_token_ids)
    out: list[dict] = []
    for g_idx, group in enumerate(groups):
        first_sample = sum(g.n for g in groups[:g_idx])
        params = SamplingParams(
            n=group.n,
            temperature=group.temperature,
            top_p=1.0,
            top_k=-1,
            max_tokens=max_new_tokens,
            stop_token_ids=stops,
            seed=seed + g_idx,
        )
        results = llm.generate(inputs, params, use_tqdm=True)
        for p, res in enumerate(results):
            for s, o in enumerate(res.outputs):
                out.append(
                    {
                        "prompt_index": p,
                        "sample_index": first_sample + s,
                        "temperature": group.temperature,
                        "response": o.text,
                        "num_tokens": len(o.token_ids),
                        "finish_reason": o.finish_reason,
                    }
                )
    out.sort(key=lambda r: (r["prompt_index"], r["sample_index"]))
    return out
