"""Score one shard of the generations with the reward model (or the made-up world's oracle)."""

import math

import _bootstrap  # noqa: F401
import polars as pl

from online_rlhf.cli import logger, parser
from online_rlhf.modeling import seed_everything
from online_rlhf.scoring import score_with_oracle, score_with_reward_model
from online_rlhf.sharding import shard_bounds
from online_rlhf.tables import read_parquet

log = logger("score")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--generations", required=True)
    p.add_argument("--judge", choices=["reward_model", "oracle"], default="reward_model")
    p.add_argument("--rm", default=None, help="reward model folder (judge reward_model)")
    p.add_argument("--shard", type=int, default=0)
    p.add_argument("--shards", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-length", type=int, default=4096)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--output", required=True)
    a = p.parse_args()
    seed_everything(0, a.threads)
    gens = read_parquet(a.generations, ("prompt_id", "prompt", "sample_index", "response"))
    # Shard by prompt, not by row, so all K responses of a prompt are scored by the same job.
    prompt_ids = gens["prompt_id"].unique(maintain_order=True)
    lo, hi = shard_bounds(len(prompt_ids), a.shards, a.shard)
    part = gens.filter(pl.col("prompt_id").is_in(prompt_ids.slice(lo, hi - lo).implode()))
    prompts, responses = part["prompt"].to_list(), part["response"].to_list()
    if a.judge == "oracle":
        rewards = score_with_oracle(prompts, responses)
    elif not prompts:
        rewards = []
    else:
        if not a.rm:
            raise SystemExit("--rm is required when --judge is reward_model")
        rewards = score_with_reward_model(a.rm, prompts, responses, a.batch_size, a.max_length, a.dtype)
    out = part.with_columns(pl.Series("reward", rewards, dtype=pl.Float64), pl.lit(a.judge).alias("judge"))
    out.write_parquet(a.output, statistics=False)
    bad = sum(not math.isfinite(r) for r in rewards)
    log.info("shard %d/%d: %d responses of %d prompts scored by %s; %d non-finite", a.shard, a.shards, out.height, hi - lo, a.judge, bad)
