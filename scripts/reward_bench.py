"""RewardBench-style accuracy of one judge: per subset (with counts), per section with the benchmark's weighting,
and the mean of sections; ties count half. Writes JSON and a markdown table."""

import math
from pathlib import Path

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import logger, parser
from online_rlhf.core.tables import read_parquet, write_json
from online_rlhf.judges.interface import JUDGE_KINDS, outcome, pair_margins
from online_rlhf.judges.reward_bench import markdown_table, summarise
from online_rlhf.train.models import seed_everything

log = logger("reward_bench")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--benchmark", required=True)
    p.add_argument("--kind", choices=JUDGE_KINDS, required=True)
    p.add_argument("--model", default=None, help="judge model folder (not for the oracle)")
    p.add_argument("--name", required=True, help="the judge's name in the tables")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-length", type=int, default=4096)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--output", required=True)
    p.add_argument("--table", required=True)
    a = p.parse_args()
    seed_everything(0, a.threads)
    rows = read_parquet(a.benchmark, ("subset", "prompt", "chosen", "rejected")).to_dicts()
    margins = pair_margins(a.kind, a.model, [r["prompt"] for r in rows], [r["chosen"] for r in rows], [r["rejected"] for r in rows], a.batch_size, a.max_length)
    result = summarise([r["subset"] for r in rows], [outcome(m) for m in margins])
    # Non-finite margins count as wrong; for the pairwise judge they are comparisons over --max-length (never scored).
    result.update(judge=a.name, kind=a.kind, non_finite=sum(not math.isfinite(m) for m in margins))
    write_json(result, a.output)
    Path(a.table).write_text(markdown_table(result, a.name))
    log.info("%s: score %.3f; %s", a.name, result["score"], {s: round(v["accuracy"], 3) for s, v in result["sections"].items()})
