"""Adopt an external, already trained Bradley-Terry reward model (e.g. the paper's released RM from the Hub) as this
run's judge folder: its weights hard-linked (copied across file systems), its tokenizer saved with a real pad token
distinct from EOS and a chat template, so every scoring step reads it like a trained one."""

from pathlib import Path

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import logger, parser
from online_rlhf.core.tables import link_or_copy, write_json
from online_rlhf.train.models import check_model_dir, load_tokenizer

log = logger("adopt_reward_model")

# config.json is not linked: it is written again below (with the pad token), and writing through a hard link would
# change the source folder's file too.
WEIGHT_FILES = ("*.safetensors", "*.safetensors.index.json", "generation_config.json")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--model", required=True, help="prefetched Hub folder or local folder")
    p.add_argument("--pad-token", default=None)
    p.add_argument("--chat-template", default=None)
    p.add_argument("--output", required=True)
    a = p.parse_args()
    src = check_model_dir(a.model, "external reward model")
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(src)
    if not any(arch.endswith("ForSequenceClassification") for arch in cfg.architectures or []) or cfg.num_labels != 1:
        raise SystemExit(f"{src}: not a scalar reward model (architectures {cfg.architectures}, num_labels {cfg.num_labels}); "
                         "expected a *ForSequenceClassification with one label")
    tok = load_tokenizer(src, a.pad_token, a.chat_template, training=False)
    out = Path(a.output)
    out.mkdir(parents=True, exist_ok=True)
    linked = []
    for pattern in WEIGHT_FILES:
        for f in sorted(src.glob(pattern)):
            link_or_copy(f, out / f.name)
            linked.append(f.name)
    cfg.pad_token_id = tok.pad_token_id
    cfg.save_pretrained(out)
    tok.save_pretrained(out)
    write_json({"source": str(src), "files": linked, "pad_token": tok.pad_token}, out / "ADOPTED.json")
    log.info("adopted %s (%d files, pad %r) -> %s", src, len(linked), tok.pad_token, out)
