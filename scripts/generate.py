"""Sample responses for one shard of a prompt table with a policy (transformers or vLLM backend); optionally also
answer chat benchmarks greedily with the same loaded model (--benchmarks: the held-out evaluation job of a policy)."""

from collections import Counter

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import add_generation_args, json_arg, logger, parser
from online_rlhf.core.sharding import shard_bounds
from online_rlhf.core.tables import CHAT, read_parquet, write_parquet
from online_rlhf.evaluate.chat_benchmarks import write_benchmark_answers
from online_rlhf.online.generation import (
    PROMPT_TOO_LONG,
    SamplingGroup,
    generate_transformers,
    generate_vllm,
    sampling_groups,
    shard_stream,
    vllm_settings,
)
from online_rlhf.train.models import seed_everything

log = logger("generate")

SCHEMA = {"prompt_id": str, "prompt": CHAT, "sample_index": int, "temperature": float, "response": str, "num_tokens": int, "finish_reason": str, "shard": int}



def sample(a, prompts, groups, max_new_tokens, batch_size, transformers_seed, desc="generate", first_row=0, rows=None):
    """The configured backend's samples. vLLM seeds every request by its row in the whole table (first_row, rows) from
    the job's seed; transformers seeds each batch from `transformers_seed`."""
    if a.backend == "vllm":
        return generate_vllm(a.model, prompts, groups, max_new_tokens, a.seed, vllm_settings(a), a.stop_token_ids, first_row=first_row, rows=rows)
    return generate_transformers(
        a.model, prompts, groups, max_new_tokens, batch_size, transformers_seed, a.dtype, desc=desc,
        stop_token_ids=a.stop_token_ids, max_model_len=a.max_model_len,
    )


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--model", required=True)
    p.add_argument("--prompts", required=True)
    p.add_argument("--shard", type=int, default=0)
    p.add_argument("--shards", type=int, default=1)
    p.add_argument("--sampling", type=json_arg, required=True, help='[{"temperature": 1.0, "n": 8}, ...]')
    add_generation_args(p)
    p.add_argument("--first", type=int, default=None, help="only the first N prompts of the table")
    p.add_argument("--output", required=True)
    p.add_argument(
        "--benchmarks", type=json_arg, default=None,
        help='also answer chat benchmarks greedily, turn by turn: {"model_name", "max_new_tokens", "batch_size", "jobs": '
        '[{"benchmark", "questions", "output", "layout" (Arena-Hard)}]}; one process saves a model load and start-up',
    )
    a = p.parse_args()

    seed_everything(a.seed, a.threads)
    table = read_parquet(a.prompts, ("prompt_id", "prompt"))
    if a.first is not None:
        table = table.head(a.first)
    lo, hi = shard_bounds(table.height, a.shards, a.shard)
    part = table.slice(lo, hi - lo).to_dicts()
    groups = sampling_groups(a.sampling)
    prompts = [r["prompt"] for r in part]
    # Shards are independent jobs yet disjoint and reproducible: vLLM seeds each sample by its row in the whole table,
    # transformers gives each shard its own seed stream.
    out = sample(a, prompts, groups, a.max_new_tokens, a.batch_size, shard_stream(a.seed, a.shard), first_row=lo, rows=table.height) if prompts else []
    rows = [
        {"prompt_id": part[r["prompt_index"]]["prompt_id"], "prompt": part[r["prompt_index"]]["prompt"], "shard": a.shard, **{k: v for k, v in r.items() if k != "prompt_index"}}
        for r in out
    ]
    write_parquet(rows, a.output, SCHEMA)
    reasons = Counter(r["finish_reason"] for r in rows)
    log.info("shard %d/%d: prompts [%d, %d) -> %d responses, finish reasons %s", a.shard, a.shards, lo, hi, len(rows), dict(sorted(reasons.items())))
    if reasons[PROMPT_TOO_LONG]:
        too_long = len({r["prompt_id"] for r in rows if r["finish_reason"] == PROMPT_TOO_LONG})
        log.warning("%d prompt(s) leave no room for a response within the context: recorded with finish_reason %r and an empty response", too_long, PROMPT_TOO_LONG)
    if a.benchmarks:
        bench = a.benchmarks
        greedy = [SamplingGroup(0.0, 1)]

        def answer(chats, turn, benchmark):
            out = sample(a, chats, greedy, bench["max_new_tokens"], bench["batch_size"], a.seed, desc=f"{benchmark} turn {turn + 1}")
            return [(r["response"], r["num_tokens"]) for r in out]

        for line in write_benchmark_answers(bench["jobs"], bench["model_name"], answer):
            log.info("%s", line)
