"""Table 5 of the paper for one mixture: #prompts, #pairs, mean prompt / chosen / rejected length in tokens of the
policy tokenizer, completion and annotator type, per source and in total (JSON + markdown)."""

from pathlib import Path

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import json_arg, logger, parser
from online_rlhf.core.tables import read_parquet, write_json
from online_rlhf.data.stats import mixture_statistics, render_markdown

log = logger("mixture_stats")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--name", required=True)
    p.add_argument("--mixture", required=True, help="the mixture's parquet table")
    p.add_argument("--tokenizer", required=True, help="folder of the policy model (its tokenizer is used)")
    p.add_argument("--datasets", type=json_arg, required=True, help="config entries of the mixture's sources (JSON)")
    p.add_argument("--json", required=True)
    p.add_argument("--markdown", required=True)
    a = p.parse_args()
    fast = Path(a.tokenizer) / "tokenizer.json"
    if fast.is_file():
        # The `tokenizers` library alone reads a fast tokenizer: the same ids as transformers' fast tokenizer
        # without importing torch and transformers (seconds of start-up in a job that only counts tokens).
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(fast))

        def encode(texts):
            return [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]
    else:  # a slow (e.g. SentencePiece-only) tokenizer needs transformers
        from transformers import AutoTokenizer

        slow = AutoTokenizer.from_pretrained(a.tokenizer)

        def encode(texts):
            return slow(texts, add_special_tokens=False)["input_ids"]

    pairs = read_parquet(a.mixture, ("source", "prompt_id", "prompt", "chosen", "rejected"))
    stats = mixture_statistics(a.name, pairs, a.datasets, encode, a.tokenizer)
    write_json(stats, a.json)
    Path(a.markdown).write_text(render_markdown(stats))
    log.info("%s: %d pairs, %d prompts over %d sources", a.name, stats["total"]["pairs"], stats["total"]["prompts"], len(stats["sources"]))
