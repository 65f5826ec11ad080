"""Every config in config/ executes, at test sizes: a dry-run proves the DAG, not the code (the paper config once
failed at SFT while its dry-run passed). Where each one runs:

- config/config.yaml (the default) with config/reduced.yaml on top (sizes only), config/experiments/smoke.yaml (that
  reduced default under two length penalties), config/ablations/*.yaml and the overlays of
  config/experiments/{ablations,seeds}.yaml: here, each as an experiment of one Experiments.smk DAG on the reduced
  default. The smoke set's first experiment (an empty overlay: the reduced default itself) runs the whole DAG to its
  manifest; every other overlay runs through the first stage it changes and the one that consumes it
  (overlay_targets: its iteration-1 pairs, its iteration-1 or -2 policy, its selection), on the data, SFT and judges
  the first one built. One DAG rather than a separate default run: the shared stages are built once. An
  overlay that changes only the seed (seeds.yaml's baseline_seed2, baseline_seed3) runs the code its baseline runs
  with another number, so it is not run again here; tests/test_experiments.py checks that its seed reaches its jobs.
- config/smoke.yaml: tests/test_end_to_end.py.
- config/paper.yaml: tests/test_paper_smoke.py; config/smollm2.yaml: tests/test_real_model.py;
  config/accelerate/*.yaml: tests/test_distributed.py.
"""

import json

import polars as pl
import pytest
import yaml

from online_rlhf.experiments.plan import load_overlay

from .conftest import ROOT, copy_workflow
from .test_dag import snakemake

pytestmark = pytest.mark.slow

CONFIG = ROOT / "config"
# Each config file, where its execution is tested: a new file in config/ fails here until it is placed.
EXECUTED_ELSEWHERE = {
    "smoke.yaml": "tests/test_end_to_end.py",
    "paper.yaml": "tests/test_paper_smoke.py", "smollm2.yaml": "tests/test_real_model.py",
    "accelerate/ddp.yaml": "tests/test_distributed.py", "accelerate/deepspeed_zero2.yaml": "tests/test_distributed.py",
    "accelerate/deepspeed_zero3.yaml": "tests/test_distributed.py", "schema.yaml": "every test (the schema itself)",
}
EXECUTED_HERE = ["config.yaml", "reduced.yaml", *(f"ablations/{p.name}" for p in sorted((CONFIG / "ablations").glob("*.yaml"))),
                 "experiments/smoke.yaml", "experiments/ablations.yaml", "experiments/seeds.yaml"]
SMOKE_SET = yaml.safe_load((CONFIG / "experiments/smoke.yaml").read_text())
# the reduced default itself (an empty overlay, asserted below) and its λ twin
DEFAULT, TWIN = SMOKE_SET["experiments"]


def test_every_config_file_is_executed_by_some_test():
    files = sorted(str(p.relative_to(CONFIG)) for p in CONFIG.rglob("*.yaml"))
    placed = set(EXECUTED_ELSEWHERE) | set(EXECUTED_HERE)
    assert [f for f in files if f not in placed] == [], "config files no test executes: place them in this module"
    for name, where in EXECUTED_ELSEWHERE.items():
        assert where.startswith("every") or (ROOT / where).is_file(), (name, where)


def experiment_overlays() -> dict[str, object]:
    """Every overlay the config folder holds, once each (by content; an overlay file is run under its file's name):
    the smoke set's two (the first owns the shared stages), config/ablations/*.yaml, then the other sets'."""
    overlays: dict[str, object] = dict(SMOKE_SET["experiments"])
    overlays.update({p.stem: str(p.relative_to(ROOT)) for p in sorted((CONFIG / "ablations").glob("*.yaml"))})
    seen = [yaml.safe_dump(load_overlay(o, k, ROOT)) for k, o in overlays.items()]
    seed_only = []
    for set_file in ("ablations.yaml", "seeds.yaml"):
        spec = yaml.safe_load((CONFIG / "experiments" / set_file).read_text())
        assert spec["base"] == "config/config.yaml", f"{set_file}: this test runs it on config/config.yaml at test sizes"
        for name, overlay in spec["experiments"].items():
            content = load_overlay(overlay, name, ROOT)
            text = yaml.safe_dump(content)
            if set(content) == {"seed"}:
                seed_only.append(name)
            elif text not in seen:
                seen.append(text)
                overlays[name] = overlay
    assert seed_only, "seeds.yaml's seed overlays are expected here (see the module docstring)"
    return overlays


# Overlay keys whose first iteration is the default's: pi_ref = pi_{t-1} is pi_0 = SFT at t = 1, and D_1:1 = D_1.
FROM_ITERATION_2 = {"reference": "previous", "data": "history"}
# Overlay keys that change how samples are scored or paired, not what trains on the pairs.
PAIRING = {"length_penalty", "pair_rule", "scoring"}


def overlay_targets(name: str, content: dict) -> list[str]:
    """Where an overlay first differs from the default, and the stage that consumes it: the iteration-2 policy for
    an overlay that equals the default at iteration 1, the iteration-1 pairs for one that changes only scoring or
    pairing (DPO on them is the default's trainer), else the iteration-1 policy; its selection where it changes it."""
    online = content.get("online", {})
    if any(online.get(key) == value for key, value in FROM_ITERATION_2.items()):
        targets = [f"results/experiments/{name}/iter2/policy"]
    elif set(online) <= PAIRING and set(content) <= {"run_name", "online", "selection"}:
        targets = [f"results/experiments/{name}/iter1/pairs.parquet"]
    else:
        targets = [f"results/experiments/{name}/iter1/policy"]
    if "selection" in content:
        targets.append(f"results/experiments/{name}/selection/best.json")
    return targets


@pytest.fixture(scope="module")
def overlays_run(tmp_path_factory):
    """One DAG: the reduced default (the smoke set's first experiment, an empty overlay) to its manifest, its λ twin
    through both iterations (they share data, SFT and judges, and their pairs differ from iteration 1 on), every other
    overlay through the stage it changes (overlay_targets)."""
    assert SMOKE_SET["base"] == ["config/config.yaml", "config/reduced.yaml"]
    assert SMOKE_SET["experiments"][DEFAULT] == {}, "the smoke set's first experiment is the reduced default itself"
    work = copy_workflow(tmp_path_factory.mktemp("overlays"))
    overlays = experiment_overlays()
    assert {"concise", "gold_judge", "pairwise_judge", "best_random", "reference_previous", "data_history",
            "data_offline_history"} <= set(overlays), sorted(overlays)
    set_file = work / "config/all_overlays.yaml"
    set_file.write_text(yaml.safe_dump({"base": SMOKE_SET["base"], "experiments": overlays}))
    per_overlay = {name: overlay_targets(name, load_overlay(overlays[name], name, work)) for name in overlays}
    targets = [f"results/experiments/{DEFAULT}/manifest.json", f"results/experiments/{TWIN}/iter2/pairs.parquet"]
    targets += [t for paths in per_overlay.values() for t in paths]
    snakemake("-s", "Experiments.smk", "--configfile", str(set_file), "--cores", "2", *targets, cwd=work, timeout=3000)
    return work / "results/experiments", per_overlay


def test_the_default_config_runs_end_to_end_at_test_sizes(overlays_run):
    exp, _ = overlays_run
    run = exp / DEFAULT
    summary = json.loads((run / "report/summary.json").read_text())
    models = {p["model"] for p in summary["policies"]}
    assert models == {"sft", "offline_dpo", "iter1", "iter2"}, models
    # what the default config sets and the smoke config does not: the ten-source mix2, the best-worst pairs of D_t
    (mix2_stats,) = exp.glob("_shared/data-*/data/stats/mix2.json")  # the data stage is shared
    assert len(json.loads(mix2_stats.read_text())["sources"]) == 10
    assert (run / "final/policy/model.safetensors").is_file()
    assert (run / "manifest.json").is_file() and (run / "eval/ordering.json").is_file()


def test_every_experiment_overlay_runs_on_the_reduced_default(overlays_run):
    exp, targets = overlays_run
    assert targets["concise"] == ["results/experiments/concise/iter1/pairs.parquet"]
    assert targets["reference_previous"] == ["results/experiments/reference_previous/iter2/policy"]
    assert targets["data_offline_history"] == ["results/experiments/data_offline_history/iter1/policy"]
    for paths in targets.values():
        for path in paths:
            assert (exp.parents[1] / path).exists(), path
    stats = {n: json.loads((exp / f"{n}/iter1/pair_stats.json").read_text()) for n in targets}
    assert stats["concise"]["length_penalty"] == 0.001 and stats["best_random"]["rule"] == "best_random"
    assert json.loads((exp / "gold_judge/selection/best.json").read_text())["judge"] == "oracle"
    # what the two overlays that start differing at iteration 2 change there: the reference, the training pairs
    previous = json.loads((exp / "reference_previous/iter2/train_metrics.json").read_text())
    assert previous["reference"] == "results/experiments/reference_previous/iter1/policy", previous
    history = json.loads((exp / "data_history/iter2/train_metrics.json").read_text())
    pairs = sum(pl.read_parquet(exp / f"data_history/iter{t}/pairs.parquet").height for t in (1, 2))
    assert history["pairs_in"] == pairs, (history, pairs)
    # one SFT model and one reward model, built by the first experiment and shared by every other
    assert len(list((exp / "_shared").glob("sft-*/sft/model"))) == 1 and len(list((exp / "_shared").glob("rm-*/rm/bt/model"))) == 1
    assert not (exp / TWIN / "sft").exists()
    for t in (1, 2):
        a, b = (pl.read_parquet(exp / f"{e}/iter{t}/pairs.parquet") for e in (DEFAULT, TWIN))
        key = ["prompt_id", "chosen", "rejected"]
        assert a.select(key).sort("prompt_id").to_dicts() != b.select(key).sort("prompt_id").to_dicts(), f"iteration {t}"
        pair_stats = [json.loads((exp / f"{e}/iter{t}/pair_stats.json").read_text()) for e in (DEFAULT, TWIN)]
        assert [s["length_penalty"] for s in pair_stats] == [0.0, 0.5]
