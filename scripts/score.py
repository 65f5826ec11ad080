"""Score one shard of the generations with the judge: the Bradley-Terry reward model, the pairwise preference model
(pivot scheme) or the made-up world's oracle."""

import math

import _bootstrap  # noqa: F401
import polars as pl

from online_rlhf.core.cli import add_judge_args, logger, parser
from online_rlhf.core.sharding import shard_by_prompt
from online_rlhf.core.tables import read_parquet
from online_rlhf.judges.interface import JUDGE_KINDS, over_length, score_responses
from online_rlhf.train.models import seed_everything

log = logger("score")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--generations", required=True)
    p.add_argument("--judge", choices=JUDGE_KINDS, default="reward_model")
    p.add_argument("--rm", default=None, help="judge model folder (judges reward_model and preference_model)")
    p.add_argument("--shard", type=int, default=0)
    p.add_argument("--shards", type=int, default=1)
    add_judge_args(p)
    p.add_argument("--judge-max-length", type=int, required=True, help="tokens the judge reads (a pairwise judge: the whole comparison)")
    p.add_argument("--output", required=True)
    a = p.parse_args()
    if a.judge != "oracle":  # the oracle is plain Python: no torch to seed or thread (its start-up is most of the job)
        seed_everything(0, a.threads)
    if a.judge != "oracle" and not a.rm:
        raise SystemExit(f"--rm is required when --judge is {a.judge}")
    gens = read_parquet(a.generations, ("prompt_id", "prompt", "sample_index", "response"))
    part, n_prompts = shard_by_prompt(gens, a.shards, a.shard)
    prompts, responses = part["prompt"].to_list(), part["response"].to_list()
    rewards, comparison_over, token_counts = [], [], []
    if prompts:
        rewards, comparison_over, token_counts = score_responses(
            a.judge, a.rm, part["prompt_id"].to_list(), prompts, responses, a.batch_size, a.judge_max_length, a.dtype
        )
    if token_counts is not None:  # the reward model counted its tokens while scoring: no second render
        over = [n > a.max_length for n in token_counts]
    else:
        over = over_length(a.rm if a.judge != "oracle" else None, prompts, responses, a.max_length)
    out = part.with_columns(
        pl.Series("reward", rewards, dtype=pl.Float64),
        pl.Series("over_length", over, dtype=pl.Boolean),
        # The pairwise judge's comparison was longer than --judge-max-length: no score (NaN), its own drop reason.
        pl.Series("comparison_over_length", comparison_over, dtype=pl.Boolean),
        pl.lit(a.judge).alias("judge"),
    )
    out.write_parquet(a.output, statistics=False)
    bad = sum(not math.isfinite(r) for r in rewards) - sum(comparison_over)
    log.info(
        "shard %d/%d: %d responses of %d prompts scored by %s; %d over %d tokens, %d comparisons over %d tokens (unscored),"
        " %d other non-finite (all kept out of pairs by build_pairs)",
        a.shard, a.shards, out.height, n_prompts, a.judge, sum(over), a.max_length, sum(comparison_over), a.judge_max_length, bad,
    )
