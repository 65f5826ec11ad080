"""Accuracy of a judge on held-out preference pairs: share of pairs where it prefers the chosen side (Bradley-Terry:
r(chosen) > r(rejected); pairwise model: P(chosen > rejected) > 1/2 over both orders), ties counting half, overall
and per source."""

import math
import statistics
from collections import defaultdict

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import logger, parser
from online_rlhf.core.tables import read_parquet, write_json
from online_rlhf.judges.interface import JUDGE_KINDS, accuracy, pair_margins
from online_rlhf.train.models import seed_everything

log = logger("evaluate_reward_model")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--rm", required=True)
    p.add_argument("--kind", choices=JUDGE_KINDS, default="reward_model")
    p.add_argument("--pairs", required=True)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-length", type=int, default=4096)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--output", required=True)
    a = p.parse_args()
    seed_everything(0, a.threads)
    rows = read_parquet(a.pairs, ("source", "prompt", "chosen", "rejected")).to_dicts()
    if not rows:
        raise SystemExit(f"{a.pairs}: no held-out pairs to evaluate on")
    margins = pair_margins(a.kind, a.rm, [r["prompt"] for r in rows], [r["chosen"] for r in rows], [r["rejected"] for r in rows], a.batch_size, a.max_length)
    by_source = defaultdict(list)
    for r, m in zip(rows, margins):
        by_source[r["source"]].append(m)
    result = {
        "judge": a.kind,
        "pairs": len(rows),
        "accuracy": accuracy(margins),
        # Non-finite margins count as wrong; for the pairwise judge they are comparisons over --max-length (unscored).
        "non_finite": sum(not math.isfinite(m) for m in margins),
        "mean_margin": statistics.fmean(m for m in margins if math.isfinite(m)) if any(map(math.isfinite, margins)) else None,
        "by_source": {s: {"pairs": len(v), "accuracy": accuracy(v)} for s, v in sorted(by_source.items())},
    }
    write_json(result, a.output)
    log.info("%s accuracy %.4f on %d pairs", a.kind, result["accuracy"], len(rows))
