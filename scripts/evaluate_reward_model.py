"""Accuracy of a reward model on held-out preference pairs: share of pairs where r(chosen) > r(rejected), ties
counting half, overall and per source."""

from collections import defaultdict

import _bootstrap  # noqa: F401

from online_rlhf.cli import logger, parser
from online_rlhf.modeling import seed_everything
from online_rlhf.scoring import score_with_reward_model
from online_rlhf.tables import read_parquet, write_json

log = logger("evaluate_reward_model")


def accuracy(chosen: list[float], rejected: list[float]) -> float:
    return sum(1.0 if c > r else 0.5 if c == r else 0.0 for c, r in zip(chosen, rejected, strict=True)) / len(chosen)


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--rm", required=True)
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
    prompts = [r["prompt"] for r in rows]
    rc = score_with_reward_model(a.rm, prompts, [r["chosen"] for r in rows], a.batch_size, a.max_length, desc="chosen")
    rr = score_with_reward_model(a.rm, prompts, [r["rejected"] for r in rows], a.batch_size, a.max_length, desc="rejected")
    by_source = defaultdict(list)
    for r, c, j in zip(rows, rc, rr):
        by_source[r["source"]].append((c, j))
    result = {
        "pairs": len(rows),
        "accuracy": accuracy(rc, rr),
        "mean_margin": sum(c - j for c, j in zip(rc, rr)) / len(rows),
        "by_source": {s: {"pairs": len(v), "accuracy": accuracy([c for c, _ in v], [j for _, j in v])} for s, v in sorted(by_source.items())},
    }
    write_json(result, a.output)
    log.info("accuracy %.4f on %d pairs", result["accuracy"], len(rows))
