"""Tokenizer and model construction/loading, the one place that knows how models sit on disk."""

from __future__ import annotations

import os
import random
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
CHAT_TEMPLATES = {"tiny": TINY_CHAT_TEMPLATE, "llama3": LLAMA3_CHAT_TEMPLATE}


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


def load_tokenizer(path: str | Path, pad_token: str | None = None, chat_template: str | None = None):
    """Load a tokenizer, enforce a real pad token distinct from EOS (pad = EOS makes an RM score chosen and rejected
    alike, and teaches a policy never to stop), and pad on the left for batched generation."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(check_model_dir(path, "tokenizer")))
    # transformers records HF_HUB_OFFLINE as local_files_only in the tokenizer_config.json a trainer saves; a model
    # folder must not depend on the environment it was loaded in (the reproducibility audit compares it bytewise).
    tok.init_kwargs.pop("local_files_only", None)
    if pad_token:
        if pad_token not in tok.get_vocab():
            raise ValueError(f"tokenizer {path}: pad_token {pad_token!r} is not in its vocabulary")
        tok.pad_token = pad_token
    if tok.pad_token is None or tok.pad_token_id == tok.eos_token_id:
        raise ValueError(
            f"tokenizer {path}: needs a pad token distinct from EOS ({tok.eos_token!r}); "
            "set models.<name>.pad_token in the config to an existing unused special token"
        )
    if chat_template:
        tok.chat_template = CHAT_TEMPLATES[chat_template]
    if not tok.chat_template:
        raise ValueError(f"tokenizer {path} has no chat template; set models.<name>.chat_template (one of {sorted(CHAT_TEMPLATES)})")
    tok.padding_side = "left"
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


def chat_length(tokenizer, messages: list[dict], add_generation_prompt: bool = False) -> int:
    """Tokens of a chat-templated conversation (transformers 5 returns a BatchEncoding from a tokenizing template,
    whose len() is its number of fields, not of tokens)."""
    return len(tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=add_generation_prompt, return_dict=True)["input_ids"])
