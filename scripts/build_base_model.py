"""Build the made-up world's tokenizer (trained on its alphabet) and random-init Llama-style model; adopt_base_model
then makes it the run's base model like any other source."""

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import json_arg, logger, parser
from online_rlhf.train.models import build_base_model, build_tokenizer

log = logger("build_base_model")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--alphabet", required=True)
    p.add_argument("--architecture", type=json_arg, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--output", required=True)
    a = p.parse_args()
    tok = build_tokenizer([a.alphabet])
    model = build_base_model(tok, a.architecture, a.seed)
    model.save_pretrained(a.output)
    tok.save_pretrained(a.output)
    log.info("vocab %d, %d parameters -> %s", len(tok), sum(t.numel() for t in model.parameters()), a.output)
