"""The reproducibility audit on real runs: a from-scratch rebuild reproduces the recorded manifest exactly (bar
timings), and a changed parameter is traced to exactly the artifacts downstream of it.

Three runs of a small form of config/smoke.yaml: data, SFT, reward model, two online iterations, held-out evaluation,
report (one shard per stage; no offline DPO, pairwise model, selection, length-bias study or benchmarks: the audit
treats every artifact alike, and tests/test_end_to_end.py runs those): the recorded run, an audit rebuild with the
recorded config, an audit rebuild with one changed parameter."""

import json
import re
import subprocess
import sys

import pytest
import yaml

from online_rlhf.provenance.manifest import copy_workflow, strip_volatile

from .conftest import ROOT
from .test_dag import snakemake

pytestmark = pytest.mark.slow


def small_config() -> dict:
    cfg = yaml.safe_load((ROOT / "config/smoke.yaml").read_text())
    cfg["run_name"] = "audit-test"
    cfg["online"]["generation"]["shards"] = 1
    cfg["online"]["scoring"]["shards"] = 1
    cfg["offline_dpo"]["enabled"] = False
    cfg["online"]["scoring"]["judge"] = "reward_model"
    for section in ("preference_model", "selection", "length_bias", "reward_bench", "benchmarks"):
        cfg[section] = None
    return cfg


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    work = tmp_path_factory.mktemp("recorded")
    copy_workflow(ROOT, work)
    (work / "config/audit_small.yaml").write_text(yaml.safe_dump(small_config()))
    changed = small_config()
    changed["online"]["pair_rule"] = "best_random"
    (work / "config/audit_small_best_random.yaml").write_text(yaml.safe_dump(changed))
    snakemake("--configfile", "config/audit_small.yaml", "--cores", "2", cwd=work)
    return work


def audit(work, rebuild_dir, *args):
    proc = subprocess.run(
        [sys.executable, "scripts/audit.py", "--workdir", str(rebuild_dir), "--cores", "2", *args],
        cwd=work, capture_output=True, text=True, timeout=600, check=False,
    )
    assert proc.returncode != 4, f"rebuild failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc, json.loads((rebuild_dir / "audit.json").read_text())


def load(path):
    return json.loads(path.read_text())


def test_manifest_records_every_artifact_with_its_provenance(recorded):
    manifest = load(recorded / "results/manifest.json")
    artifacts = manifest["artifacts"]
    # outputs nothing downstream reads are there too (siblings of the jobs on the way to the report)
    assert {"results/sft/train_metrics.json", "results/iter2/pair_drops.parquet", "results/data/drops/sft/sft_demos.parquet"} <= set(artifacts)
    policy = artifacts["results/iter2/policy"]
    assert policy["type"] == "directory" and policy["files"] >= 5 and len(policy["sha256"]) == 64
    assert policy["rule"] == "train_dpo" and policy["seed"] == "9" and policy["script"] == "scripts/train_dpo.py"
    assert policy["inputs"]["results/iter1/policy"] == artifacts["results/iter1/policy"]["sha256"]
    assert "--hparams" in policy["shellcmd"] and policy["wall_seconds"] > 0
    assert manifest["run"]["seeds"] == {"seed": 7, "mixtures.mix1.seed": 1, "mixtures.mix2.seed": 1}
    assert manifest["environment"]["packages"]["trl"] == "1.16.0"
    assert manifest["code"]["files"]["scripts/train_dpo.py"] == policy["script_sha256"]
    assert manifest["hardware"]["logical_cpus"] >= 1
    # every job of the DAG but the manifest itself and `all`
    jobs = {(a["rule"], a["shellcmd"]) for a in artifacts.values()}
    assert {rule for rule, _ in jobs} >= {"synthesize_dataset", "train_sft", "generate", "build_pairs", "report"}


def test_a_rebuild_from_scratch_reproduces_the_manifest_bar_timings(recorded, tmp_path):
    proc, result = audit(recorded, tmp_path / "rebuild")
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert result["verdict"] == "identical" and result["counts"] == {"identical": len(result["artifacts"])}
    first = load(recorded / "results/manifest.json")
    second = load(tmp_path / "rebuild/results/manifest.json")
    assert strip_volatile(first) == strip_volatile(second)
    assert first["created"] != second["created"] or first["wall_time"] != second["wall_time"]
    assert "REPRODUCED: every artifact is byte-identical (exit 0)" in proc.stdout


def test_a_changed_parameter_points_at_exactly_its_downstream_artifacts(recorded, tmp_path):
    proc, result = audit(recorded, tmp_path / "changed", "--configfile", "config/audit_small_best_random.yaml")
    assert proc.returncode == 3, proc.stdout[-5000:]
    rows = {r["path"]: r for r in result["artifacts"]}
    roots = [r["path"] for r in result["divergences"]]
    pairs_outputs = {f"results/iter{t}/{n}" for t in (1, 2) for n in ("pairs.parquet", "pair_drops.parquet", "pair_stats.json")}
    assert set(roots) <= pairs_outputs and "results/iter1/pairs.parquet" in roots
    assert all("--rule: best_worst -> best_random" in r["detail"] for r in result["divergences"])
    # Snakemake's own view agrees: the job whose params changed is iteration 1's build_pairs
    dry = snakemake("-n", "--configfile", "config/audit_small_best_random.yaml", cwd=recorded).stdout
    params_changed = re.findall(r"rule (\w+):\n(?:    [^\n]*\n)*?    output: ([^\n]+)\n(?:    [^\n]*\n)*?    reason: Params have changed", dry)
    assert ("build_pairs", "results/iter1/pairs.parquet, results/iter1/pair_drops.parquet, results/iter1/pair_stats.json") in params_changed
    # what differs is exactly inside the downstream closure (by the inputs Snakemake recorded), the rest identical
    artifacts = load(recorded / "results/manifest.json")["artifacts"]
    downstream = set(pairs_outputs)
    grew = True
    while grew:
        grew = False
        for path, entry in artifacts.items():
            if path not in downstream and set(entry.get("inputs", {})) & downstream:
                downstream.add(path)
                grew = True
    differing = {p for p, r in rows.items() if r["status"] != "identical"}
    assert differing <= downstream
    assert {"results/iter1/policy", "results/iter2/generations.parquet", "results/iter2/policy", "results/report/summary.json"} <= differing
    assert all(rows[p]["status"] == "identical" for p in set(rows) - downstream)
    assert {r["verdict"] for r in rows.values()} == {"identical", "explained"}
    header = {r["path"]: r for r in result["header"]}
    assert header["config"]["detail"] == "online.pair_rule: best_worst -> best_random"
    assert "first point of divergence: results/iter1/pair" in proc.stdout
