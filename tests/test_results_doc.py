"""docs/results.md is generated from runs' files (scripts/results_doc.py) and sealed with a hash of its body."""

import json
import shutil
import subprocess
import sys
from base64 import urlsafe_b64encode
from pathlib import Path

import pytest

from online_rlhf.provenance import results_doc as rd

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "data" / "results_doc"


def record(rule, start, end, shellcmd=None):
    return {"rule": rule, "starttime": start, "endtime": end, "shellcmd": shellcmd or f"python scripts/{rule}.py",
            "job_hash": hash(rule), "input": [], "log": []}


def make_run(folder: Path, manifest: dict | None = None, records: dict | None = None) -> Path:
    """A finished run folder as the workflow leaves it: summary, manifest, Snakemake job records, benchmark files."""
    (folder / "results" / "report").mkdir(parents=True)
    shutil.copy(FIXTURE / "summary.json", folder / "results" / "report" / "summary.json")
    (folder / "results" / "manifest.json").write_text(json.dumps(manifest or json.loads((FIXTURE / "manifest.json").read_text())))
    meta = folder / ".snakemake" / "metadata"
    meta.mkdir(parents=True)
    records = records or {
        "results/sft/model": record("train_sft", 1_000.0, 1_300.0),
        "results/sft/train_metrics.json": record("train_sft", 1_000.0, 1_300.0),  # same job: counted once
        "results/report/summary.json": record("report", 1_400.0, 1_548.0),
    }
    for output, rec in records.items():
        (meta / urlsafe_b64encode(output.encode()).decode()).write_text(json.dumps(rec))
    bench = folder / "results" / "benchmarks"
    bench.mkdir(parents=True)
    (bench / "train_sft.tsv").write_text("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
                                         "300.5\t0:05:00\t812.3\t1\t1\t1\t0\t0\t90\t280.2\n")
    return folder


def test_job_timing_spans_first_start_to_last_end_and_counts_each_job_once():
    t = rd.job_timing({"a": record("x", 10.0, 20.0), "b": record("x", 10.0, 20.0), "c": record("y", 25.0, 40.0)})
    assert t == {"first_start": 10.0, "last_end": 40.0, "wall_seconds": 30.0, "jobs": 2, "job_seconds": 25.0,
                 "rules": [{"rule": "y", "jobs": 1, "seconds": 15.0}, {"rule": "x", "jobs": 1, "seconds": 10.0}]}
    assert rd.job_timing({}) is None


@pytest.mark.parametrize("seconds, text", [(42, "42 s"), (548, "9 min 08 s"), (3723, "1 h 02 min 03 s")])
def test_duration(seconds, text):
    assert rd.duration(seconds) == text


def test_a_run_section_reports_provenance_and_the_summary_numbers(tmp_path):
    run = rd.load_run("default", make_run(tmp_path / "run"))
    text = rd.run_section("default", run)
    assert "commit `0123456789abcdef0123456789abcdef01234567`" in text
    assert "Fixture CPU, 2 logical CPUs, memory 24.0 GiB, GPUs: none" in text
    assert "wall time: **9 min 08 s**" in text and "over 2 jobs" in text  # 1000 -> 1548, train_sft counted once
    assert "1970-01-01 00:16:40 UTC" in text
    assert "5 min 00 s wall, 4 min 40 s CPU" in text
    assert "`train_sft` 5 min 00 s (1 job), `report` 2 min 28 s (1 job)" in text
    assert "seed: 7" in text
    # numbers come from summary.json, formatted by the report's own helpers
    assert "held-out pair accuracy **0.800** on 40 pairs" in text
    assert "| iter2 | t1.0 | 0.820 |" in text
    assert "ordering SFT < offline DPO < iterative DPO holds" in text
    assert "| bt | 0.800 | 1.000 | 0.900 | 0.950 | 0.030 |" in text
    assert "**iter2** → `results/final/policy`" in text
    assert "| iter2 | 55.50 | 95.00 | 5.0 |" in text and "alpaca_eval: `length_controlled_winrate`" in text
    assert "| 1 | 10 | 40 | 9 | 1 |" in text  # dropped: summed over reasons
    assert "Table 4 (length-penalty ablation)" in text


def test_the_manifest_records_total_memory():
    from online_rlhf.provenance.manifest import memory_bytes

    assert memory_bytes("MemTotal:       24731184 kB\nMemFree: 1 kB\n") == 24731184 * 1024
    assert memory_bytes("") is None


def test_a_manifest_without_memory_says_where_the_memory_figure_came_from(tmp_path):
    manifest = json.loads((FIXTURE / "manifest.json").read_text())
    del manifest["hardware"]["memory_bytes"]
    run = rd.load_run("default", make_run(tmp_path / "run", manifest=manifest))
    assert "read on the host that wrote this page" in rd.provenance_section(run)


def test_absent_runs_and_sections_say_not_run(tmp_path):
    (tmp_path / "empty").mkdir()
    runs = {"default": rd.load_run("default", make_run(tmp_path / "run")), "smollm2": rd.load_run("smollm2", tmp_path / "empty")}
    page = rd.document(runs, [], "python scripts/results_doc.py --run default=run")
    assert f"**Not run**: {tmp_path / 'empty' / 'results/report/summary.json'} does not exist" in page
    assert page.count("**Not run**") == 2  # smollm2, micro-benchmarks
    assert "## The default run (`default`)" in page
    only = rd.document({}, [], "cmd")
    assert "**Not run**: no `--run default=<folder>` was given" in only


def test_benchmark_files_are_tabulated_key_by_key():
    text = rd.benchmark_files_section([{"path": "benchmarks/results/x.json",
                                        "content": {"runs": {"a": {"seconds": 1.23456}}, "speedup": 3, "seconds": list(range(20))}}])
    assert "| `runs.a.seconds` | 1.235 |" in text and "| `speedup` | 3 |" in text and "| `seconds` | [20 items] |" in text


def test_a_hand_edit_fails_verification():
    page = rd.stamp("# Results\n\n0.787\n")
    rd.verify(page)
    with pytest.raises(rd.ResultsDocError, match="edited by hand"):
        rd.verify(page.replace("0.787", "0.900"))
    with pytest.raises(rd.ResultsDocError, match="no generated-by header"):
        rd.verify("# Results\n")


def test_docs_results_md_is_generated_and_unedited():
    rd.verify((ROOT / "docs" / "results.md").read_text())


def test_the_command_writes_and_checks_the_page(tmp_path):
    run = make_run(tmp_path / "run")
    out = tmp_path / "results.md"
    script = str(ROOT / "scripts" / "results_doc.py")
    subprocess.run([sys.executable, script, "--run", f"default={run}", "--output", str(out)], check=True, cwd=ROOT)
    page = out.read_text()
    assert page.startswith("<!-- generated by scripts/results_doc.py")
    assert f"--run default={run}" in page
    subprocess.run([sys.executable, script, "--check", "--output", str(out)], check=True, cwd=ROOT)
    out.write_text(page.replace("0.800", "0.900"))
    proc = subprocess.run([sys.executable, script, "--check", "--output", str(out)], check=False, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0 and "edited by hand" in proc.stderr


def test_the_ordering_test_and_on_policy_accuracy_are_shown_where_the_run_has_them():
    summary = json.loads((FIXTURE / "summary.json").read_text())
    assert rd.claim_section(summary) == ""
    summary["claim"] = {"chain": ["sft", "iter1"], "z": 2.0, "judge": "oracle", "artifact": "results/eval/ordering.json", "modes": {
        "greedy": {"holds": True, "holds_significantly": False, "failed_steps": [],
                   "steps": [{"lower": "sft", "higher": "iter1", "diff": 0.01, "stderr": 0.02, "z": 0.5, "holds": True, "significant": False}]}}}
    summary["onpolicy"] = {"artifact": "results/onpolicy/accuracy.json", "loop": {"pairs": 120, "accuracy": 0.7, "stderr": 0.04, "rows": 2}}
    text = rd.claim_section(summary)
    assert "sft < iter1" in text and "the ordering holds (not every step significant)" in text
    assert "| sft → iter1 | 0.010 | 0.020 | 0.500 | yes | no |" in text
    assert "the loop's samples, oracle-labelled pairs, `results/onpolicy/accuracy.json`): accuracy **0.700** ± 0.040 on 120 pairs" in rd.reward_model_section(summary)


def test_benchmark_columns_carry_the_reports_labels():
    summary = json.loads((FIXTURE / "summary.json").read_text())
    assert "Columns:" not in rd.benchmarks_section(summary)
    summary["tables"]["benchmarks"]["labels"] = {"alpaca_eval": "AlpacaEval-2 LC with the minimal GLM (%)"}
    assert "- `alpaca_eval`: AlpacaEval-2 LC with the minimal GLM (%)" in rd.benchmarks_section(summary)



def test_another_run_says_how_its_config_differs_from_the_default_runs(tmp_path):
    base = json.loads((FIXTURE / "manifest.json").read_text())
    base["run"]["config"] = {"run_name": "a", "seed": 7, "reward_model": {"epochs": 2, "group_by_length": False}}
    other = json.loads(json.dumps(base))
    other["run"]["config"] = {"run_name": "b", "seed": 7, "reward_model": {"epochs": 1}}
    same = json.loads(json.dumps(base))
    same["run"]["config"]["run_name"] = "c"
    runs = {"default": rd.load_run("default", make_run(tmp_path / "a", manifest=base)),
            "rm_1_epoch": rd.load_run("rm_1_epoch", make_run(tmp_path / "b", manifest=other)),
            "rerun": rd.load_run("rerun", make_run(tmp_path / "c", manifest=same))}
    page = rd.document(runs, [], "cmd")
    assert ("- config: differs from the `default` run's (both manifests) in `reward_model.epochs` 2 → 1, "
            "`reward_model.group_by_length` False → absent (`absent`: the key is not in that run's config") in page
    assert "- config: the same as the `default` run's (both manifests)" in page  # the run name alone is no difference
    assert page.count("- config:") == 2  # not on the default run itself


def test_an_experiment_set_names_the_commit_of_each_experiment_and_its_wall_time(tmp_path):
    root = tmp_path / "exp"
    folder = root / "results" / "experiments"
    comparison = {"experiments": [{"name": n, "artifact": f"results/experiments/{n}/report/summary.json"} for n in ("a", "b", "c")], "groups": []}
    for name, commit in (("a", "1" * 40), ("b", "1" * 40), ("c", "2" * 40)):
        manifest = json.loads((FIXTURE / "manifest.json").read_text())
        manifest["code"]["git"]["commit"] = commit
        (folder / name).mkdir(parents=True)
        (folder / name / "manifest.json").write_text(json.dumps(manifest))
    (folder / "_comparison").mkdir()
    (folder / "_comparison" / "comparison.json").write_text(json.dumps(comparison))
    meta = root / ".snakemake" / "metadata"
    meta.mkdir(parents=True)
    (meta / urlsafe_b64encode(b"results/experiments/_comparison/comparison.json").decode()).write_text(json.dumps(record("report", 100.0, 700.0)))
    loaded = rd.load_experiment_set(folder / "_comparison" / "comparison.json")
    text = rd.experiment_set_provenance(loaded)
    assert "- code: experiments from more than one commit: `1111111`: a, b; `2222222`: c" in text
    assert "- machine: Fixture CPU, 2 logical CPUs" in text
    assert "wall time 10 min 00 s over 1 jobs" in text
    base = json.loads((FIXTURE / "manifest.json").read_text())["run"]["config"]
    with_base = rd.experiment_set_provenance(loaded, {**base, "online": {"pair_rule": "best_worst"}})
    assert "- config against the `default` run's" in with_base and "`a` `online.pair_rule` best_worst → absent" in with_base
    (folder / "c" / "manifest.json").write_text((folder / "a" / "manifest.json").read_text())
    assert "- code: commit `1111111` (every experiment's manifest)" in rd.experiment_set_provenance(rd.load_experiment_set(folder / "_comparison" / "comparison.json"))


def test_a_record_renders_the_same_section_as_its_run_folder_and_other_json_is_refused(tmp_path):
    folder = make_run(tmp_path / "run")
    run = rd.load_run("default", folder)
    rd.save_record(run, tmp_path / "records" / "default.json")
    shutil.rmtree(folder)  # the run is gone; its record is all that is left
    again = rd.load_run("renamed", tmp_path / "records" / "default.json")
    assert again["label"] == "renamed"
    assert rd.run_section("default", again) == rd.run_section("default", run)
    (tmp_path / "other.json").write_text(json.dumps({"summary": {}}))
    with pytest.raises(rd.ResultsDocError, match="not a record written by --records"):
        rd.load_run("default", tmp_path / "other.json")


def test_the_command_carries_sections_of_the_page_before_and_writes_records(tmp_path):
    script = str(ROOT / "scripts" / "results_doc.py")
    out, records = tmp_path / "results.md", tmp_path / "records"
    old = make_run(tmp_path / "old")
    subprocess.run([sys.executable, script, "--run", f"default={make_run(tmp_path / 'a')}", "--run", f"tried={old}",
                    "--output", str(out)], check=True, cwd=ROOT)
    first = out.read_text()
    tried = first[first.index("## Run `tried`"):first.index("## Micro-benchmarks")]
    subprocess.run([sys.executable, script, "--run", f"default={make_run(tmp_path / 'b')}", "--carry", "(`tried`)",
                    "--records", str(records), "--output", str(out)], check=True, cwd=ROOT)
    second = out.read_text()
    assert rd.CARRIED_HEADING in second and tried.strip() in second and "--carry '(`tried`)'" in second
    assert "## SmolLM2-135M (`smollm2`)" in second  # not carried, so said "not run"
    assert "## SmolLM2-135M" not in rd.document({}, [], "cmd", carried=("smollm2",))  # carried: no "not run" beside it
    assert json.loads((records / "default.json").read_text())["kind"] == rd.RECORD_KIND
    rd.verify(second)
    with pytest.raises(rd.ResultsDocError, match="no heading of .* contains it"):
        rd.carried_sections(second, ["(`never`)"])
    out.write_text(second.replace("0.800", "0.900"))  # a hand-edited page carries nothing
    proc = subprocess.run([sys.executable, script, "--run", f"default={tmp_path / 'b'}", "--carry", "(`tried`)", "--output", str(out)],
                          check=False, cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode != 0 and "edited by hand" in proc.stderr


def test_carried_runs_and_experiment_sets_are_each_carried_once_when_carried_again():
    keys = ["(`a`)", "/x/comparison.json"]
    page = rd.stamp("# Results\n\n## Run `a` (`a`)\n\nrun a\n\n## Experiments side by side\n\n### `/x/comparison.json`\n\nset x\n")
    carried = rd.carried_sections(page, keys)
    assert carried.index(rd.CARRIED_HEADING) < carried.index("run a") < carried.index(rd.CARRIED_SETS_HEADING) < carried.index("set x")
    again = rd.carried_sections(rd.stamp("# Results\n\n" + carried), keys)
    assert again == carried and again.count("run a") == again.count("set x") == 1
    # a page of the older layout, a carried set straight after a carried run: the run's section stops before the set
    legacy = rd.stamp(f"# Results\n\n{rd.CARRIED_HEADING}\n\n## Run `a` (`a`)\n\nrun a\n\n### `/x/comparison.json`\n\nset x\n")
    assert rd.carried_sections(legacy, keys).count("set x") == 1
