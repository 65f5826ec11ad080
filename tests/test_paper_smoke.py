"""config/paper.yaml executed, not only dry-run: the paper's settings with sizes reduced and the Hub, the URLs and the
API judge replaced by local stand-ins (tests/paper_smoke.py), every rule run to the report on 2 CPU cores."""

import json
import os
import shutil
import subprocess
import sys

import polars as pl
import pytest
import yaml

from . import paper_smoke as ps
from .conftest import ROOT, SHARED_DATA
from .test_dag import snakemake

PAPER = yaml.safe_load((ROOT / "config/paper.yaml").read_text())


def flat(obj, prefix=""):
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: obj}


def test_the_smoke_config_is_the_paper_config_with_sizes_and_stand_ins_only():
    smoke = ps.smoke_config(PAPER, "http://127.0.0.1:1/v1")
    before, after = flat(PAPER), flat(smoke)
    changed = {k for k in before.keys() | after.keys() if before.get(k, "<absent>") != after.get(k, "<absent>")}
    declared = {k for k in changed if any(k == s or k.startswith(s + ".") for s in [*ps.SIZES, *ps.SWAPS])}
    compute = {k for k in changed if k.startswith("compute.")}
    assert changed - declared - compute == set(), "the smoke changed paper.yaml keys it does not declare"
    # What the paper's code paths depend on is paper.yaml's own.
    for key in ("models.base.pad_token", "models.base.chat_template", "online.generation.stop_token_ids", "sft.precision",
                "dpo.accelerate_config", "benchmarks.judge.kind", "benchmarks.judge.model", "audit.mode", "online.init",
                "datasets.hh_rlhf.files", "benchmarks.lm_eval.tasks.gsm8k.num_fewshot"):
        assert after[key] == before[key], key
    assert {k.split(".")[2] for k in compute if k.endswith(".processes")} == {
        r for r, s in PAPER["compute"]["rules"].items() if s.get("gpu", 0) > 1 and PAPER[r.removeprefix("train_")].get("accelerate_config")
    }


def test_stand_in_tokenizer_has_llama3_special_tokens_at_their_ids_and_no_pad_token():
    tok = ps.build_llama3_tokenizer(["Hello there, how are you?", "Fine, thanks."], merges_vocab=300)
    assert tok.pad_token is None and tok.chat_template is None and len(tok) == 128256
    ids = {t: tok.convert_tokens_to_ids(t) for t in ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                                                     "<|eot_id|>", "<|reserved_special_token_0|>", "<|reserved_special_token_250|>")}
    assert ids == {"<|begin_of_text|>": 128000, "<|end_of_text|>": 128001, "<|start_header_id|>": 128006, "<|end_header_id|>": 128007,
                   "<|eot_id|>": 128009, "<|reserved_special_token_0|>": 128002, "<|reserved_special_token_250|>": 128255}
    # paper.yaml's stop ids name <|end_of_text|> and <|eot_id|> in this vocabulary as in Llama-3's.
    assert tok.convert_ids_to_tokens(PAPER["online"]["generation"]["stop_token_ids"]) == ["<|end_of_text|>", "<|eot_id|>"]
    enc = tok("Hello there")["input_ids"]
    assert enc[0] == 128000 and tok.decode(enc[1:]) == "Hello there"


def test_the_prefetch_dry_run_is_parsed_into_repos_and_folders():
    out = (
        "Shell command: python scripts/prefetch.py --repo-type dataset --repo Anthropic/hh-rlhf --revision main"
        " --files 'h*-*/train.jsonl.gz' --output resources/data/hub/hh_rlhf > results/logs/x.log 2>&1\n"
        """Shell command: python scripts/prefetch_url.py --urls '{"question.jsonl":"https://x/q.jsonl"}' --output resources/benchmarks/url/mt_bench > l 2>&1"""
    )
    jobs = ps.prefetch_jobs(out)
    assert jobs[0] == {"script": "prefetch.py", "repo_type": "dataset", "repo": "Anthropic/hh-rlhf", "revision": "main",
                       "files": ["h*-*/train.jsonl.gz"], "output": "resources/data/hub/hh_rlhf"}
    assert jobs[1]["urls"] == {"question.jsonl": "https://x/q.jsonl"} and jobs[1]["output"] == "resources/benchmarks/url/mt_bench"


@pytest.fixture(scope="module")
def judge():
    with ps.StandInJudge() as server:
        yield server


@pytest.fixture(scope="module")
def run(tmp_path_factory, judge):
    work = tmp_path_factory.mktemp("paper")
    env = ps.snakemake_env()
    configfile = ps.prepare(work, judge.url, SHARED_DATA if SHARED_DATA.exists() else None,
                            lambda *a, cwd: snakemake(*a, cwd=cwd, env=env))
    proc = snakemake("--configfile", str(configfile.relative_to(work)), "--cores", "2", cwd=work, env=env, timeout=2400)
    return work, configfile, proc


pytestmark_slow = pytest.mark.slow


@pytestmark_slow
def test_prefetched_folders_are_used_as_prefetch_left_them(run):
    work, configfile, _ = run
    plan = snakemake("prefetch", "-n", "--configfile", str(configfile.relative_to(work)), cwd=work, env=ps.snakemake_env())
    assert "Nothing to be done" in plan.stdout + plan.stderr
    record = json.loads((work / "resources/models/hub/base/PREFETCH.json").read_text())
    assert record["repo"] == PAPER["models"]["base"]["repo"]
    manifest = json.loads((work / "results/manifest.json").read_text())
    hub = {(s["kind"], s["name"]): s for s in manifest["run"]["hub_sources"]} if "hub_sources" in manifest["run"] else {}
    if hub:
        assert hub[("model", "base")]["commit"] == record["commit"]


@pytestmark_slow
def test_training_ran_under_the_paper_launcher_with_two_processes(run):
    work, _, _ = run
    meta = subprocess.run([sys.executable, "-c", "print(1)"], check=True)  # noqa: F841 -- the venv's python runs
    for rule, section in (("train_sft", "sft"), ("train_dpo", "dpo")):
        log = next((work / "results/logs").rglob(f"{rule}.log")).read_text()
        assert "DeepSpeed" in log or "deepspeed" in log, rule
    cmds = (work / ".snakemake").rglob("*")
    assert any("accelerate launch --config_file config/accelerate/deepspeed_zero3.yaml" in p.read_text(errors="ignore")
               for p in cmds if p.is_file() and p.stat().st_size < 1_000_000)


@pytestmark_slow
def test_models_inherit_the_paper_pad_token_and_llama3_template(run):
    from transformers import AutoTokenizer

    work, _, _ = run
    for folder in ("results/sft/model", "results/iter1/policy", "results/iter2/policy", f"results/rm/{PAPER['reward_model']['name']}/model"):
        tok = AutoTokenizer.from_pretrained(work / folder)
        assert tok.pad_token == PAPER["models"]["base"]["pad_token"] and tok.pad_token_id != tok.eos_token_id, folder
        text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
        assert text.count("<|begin_of_text|>") == 1 and text.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n"), folder


@pytestmark_slow
def test_every_iteration_generated_scored_and_paired(run):
    work, _, _ = run
    k = sum(g["n"] for g in ps.SIZES["online.generation.sampling"])
    for t in (1, 2):
        gens = pl.read_parquet(work / f"results/iter{t}/generations.parquet")
        assert gens.height == ps.SIZES["online.prompts_per_iteration"] * k
        rewards = pl.read_parquet(work / f"results/iter{t}/rewards.parquet")
        assert rewards["reward"].is_finite().all()
        assert (work / f"results/iter{t}/policy/model.safetensors").exists()


@pytestmark_slow
def test_the_api_judge_was_asked_with_the_paper_model_and_the_key_from_the_environment(run, judge):
    work, _, _ = run
    models = {r["body"]["model"] for r in judge.requests}
    assert models == {PAPER["benchmarks"]["judge"]["model"]}
    assert {r["auth"] for r in judge.requests} == {"Bearer stand-in-key"}
    for model in ("sft", "iter2"):
        for bench in PAPER["benchmarks"]["chat"]:
            result = json.loads((work / f"results/eval/{model}/{bench}.json").read_text())
            assert result["value"] is not None, (model, bench)


@pytestmark_slow
def test_the_report_is_written(run):
    work, _, _ = run
    summary = json.loads((work / "results/report/summary.json").read_text())
    assert summary
    assert (work / "results/manifest.json").exists()


@pytestmark_slow
def test_the_paper_audit_runs_in_tolerance_mode_on_the_smoke_manifest(run, tmp_path):
    work, _, _ = run
    recorded = work / "results/manifest.json"
    manifest = json.loads(recorded.read_text())
    assert manifest["run"]["audit"]["mode"] == "tolerance"

    def audit(rebuilt: dict) -> subprocess.CompletedProcess:
        path = tmp_path / "rebuilt.json"
        path.write_text(json.dumps(rebuilt))
        return subprocess.run([sys.executable, "scripts/audit.py", "--manifest", str(recorded), "--rebuilt", str(path)],
                              cwd=work, capture_output=True, text=True, check=False)

    same = audit(manifest)
    assert same.returncode == 0, same.stdout + same.stderr
    # A GPU rebuild: the policy's weights differ and its metrics move within / beyond the paper's tolerances.
    moved = json.loads(json.dumps(manifest))
    policy = moved["artifacts"]["results/iter1/policy"]
    policy["sha256"] = "0" * 64
    within = audit(moved)
    assert within.returncode == 0 and "within tolerance" in within.stdout, within.stdout + within.stderr


def _unused():
    return os, shutil
