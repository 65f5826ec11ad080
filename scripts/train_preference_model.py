"""Pairwise preference model (stage 4 of the paper): SFT of the label token A/B on comparisons of a preference
mixture in the `[CONTEXT] ... [RESPONSE A] ... [RESPONSE B] ...` format, from the SFT model (TRL SFTTrainer)."""

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import add_training_args, logger, parser
from online_rlhf.core.tables import read_parquet, write_json
from online_rlhf.train.preference_model import train_preference_model
from online_rlhf.train.trainers import end_launch, is_main_process

log = logger("train_preference_model")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--init", required=True, help="model to fine-tune (the SFT model in the paper)")
    p.add_argument("--data", required=True, help="mixture table")
    add_training_args(p)
    a = p.parse_args()
    pairs = read_parquet(a.data, ("prompt", "chosen", "rejected")).select("prompt", "chosen", "rejected").to_dicts()
    result = train_preference_model(a.init, pairs, a.hparams, a.output, a.seed, a.threads)
    log.info("%d of %d comparisons trained (%d over %d tokens left out); added tokens %s", result["pairs_trained"],
             result["pairs_in"], result["dropped_over_length"], a.hparams["max_length"], result["added_tokens"])
    if is_main_process():  # one metrics file per launch, not one write per rank
        write_json(result, a.metrics)
    end_launch()
