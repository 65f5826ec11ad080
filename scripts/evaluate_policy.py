"""Held-out metrics of one policy from its judged samples: mean reward (greedy and sampled), win rate against the
SFT policy on the same prompts (ties half), mean length."""

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import logger, parser
from online_rlhf.core.tables import read_parquet, write_json
from online_rlhf.evaluate.heldout import summarise

log = logger("evaluate_policy")

COLS = ("prompt_id", "temperature", "response", "reward", "num_tokens")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--model-name", required=True)
    p.add_argument("--scored", required=True, help="this policy's judged held-out samples")
    p.add_argument("--baseline", required=True, help="the SFT policy's judged held-out samples")
    p.add_argument("--judge", required=True)
    p.add_argument("--output", required=True)
    a = p.parse_args()
    rows = read_parquet(a.scored, COLS).select(COLS).to_dicts()
    base = read_parquet(a.baseline, COLS).select(COLS).to_dicts()
    metrics = summarise(rows, base, exact=a.judge == "oracle")
    write_json({"model": a.model_name, "judge": a.judge, "metrics": metrics}, a.output)
    log.info("%s: %s", a.model_name, {m: round(v["mean_reward"], 4) for m, v in metrics.items()})
