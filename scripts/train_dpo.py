"""DPO (TRL DPOTrainer) from an initial policy against an explicit, fixed reference policy.

Used for the offline DPO baseline (fixed dataset) and for every online iteration (pairs of this iteration, or of
iterations 1..t when online.data is 'history')."""

import _bootstrap  # noqa: F401
import polars as pl

from online_rlhf.core.cli import add_training_args, logger, parser
from online_rlhf.core.tables import read_parquet, write_json
from online_rlhf.train.trainers import end_launch, is_main_process, train_dpo, trainable_pairs

log = logger("train_dpo")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--init", required=True, help="policy to start from")
    p.add_argument("--ref", required=True, help="reference policy of the DPO loss (kept fixed)")
    p.add_argument("--pairs", nargs="+", required=True, help="pair tables (canonical schema)")
    add_training_args(p)
    a = p.parse_args()
    cols = ["prompt", "chosen", "rejected"]
    rows = pl.concat([read_parquet(f, tuple(cols)).select(cols) for f in a.pairs]).to_dicts()
    pairs, counts = trainable_pairs(a.init, rows, a.hparams["max_length"])
    log.info("%s from %d table(s) (max_length %d)", counts, len(a.pairs), a.hparams["max_length"])
    result = train_dpo(a.init, a.ref, pairs, a.hparams, a.output, a.seed, a.threads)
    if is_main_process():  # one metrics file per launch, not one write per rank
        write_json({**counts, "init": a.init, "reference": a.ref, **result}, a.metrics)
    end_launch()
