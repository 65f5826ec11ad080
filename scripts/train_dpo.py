"""DPO (TRL DPOTrainer) from an initial policy against an explicit, fixed reference policy.

Used for the offline DPO baseline (fixed dataset) and for every online iteration (pairs of this iteration, or of
iterations 1..t when online.data is 'history')."""

import _bootstrap  # noqa: F401

import polars as pl

from online_rlhf.cli import json_arg, logger, parser
from online_rlhf.modeling import load_tokenizer
from online_rlhf.tables import read_parquet, write_json
from online_rlhf.training import conversational_pair, split_over_length, train_dpo

log = logger("train_dpo")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--init", required=True, help="policy to start from")
    p.add_argument("--ref", required=True, help="reference policy of the DPO loss (kept fixed)")
    p.add_argument("--pairs", nargs="+", required=True, help="pair tables (canonical schema)")
    p.add_argument("--hparams", type=json_arg, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--output", required=True)
    p.add_argument("--metrics", required=True)
    a = p.parse_args()
    cols = ["prompt", "chosen", "rejected"]
    rows = pl.concat([read_parquet(f, tuple(cols)).select(cols) for f in a.pairs]).to_dicts()
    fits, over = split_over_length(load_tokenizer(a.init), rows, a.hparams["max_length"])
    log.info("%d pairs from %d table(s), %d over max_length %d left out", len(rows), len(a.pairs), len(over), a.hparams["max_length"])
    result = train_dpo(a.init, a.ref, [conversational_pair(r) for r in fits], a.hparams, a.output, a.seed, a.threads)
    write_json({"pairs_in": len(rows), "pairs_trained": len(fits), "dropped_over_length": len(over), "init": a.init, "reference": a.ref, **result}, a.metrics)
