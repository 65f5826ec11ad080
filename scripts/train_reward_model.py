"""Bradley-Terry reward model on a preference mixture (TRL RewardTrainer), initialised from the SFT model."""

import _bootstrap  # noqa: F401

from online_rlhf.cli import json_arg, logger, parser
from online_rlhf.modeling import load_tokenizer
from online_rlhf.tables import read_parquet, write_json
from online_rlhf.training import conversational_pair, split_over_length, train_reward_model

log = logger("train_reward_model")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--init", required=True, help="model to add the scalar head to (the SFT model in the paper)")
    p.add_argument("--data", required=True, help="mixture table")
    p.add_argument("--hparams", type=json_arg, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--output", required=True)
    p.add_argument("--metrics", required=True)
    a = p.parse_args()
    rows = read_parquet(a.data, ("prompt", "chosen", "rejected")).to_dicts()
    fits, over = split_over_length(load_tokenizer(a.init), rows, a.hparams["max_length"])
    log.info("%d pairs, %d over max_length %d left out", len(rows), len(over), a.hparams["max_length"])
    result = train_reward_model(a.init, [conversational_pair(r) for r in fits], a.hparams, a.output, a.seed, a.threads)
    write_json({"pairs_in": len(rows), "pairs_trained": len(fits), "dropped_over_length": len(over), **result}, a.metrics)
