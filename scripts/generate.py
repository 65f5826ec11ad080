"""Sample responses for one shard of a prompt table with a policy (transformers or vLLM backend)."""

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import add_generation_args, json_arg, logger, parser
from online_rlhf.core.sharding import shard_bounds
from online_rlhf.core.tables import CHAT, read_parquet, write_parquet
from online_rlhf.online.generation import generate_transformers, generate_vllm, sampling_groups
from online_rlhf.train.models import seed_everything

log = logger("generate")

SCHEMA = {"prompt_id": str, "prompt": CHAT, "sample_index": int, "temperature": float, "response": str, "num_tokens": int, "finish_reason": str, "shard": int}

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
    a = p.parse_args()

    seed_everything(a.seed, a.threads)
    table = read_parquet(a.prompts, ("prompt_id", "prompt"))
    if a.first is not None:
        table = table.head(a.first)
    lo, hi = shard_bounds(table.height, a.shards, a.shard)
    part = table.slice(lo, hi - lo).to_dicts()
    groups = sampling_groups(a.sampling)
    prompts = [r["prompt"] for r in part]
    # Each shard gets its own seed stream so shards are independent jobs yet reproducible.
    seed = a.seed * 1000 + a.shard
    if not prompts:
        out = []
    elif a.backend == "vllm":
        out = generate_vllm(a.model, prompts, groups, a.max_new_tokens, seed, a.dtype, a.tensor_parallel_size, a.stop_token_ids)
    else:
        out = generate_transformers(a.model, prompts, groups, a.max_new_tokens, a.batch_size, seed, a.dtype, stop_token_ids=a.stop_token_ids)
    rows = [
        {"prompt_id": part[r["prompt_index"]]["prompt_id"], "prompt": part[r["prompt_index"]]["prompt"], "shard": a.shard, **{k: v for k, v in r.items() if k != "prompt_index"}}
        for r in out
    ]
    write_parquet(rows, a.output, SCHEMA)
    log.info("shard %d/%d: prompts [%d, %d) -> %d responses", a.shard, a.shards, lo, hi, len(rows))
