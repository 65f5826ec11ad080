"""Concatenate shard tables and prove nothing was lost: every prompt of the reference table has exactly K rows."""

import _bootstrap  # noqa: F401
import polars as pl

from online_rlhf.core.cli import logger, parser
from online_rlhf.core.sharding import check_complete
from online_rlhf.core.tables import read_parquet

log = logger("gather_shards")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--shards", nargs="+", required=True)
    p.add_argument("--expected", required=True, help="table whose prompt_ids must all be covered")
    p.add_argument("--per-prompt", type=int, required=True, help="K: responses per prompt")
    p.add_argument("--output", required=True)
    a = p.parse_args()
    frames = [read_parquet(f, ("prompt_id", "sample_index")) for f in a.shards]
    table = pl.concat(frames, how="vertical")
    expected = read_parquet(a.expected, ("prompt_id",))["prompt_id"].unique(maintain_order=True).to_list()
    check_complete(expected, table.select("prompt_id", "sample_index").to_dicts(), a.per_prompt, a.output)
    table.sort("prompt_id", "sample_index").write_parquet(a.output, statistics=False)
    log.info("%d shards -> %d rows for %d prompts (K=%d)", len(frames), table.height, len(expected), a.per_prompt)
