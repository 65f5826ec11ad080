"""Every config in config/ executes, at test sizes: a dry-run proves the DAG, not the code (the paper config once
failed at SFT while its dry-run passed). Where each one runs:

- config/config.yaml (the default): here, the whole DAG with tests/configs/default_reduced.yaml on top (sizes only).
- config/ablations/*.yaml and the overlays of config/experiments/{ablations,seeds}.yaml: here, each as an experiment
  of one Experiments.smk DAG on that reduced default, through the stages it changes (the online loop, selection).
- config/smoke.yaml and config/experiments/smoke.yaml: tests/test_end_to_end.py, tests/test_experiments.py.
- config/paper.yaml: tests/test_paper_smoke.py; config/smollm2.yaml: tests/test_real_model.py;
  config/accelerate/*.yaml: tests/test_distributed.py.
"""

import json
from pathlib import Path

import pytest
import yaml

from online_rlhf.experiments.plan import deep_merge, load_overlay

from .conftest import ROOT, copy_workflow
from .test_dag import snakemake

pytestmark = pytest.mark.slow

REDUCED = ROOT / "tests/configs/default_reduced.yaml"
CONFIG = ROOT / "config"
# Each config file, where its execution is tested: a new file in config/ fails here until it is placed.
EXECUTED_ELSEWHERE = {
    "smoke.yaml": "tests/test_end_to_end.py", "experiments/smoke.yaml": "tests/test_experiments.py",
    "paper.yaml": "tests/test_paper_smoke.py", "smollm2.yaml": "tests/test_real_model.py",
    "accelerate/ddp.yaml": "tests/test_distributed.py", "accelerate/deepspeed_zero2.yaml": "tests/test_distributed.py",
    "accelerate/deepspeed_zero3.yaml": "tests/test_distributed.py", "schema.yaml": "every test (the schema itself)",
}
EXECUTED_HERE = ["config.yaml", *(f"ablations/{p.name}" for p in sorted((CONFIG / "ablations").glob("*.yaml"))),
                 "experiments/ablations.yaml", "experiments/seeds.yaml"]


def test_every_config_file_is_executed_by_some_test():
    files = sorted(str(p.relative_to(CONFIG)) for p in CONFIG.rglob("*.yaml"))
    placed = set(EXECUTED_ELSEWHERE) | set(EXECUTED_HERE)
    assert [f for f in files if f not in placed] == [], "config files no test executes: place them in this module"
    for name, where in EXECUTED_ELSEWHERE.items():
        assert where.startswith("every") or (ROOT / where).is_file(), (name, where)


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    work = copy_workflow(tmp_path_factory.mktemp("default_reduced"))
    snakemake("--configfile", "config/config.yaml", str(REDUCED), "--cores", "2", cwd=work, timeout=1800)
    return work


def test_the_default_config_runs_end_to_end_at_test_sizes(default_run):
    summary = json.loads((default_run / "results/report/summary.json").read_text())
    models = {p["model"] for p in summary["policies"]}
    assert models == {"sft", "offline_dpo", "iter1", "iter2"}, models
    # what the default config sets and the smoke config does not: the ten-source mix2, the best-worst pairs of D_t
    mix2 = json.loads((default_run / "results/data/stats/mix2.json").read_text())
    assert len(mix2["sources"]) == 10, mix2["sources"]
    assert (default_run / "results/final/policy/model.safetensors").is_file()
    assert (default_run / "results/manifest.json").is_file() and (default_run / "results/eval/ordering.json").is_file()


def experiment_overlays() -> dict[str, object]:
    """Every overlay the config folder holds, once each (an overlay file referenced by a set is run once, under its
    file's name): config/ablations/*.yaml, then the sets' experiments."""
    overlays: dict[str, object] = {p.stem: str(p.relative_to(ROOT)) for p in sorted((CONFIG / "ablations").glob("*.yaml"))}
    seen = [yaml.safe_dump(load_overlay(o, k, ROOT)) for k, o in overlays.items()]
    for set_file in ("ablations.yaml", "seeds.yaml"):
        spec = yaml.safe_load((CONFIG / "experiments" / set_file).read_text())
        assert spec["base"] == "config/config.yaml", f"{set_file}: this test reduces config/config.yaml"
        for name, overlay in spec["experiments"].items():
            text = yaml.safe_dump(load_overlay(overlay, name, ROOT))
            if text not in seen:
                seen.append(text)
                overlays[name] = overlay
    return overlays


def test_every_ablation_and_experiment_overlay_runs_on_the_reduced_default(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    base = deep_merge(yaml.safe_load((CONFIG / "config.yaml").read_text()), yaml.safe_load(REDUCED.read_text()))
    base["iterations"] = 1  # each overlay changes the loop (judge, pairs, reference, data, seed) from iteration 1 on
    (work / "config/reduced_base.yaml").write_text(yaml.safe_dump(base))
    overlays = experiment_overlays()
    assert {"concise", "gold_judge", "pairwise_judge", "best_random", "reference_previous", "data_history",
            "data_offline_history", "baseline_seed2", "baseline_seed3"} <= set(overlays), sorted(overlays)
    set_file = work / "config/all_overlays.yaml"
    set_file.write_text(yaml.safe_dump({"base": "config/reduced_base.yaml", "experiments": overlays}))
    targets = [f"results/experiments/{name}/iter1/policy" for name in overlays]
    targets += [f"results/experiments/{name}/selection/best.json" for name in overlays
                if "selection" in load_overlay(overlays[name], name, work)]
    snakemake("-s", "Experiments.smk", "--configfile", str(set_file), "--cores", "2", *targets, cwd=work, timeout=1800)
    for name in overlays:
        assert (work / f"results/experiments/{name}/iter1/policy/model.safetensors").is_file(), name
    stats = {n: json.loads((work / f"results/experiments/{n}/iter1/pair_stats.json").read_text()) for n in overlays}
    assert stats["concise"]["length_penalty"] == 0.001 and stats["best_random"]["rule"] == "best_random"
    best = json.loads((work / "results/experiments/gold_judge/selection/best.json").read_text())
    assert best["judge"] == "oracle", best
