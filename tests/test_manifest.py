"""Unit tests of the run manifest (hashing, Snakemake metadata, provenance) and of the audit's comparison logic."""

import json
import re
from base64 import urlsafe_b64encode

import pytest

from online_rlhf.provenance import audit as au
from online_rlhf.provenance import manifest as mf

from .conftest import ROOT

# ---- hashing -------------------------------------------------------------------------------------------------------

def test_tree_hash_depends_on_names_and_bytes_not_on_creation_order(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for root, order in ((a, ["x.txt", "sub/y.bin"]), (b, ["sub/y.bin", "x.txt"])):
        for name in order:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(name.encode())
    assert mf.artifact_hash(a) == mf.artifact_hash(b)
    assert mf.artifact_hash(a)["files"] == 2 and mf.artifact_hash(a)["type"] == "directory"
    (b / "x.txt").write_bytes(b"other")
    assert mf.artifact_hash(a)["sha256"] != mf.artifact_hash(b)["sha256"]
    (b / "x.txt").write_bytes(b"x.txt")
    (b / "x.txt").rename(b / "z.txt")
    assert mf.artifact_hash(a)["sha256"] != mf.artifact_hash(b)["sha256"]


def test_file_hash_is_plain_sha256_and_a_missing_artifact_is_an_error(tmp_path):
    (tmp_path / "f").write_bytes(b"abc")
    assert mf.artifact_hash(tmp_path / "f") == {
        "type": "file", "bytes": 3, "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}
    with pytest.raises(mf.ManifestError, match="missing"):
        mf.artifact_hash(tmp_path / "nope")


# ---- commands, config, environment ---------------------------------------------------------------------------------

def test_command_options_stop_at_the_log_redirection():
    cmd = ("python scripts/train_dpo.py --pairs a.parquet b.parquet --hparams '{\"beta\": 0.1}' --seed 9 --flag"
           " --output out > results/logs/x.log 2>&1")
    assert mf.command_options(cmd) == {"--pairs": "a.parquet b.parquet", "--hparams": '{"beta": 0.1}', "--seed": "9", "--flag": "", "--output": "out"}
    assert mf.command_script(cmd) == "scripts/train_dpo.py"
    assert mf.command_options(None) == {} and mf.command_script("accelerate launch x.py") is None


def test_seeds_are_found_at_any_depth():
    assert mf.seeds({"seed": 3, "mixtures": {"m": {"seed": 1, "sources": ["a"]}}, "x": {"y": 2}}) == {"seed": 3, "mixtures.m.seed": 1}


def test_hub_sources_carry_the_revision_and_the_prefetched_commit(tmp_path):
    config = {"models": {"base": {"source": "hub", "repo": "o/m", "revision": "main"}},
              "datasets": {"d": {"source": "hub", "repo": "o/d", "revision": "v1"}, "s": {"source": "synthetic"}}}
    (tmp_path / "resources/models/prefetched/base").mkdir(parents=True)
    (tmp_path / "resources/models/prefetched/base/PREFETCH.json").write_text(json.dumps({"commit": "abc123"}))
    assert mf.hub_sources(config, tmp_path) == [
        {"kind": "model", "name": "base", "repo": "o/m", "revision": "main", "commit": "abc123"},
        {"kind": "dataset", "name": "d", "repo": "o/d", "revision": "v1", "commit": None},
    ]


def test_cpu_model_reads_proc_cpuinfo_text():
    assert mf.cpu_model("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold\n") == "Intel(R) Xeon(R) Gold"
    assert mf.cpu_model("") is None


def test_git_state_outside_a_checkout_is_recorded_as_unknown(tmp_path):
    assert mf.git_state(tmp_path) == {"commit": None, "dirty": None, "changes": []}


def test_pinned_packages_come_from_pyproject():
    names = mf.pinned_package_names(ROOT)
    assert {"torch", "trl", "snakemake", "vllm"} <= set(names)
    assert mf.package_versions(["trl", "surely-not-installed-pkg"]) == {"trl": "1.16.0", "surely-not-installed-pkg": None}


def test_copy_workflow_takes_code_and_config_but_no_caches(tmp_path):
    copied = mf.copy_workflow(ROOT, tmp_path / "copy")
    assert {"Snakefile", "rules", "scripts", "online_rlhf", "config"} <= set(copied)
    assert not list((tmp_path / "copy").rglob("__pycache__")) and not (tmp_path / "copy/results").exists()
    assert mf.code_files(tmp_path / "copy") == mf.code_files(ROOT)
    with pytest.raises(mf.ManifestError, match="no Snakefile"):
        mf.copy_workflow(tmp_path / "empty", tmp_path / "copy2")


# ---- Snakemake metadata --------------------------------------------------------------------------------------------

def write_record(root, output, record, name_max=255):
    """A metadata record where Snakemake's file persistence puts it (long names cut into '@' folders)."""
    b64 = urlsafe_b64encode(output.encode()).decode()
    parts = [b64[i : i + name_max - 1] for i in range(0, len(b64), name_max - 1)]
    path = root.joinpath(".snakemake/metadata", *(["@" + p for p in parts[:-1]] + [parts[-1]]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))


def job(rule, inputs, cmd, job_hash, start=100.0, end=103.5):
    return {"rule": rule, "input": inputs, "log": [f"logs/{rule}.log"], "shellcmd": cmd, "params": [cmd], "job_hash": job_hash,
            "starttime": start, "endtime": end, "incomplete": False, "software_stack_hash": "d41d"}


@pytest.fixture
def small_run(tmp_path):
    """raw -> (table, stats.json) -> report.txt, plus a stale record of a file that no longer exists."""
    for name, text in (("raw.txt", "r"), ("table.txt", "t"), ("stats.json", '{"n": 3}'), ("report.txt", "rep"), ("logs/make.log", "50 it/s")):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    make = job("make", ["raw.txt"], "python scripts/make.py --seed 5 --out table.txt > logs/make.log 2>&1", 11)
    for out in ("table.txt", "stats.json", "gone.txt"):
        write_record(tmp_path, out, make)
    write_record(tmp_path, "report.txt", job("report", ["table.txt"], "python scripts/report.py > logs/report.log", 12))
    write_record(tmp_path, "x" * 300, job("other", [], "echo", 13))  # a long name: split into '@' folders
    return tmp_path


def test_metadata_records_are_read_back_by_output_path(small_run):
    records = mf.all_metadata(small_run)
    assert set(records) == {"table.txt", "stats.json", "gone.txt", "report.txt", "x" * 300}
    assert records["report.txt"]["rule"] == "report"


def test_collect_artifacts_walks_inputs_and_takes_sibling_outputs(small_run):
    arts = mf.collect_artifacts(small_run, ["report.txt"])
    assert set(arts) == {"raw.txt", "table.txt", "stats.json", "report.txt"}  # gone.txt: stale, x*300: not needed
    assert arts["raw.txt"]["rule"] is None
    table = arts["table.txt"]
    assert table["rule"] == "make" and table["seed"] == "5" and table["wall_seconds"] == 3.5
    assert table["inputs"] == {"raw.txt": arts["raw.txt"]["sha256"]}
    assert arts["stats.json"]["content"] == {"n": 3} and "content" not in table
    assert table["logs"] == {"logs/make.log": mf.sha256_file(small_run / "logs/make.log")}


def test_a_target_without_metadata_or_an_incomplete_one_is_an_error(small_run):
    with pytest.raises(mf.ManifestError, match="no Snakemake metadata record"):
        mf.collect_artifacts(small_run, ["raw.txt"])
    write_record(small_run, "report.txt", {**job("report", ["table.txt"], "x", 12), "incomplete": True})
    with pytest.raises(mf.ManifestError, match="incomplete"):
        mf.collect_artifacts(small_run, ["report.txt"])


def test_build_manifest_and_strip_volatile(small_run):
    config = {"run_name": "t", "seed": 1, "audit": {"mode": "tolerance"}}
    m = mf.build_manifest(small_run, ["report.txt"], config)
    assert m["run"]["seeds"] == {"seed": 1} and m["run"]["audit"] == {"mode": "tolerance"}
    assert set(m["environment"]["variables"]) == set(mf.ENVIRONMENT_VARIABLES)
    assert m["wall_time"]["job_seconds"] == 7.0  # two jobs of 3.5 s, `make` counted once for its two outputs
    stripped = mf.strip_volatile(m)
    assert "created" not in stripped and "wall_time" not in stripped
    assert not {"started", "finished", "wall_seconds", "logs"} & set(stripped["artifacts"]["table.txt"])
    path = small_run / "manifest.json"
    path.write_text(json.dumps(m))
    assert mf.load_manifest(path)["artifacts"].keys() == m["artifacts"].keys()
    path.write_text("{}")
    with pytest.raises(mf.ManifestError, match="manifest_version"):
        mf.load_manifest(path)


# ---- the comparison ------------------------------------------------------------------------------------------------

def art(sha, rule, inputs=None, cmd="python scripts/s.py --seed 1", content=None):
    entry = {"sha256": sha, "rule": rule, "inputs": inputs or {}, "shellcmd": cmd, "params": [cmd], "script": "scripts/s.py", "script_sha256": "s"}
    if content is not None:
        entry["content"] = content
    return entry


def manifest(artifacts, config=None, packages=None, hardware=None):
    return {"run": {"config": config or {"seed": 1}}, "code": {"files": {"online_rlhf/a.py": "1"}, "git": {}},
            "environment": {"packages": packages or {"torch": "2.13.0"}}, "hardware": hardware or {"cpu": "X"},
            "artifacts": artifacts}


def chain(data="d", model="m", metrics=None, train_cmd="python scripts/s.py --seed 1"):
    """data (data rule) -> model (train_dpo) -> metrics.json (evaluate_policy)."""
    return {
        "data.parquet": art(data, "build_pairs"),
        "model": art(model, "train_dpo", {"data.parquet": data}, cmd=train_cmd),
        "metrics.json": art("j" + model + str(metrics), "evaluate_policy", {"model": model}, content={"mean_reward": metrics or 0.5, "n": 100}),
    }


def test_identical_manifests_give_exit_0():
    result = au.compare(manifest(chain()), manifest(chain()))
    assert result.verdict == "identical" and result.exit_code == 0 and not result.divergences


def test_same_inputs_same_command_different_output_is_unexplained_and_downstream_follows():
    result = au.compare(manifest(chain()), manifest(chain(model="m2", metrics=0.6)))
    rows = {r.path: r for r in result.rows}
    assert rows["data.parquet"].status == "identical"
    assert rows["model"].verdict == "unexplained" and "same inputs" in rows["model"].detail
    assert rows["metrics.json"].status == "downstream" and rows["metrics.json"].roots == ["model"]
    assert [r.path for r in result.divergences] == ["model"] and result.exit_code == 1
    assert "first point of divergence: model (rule train_dpo; unexplained)" in au.format_audit(result, "a", "b")


def test_a_changed_param_is_an_explained_point_of_divergence():
    rebuilt = chain(model="m2", metrics=0.6, train_cmd="python scripts/s.py --seed 2")
    result = au.compare(manifest(chain()), manifest(rebuilt, config={"seed": 2}))
    rows = {r.path: r for r in result.rows}
    assert rows["model"].verdict == "explained" and rows["model"].detail == "params: --seed: 1 -> 2"
    assert rows["metrics.json"].verdict == "explained" and result.exit_code == 3
    assert {r.path: r.detail for r in result.header}["config"] == "seed: 1 -> 2"


def test_a_job_changed_behind_a_changed_input_is_a_divergence_too():
    old = chain()
    new = chain(data="d2", model="m2", train_cmd="python scripts/s.py --seed 2")
    new["data.parquet"]["shellcmd"] = new["data.parquet"]["params"] = "python scripts/s.py --seed 3"
    result = au.compare(manifest(old), manifest(new))
    assert [r.path for r in result.divergences] == ["data.parquet", "model"]
    assert "own job changed too: params: --seed: 1 -> 2" in {r.path: r for r in result.rows}["model"].detail


def test_package_or_hardware_changes_explain_a_divergence():
    result = au.compare(manifest(chain()), manifest(chain(model="m2"), packages={"torch": "2.14.0"}))
    assert "packages: torch: 2.13.0 -> 2.14.0" in result.divergences[0].detail and result.exit_code == 3
    result = au.compare(manifest(chain()), manifest(chain(model="m2"), hardware={"cpu": "Y"}))
    assert "hardware: cpu: X -> Y" in result.divergences[0].detail
    offline = manifest(chain(model="m2"))
    offline["environment"]["variables"] = {"HF_HUB_OFFLINE": "1"}
    result = au.compare(manifest(chain()), offline)
    assert "environment variables: HF_HUB_OFFLINE: - -> 1" in result.divergences[0].detail


def test_tolerance_mode_tolerates_gpu_rules_and_checks_their_metrics():
    tol = au.Tolerances(relative=0.0, absolute={"mean_reward": 0.05})
    within = au.compare(manifest(chain()), manifest(chain(model="m2", metrics=0.53)), "tolerance", tol)
    rows = {r.path: r for r in within.rows}
    assert rows["model"].status == "tolerated" and rows["metrics.json"].status == "within tolerance"
    assert within.verdict == "tolerated" and within.exit_code == 0
    beyond = au.compare(manifest(chain()), manifest(chain(model="m2", metrics=0.6)), "tolerance", tol)
    row = {r.path: r for r in beyond.rows}["metrics.json"]
    assert row.status == "beyond tolerance" and "mean_reward: 0.5 -> 0.6" in row.detail and beyond.exit_code == 1


def test_tolerance_mode_still_demands_exact_data_stages():
    result = au.compare(manifest(chain()), manifest(chain(data="d2", model="m2")), "tolerance")
    rows = {r.path: r for r in result.rows}
    assert rows["data.parquet"].verdict == "unexplained" and result.exit_code == 1


def test_an_artifact_only_on_one_side_is_explained_only_by_a_changed_run():
    extra = {**chain(), "iter3.json": art("e", "evaluate_policy", {"model": "m"})}
    same_config = au.compare(manifest(chain()), manifest(extra))
    assert {r.path: r for r in same_config.rows}["iter3.json"].status == "only in rebuild" and same_config.exit_code == 1
    new_config = au.compare(manifest(chain()), manifest(extra, config={"seed": 1, "iterations": 3}))
    assert new_config.exit_code == 3


def test_json_differences_and_tolerances():
    tol = au.Tolerances(relative=0.1, absolute={"acc": 0.01})
    beyond, within = au.json_differences({"a": {"acc": 0.5, "n": 100, "ok": True}}, {"a": {"acc": 0.505, "n": 105, "ok": True}}, tol)
    assert beyond == [] and len(within) == 2
    beyond, _ = au.json_differences({"acc": 0.5, "ok": True, "l": [1]}, {"acc": 0.52, "ok": False, "l": [1, 2]}, tol)
    assert beyond == ["acc: 0.5 -> 0.52 (delta 0.02)", "l: [1] -> [1, 2]", "ok: True -> False"]
    assert au.json_differences({"x": 1}, {"y": 1}, tol)[0] == ["x: only in recorded", "y: only in rebuild"]
    assert au.Tolerances.from_config({"relative_tolerance": 0.2, "absolute_tolerance": {"k": 1}}) == au.Tolerances(0.2, {"k": 1})


def test_topological_order_puts_inputs_first_and_rejects_cycles():
    arts = {"c": {"inputs": {"b": 1, "a": 1}}, "b": {"inputs": {"a": 1}}, "a": {}, "z": {}}
    assert au.topological_order(arts) == ["a", "b", "c", "z"]
    with pytest.raises(ValueError, match="cycle"):
        au.topological_order({"a": {"inputs": {"b": 1}}, "b": {"inputs": {"a": 1}}})
    with pytest.raises(ValueError, match="audit mode"):
        au.compare(manifest({}), manifest({}), "fuzzy")


def test_gpu_nondeterministic_rules_exist_in_the_workflow():
    text = "".join(p.read_text() for p in (ROOT / "rules").glob("*.smk"))
    rules = set(re.findall(r"^\s*(?:rule (\w+):|use rule \w+ as (\w+) with:)", text, re.MULTILINE))
    rules = {name for pair in rules for name in pair if name}
    assert au.GPU_NONDETERMINISTIC_RULES <= rules


def test_every_rule_that_can_get_a_gpu_is_audited_as_gpu_nondeterministic(root):
    # A rule whose `gpu` resource comes from the config runs on a GPU in a paper run (or asks an API judge): in tolerance
    # mode its outputs must be compared by their metrics, else a GPU rebuild of the paper config is "unexplained".
    can_get_gpu = set()
    for path in sorted((root / "rules").glob("*.smk")):
        for m in re.finditer(r"^\s*rule (\w+):(.*?)(?=^\s*rule \w+:|\Z)", path.read_text(), re.DOTALL | re.MULTILINE):
            # resources from rules/common.smk: rule_resources(name) (gpu=False: CPU only), training_ / judge_resources
            if re.search(r"gpu=(lambda wc: )?compute\(|training_resources\(|judge_resources\(|rule_resources\(\"\w+\"\)", m.group(2)):
                can_get_gpu.add(m.group(1))
    assert {"train_sft", "train_preference_model", "lm_eval", "judge_benchmark"} <= can_get_gpu
    assert can_get_gpu - au.GPU_NONDETERMINISTIC_RULES == set()
