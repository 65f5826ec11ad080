"""SFT of the base model on chat demonstrations (TRL SFTTrainer, loss on assistant turns)."""

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import add_training_args, logger, parser
from online_rlhf.core.tables import read_parquet, write_json
from online_rlhf.train.trainers import end_launch, is_main_process, train_sft

log = logger("train_sft")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--model", required=True, help="base model folder")
    p.add_argument("--data", required=True, help="normalised messages table")
    add_training_args(p)
    a = p.parse_args()
    rows = read_parquet(a.data, ("messages",)).select("messages").to_dicts()
    result = train_sft(a.model, rows, a.hparams, a.output, a.seed, a.threads)
    if is_main_process():  # one metrics file per launch, not one write per rank
        write_json({"examples": len(rows), **result}, a.metrics)
    log.info("SFT on %d conversations: %s", len(rows), result)
    end_launch()
