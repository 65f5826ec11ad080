"""The RewardBench-style evaluation table: the made-up world's equivalent (oracle labels), or RewardBench's own
files (prefetched from the Hub at a pinned revision, or local) in the same columns."""

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import json_arg, logger, parser
from online_rlhf.core.records import find_files, read_records
from online_rlhf.core.tables import CHAT, write_parquet
from online_rlhf.judges.reward_bench import benchmark_rows, madeup_benchmark
from online_rlhf.world.task import WorldSpec

log = logger("build_reward_bench")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--source", choices=["synthetic", "hub", "local"], required=True)
    p.add_argument("--world", type=json_arg, default=None, help="world section (synthetic)")
    p.add_argument("--rows-per-subset", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=None, help="folder or file of the benchmark (hub/local)")
    p.add_argument("--files", default="**/*", help="glob of the data files under --data")
    p.add_argument("--output", required=True)
    a = p.parse_args()
    if a.source == "synthetic":
        rows = madeup_benchmark(WorldSpec(**a.world), a.rows_per_subset, a.seed)
    else:
        rows = benchmark_rows(read_records(find_files(a.data, a.files)))
    write_parquet(rows, a.output, {"id": str, "subset": str, "prompt": CHAT, "chosen": str, "rejected": str})
    log.info("%d benchmark pairs (%s) -> %s", len(rows), a.source, a.output)
