"""Bradley-Terry reward model on a preference mixture (TRL RewardTrainer), initialised from the SFT model."""

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import add_training_args, logger, parser
from online_rlhf.core.tables import read_parquet, write_json
from online_rlhf.train.trainers import end_launch, is_main_process, train_reward_model, trainable_pairs

log = logger("train_reward_model")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--init", required=True, help="model to add the scalar head to (the SFT model in the paper)")
    p.add_argument("--data", required=True, help="mixture table")
    add_training_args(p)
    a = p.parse_args()
    rows = read_parquet(a.data, ("prompt", "chosen", "rejected")).to_dicts()
    pairs, counts = trainable_pairs(a.init, rows, a.hparams["max_length"], tokenized=True)
    log.info("%s (max_length %d)", counts, a.hparams["max_length"])
    result = train_reward_model(a.init, pairs, a.hparams, a.output, a.seed, a.threads)
    if is_main_process():  # one metrics file per launch, not one write per rank
        write_json({**counts, **result}, a.metrics)
    end_launch()
