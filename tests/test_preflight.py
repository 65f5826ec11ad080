"""Preflight (`snakemake preflight`): fails in seconds naming the config key, before any job runs."""

import json

import pytest
import yaml

from online_rlhf.preflight import preflight
from online_rlhf.train.models import build_base_model

from .conftest import ROOT, copy_workflow
from .test_dag import snakemake

LLAMA3_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>",
                   "<|reserved_special_token_0|>", "<unk>"]
ARCH = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
        "num_key_value_heads": 2, "max_position_embeddings": 8192}


def llama3_stand_in(folder):
    """A tiny model with Meta-Llama-3-8B's tokenizer shape: its special tokens, EOS <|end_of_text|>, no pad token,
    no chat template (the base model ships none)."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.train_from_iterator(["abcdefghijklmnopqrstuvwxyz .,\n"], trainers.WordLevelTrainer(special_tokens=LLAMA3_SPECIALS))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>", unk_token="<unk>")
    fast.add_special_tokens({"additional_special_tokens": LLAMA3_SPECIALS[2:6]})
    model = build_base_model(type("T", (), {"__len__": lambda s: len(fast), "pad_token_id": None, "bos_token_id": fast.bos_token_id,
                                            "eos_token_id": fast.eos_token_id})(), ARCH, seed=0)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return fast


def record(folder, repo, revision):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "PREFETCH.json").write_text(json.dumps({"repo": repo, "repo_type": "x", "revision": revision, "commit": "0" * 40}))


@pytest.fixture(scope="module")
def paper_workdir(tmp_path_factory):
    """config/paper.yaml's downloads as stand-ins: the base model folder and a PREFETCH.json for every other one."""
    work = copy_workflow(tmp_path_factory.mktemp("paper_preflight"))
    config = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    base = work / "resources/models/prefetched/base"
    llama3_stand_in(base)
    record(base, config["models"]["base"]["repo"], config["models"]["base"]["revision"])
    for name, spec in config["datasets"].items():
        record(work / "resources/data/hub" / name, spec["repo"], spec["revision"])
    return work, config


def paper_downloads(config):
    bench = config["benchmarks"]
    return (["resources/benchmarks/hub/reward_bench"] + [f"resources/benchmarks/hub/lm_eval_{t}" for t in bench["lm_eval"]["tasks"]]
            + [f"resources/benchmarks/{s['source']}/{b}" for b, s in bench["chat"].items()])


def test_paper_config_passes_with_stand_in_folders_and_fails_without_the_pad_token(paper_workdir):
    work, config = paper_workdir
    for folder in paper_downloads(config):
        record(work / folder, "x/y", "main")
    findings = preflight(config, work, paper_downloads(config))
    assert findings.problems == []
    assert any("models.base.revision: 'main' is a branch or tag" in n for n in findings.notes)
    unset = json.loads(json.dumps(config))
    del unset["models"]["base"]["pad_token"]
    problems = preflight(unset, work, paper_downloads(config)).problems
    assert len(problems) == 1 and problems[0].startswith("models.base.pad_token: the tokenizer needs a pad token distinct from EOS")


def test_paper_preflight_target_runs_on_the_login_node_in_seconds(paper_workdir, tmp_path):
    work, config = paper_workdir
    for folder in paper_downloads(config):
        record(work / folder, "x/y", "main")
    proc = snakemake("preflight", "--configfile", "config/paper.yaml", "--cores", "1", cwd=work)
    assert "preflight: ok" in proc.stdout + proc.stderr
    eos = json.loads(json.dumps(config))
    eos["models"]["base"]["pad_token"] = "<|end_of_text|>"
    (tmp_path / "eos.yaml").write_text(yaml.safe_dump(eos))
    proc = snakemake("preflight", "--configfile", str(tmp_path / "eos.yaml"), "--cores", "1", cwd=work, check=False)
    assert proc.returncode != 0 and "models.base.pad_token" in proc.stdout + proc.stderr


def test_each_problem_names_its_key(paper_workdir):
    work, config = paper_workdir
    bad = json.loads(json.dumps(config))
    bad["sft"]["max_length"] = 9000
    bad["dpo"]["accelerate_config"] = "zero9.yaml"
    bad["models"]["base"]["chat_template"] = None
    bad["datasets"]["shp"]["revision"] = "v2"
    problems = preflight(bad, work).problems
    joined = "\n".join(problems)
    assert "sft.max_length: 9000 tokens exceed models.base's 8192 positions" in joined
    assert "dpo.accelerate_config: config/accelerate/zero9.yaml does not exist" in joined
    assert "models.base.chat_template: the tokenizer has no chat template" in joined
    assert "datasets.shp.revision: " in joined and "stanfordnlp/SHP@v2" in joined
    empty = copy_workflow(work / "elsewhere")
    missing = preflight(config, empty).problems
    assert any(p.startswith("models.base: meta-llama/Meta-Llama-3-8B@main is not prefetched") for p in missing)
