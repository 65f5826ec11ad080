"""Benchmarks in the DAG and the config: every benchmark a leaf per model, code-executing tasks only when allowed,
login-node prefetches, and the cross-key rules of the benchmarks section."""

import copy

import pytest
import yaml

from online_rlhf.config import ConfigError, load_config, validate_config

from .test_dag import job_counts, snakemake


def test_default_dag_has_every_benchmark_leaf():
    counts = job_counts()
    assert counts["synthesize_benchmarks"] == 1
    # one job per policy for each: held-out samples and chat-benchmark answers share one (generate_eval)
    assert counts["generate_eval"] == counts["lm_eval"] == 5 and "benchmark_answers" not in counts
    assert counts["judge_benchmark"] == 5 * 3  # (model x chat benchmark)
    out = snakemake("-n", "--forceall", "results/eval/iter3/mt_bench.json").stdout
    assert "rule judge_benchmark" in out and "--judge" in out and "rule report" not in out


def test_paper_benchmarks_prefetch_on_the_login_node_and_leave_code_execution_out():
    out = snakemake("-n", "--forceall", "--configfile", "config/paper.yaml").stdout
    counts = job_counts("--configfile", "config/paper.yaml")
    assert counts["prefetch_benchmark"] == 1 + 4  # AlpacaEval + gsm8k, mmlu, truthfulqa_mc2, arc_challenge
    assert counts["prefetch_benchmark_url"] == 2  # MT-Bench, Arena-Hard
    assert "humaneval.json" not in out and "mbpp.json" not in out and "--allow-code-execution" not in out
    assert '"held_back":["humaneval","mbpp"]' in out  # the report says they were left out
    assert "OPENAI_API_KEY" in out and "sk-" not in out  # the key's variable name travels, never a key
    # Arena-Hard at the pinned 2024 code: its parser and retry; MT-Bench with FastChat's reference answers
    assert "--layout 2024" in out and "arena-hard-auto@3071ef95d913 (2024 layout)" in out
    assert "--references resources/benchmarks/url/mt_bench/gpt-4.jsonl" in out
    prefetch = snakemake("-n", "--forceall", "prefetch", "--configfile", "config/paper.yaml").stdout
    assert "resources/benchmarks/hub/lm_eval_mmlu" in prefetch and "resources/benchmarks/url/arena_hard" in prefetch


def test_code_execution_is_an_explicit_opt_in(tmp_path):
    overlay = tmp_path / "allow_code.yaml"
    overlay.write_text(yaml.safe_dump({"benchmarks": {"lm_eval": {"allow_code_execution": True}}}))
    out = snakemake("-n", "--forceall", "--configfile", "config/paper.yaml", str(overlay)).stdout
    assert "--allow-code-execution" in out and "results/eval/sft/humaneval.json" in out and "results/eval/sft/mbpp.json" in out


@pytest.fixture
def default(root):
    return load_config(root / "config" / "config.yaml")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda b: b["chat"]["alpaca_eval"].update(source="hub", questions="q.json"), "'oracle' judges only the made-up world"),
        (lambda b: b["judge"].update(kind="local"), "'local' needs the judge model under models.judge"),
        (lambda b: b["judge"].update(kind="api"), "benchmarks.judge.model: required for kind 'api'"),
        (lambda b: b.update(models=["iter9"]), "iter9 is listed but the run has 3 iteration"),
        (lambda b: b["chat"]["arena_hard"].update(source="local", path="x", questions="q.jsonl"), "arena_hard.baseline: required"),
        (lambda b: b["judge"].update(api_key="sk-abc"), "Additional properties are not allowed ('api_key' was unexpected)"),
        (lambda b: b["chat"]["arena_hard"].pop("layout"), "benchmarks.chat.arena_hard: 'layout' is a required property"),
        (lambda b: b["chat"]["arena_hard"].update(layout="v2.0"), "benchmarks.chat.arena_hard.layout: 'v2.0' is not allowed"),
        (lambda b: b["chat"]["mt_bench"].update(layout="2024"), "benchmarks.chat.mt_bench"),
        (lambda b: (b["judge"].update(kind="api", model="gpt-4"), b["chat"]["mt_bench"].update(source="url", urls={}, questions="q.jsonl")),
         "benchmarks.chat.mt_bench.references: required"),
        (lambda b: b["judge"].update(max_new_tokens=2048), "('max_new_tokens' was unexpected)"),
    ],
)
def test_benchmark_config_errors_name_the_key(default, edit, message):
    cfg = copy.deepcopy(default)
    edit(cfg["benchmarks"])
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_config(cfg)
