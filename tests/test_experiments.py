"""Experiments side by side (Experiments.smk, online_rlhf/experiments/plan.py, online_rlhf/report/compare.py):
fingerprints and sharing, the one-DAG plan of several experiments, the comparison report, and a small real run of two
experiments that differ only in the length penalty."""

import json
import re
import subprocess
import sys

import pytest
import yaml

from online_rlhf.experiments.plan import (
    ExperimentError,
    deep_merge,
    fingerprint,
    plan,
    top_level_names,
)
from online_rlhf.report.compare import compare, markdown, plot, pooled, results_section

from .conftest import ROOT
from .test_dag import snakemake

SMOKE = yaml.safe_load((ROOT / "config/smoke.yaml").read_text())
SHARED_STAGES = ("data", "sft", "rm", "offline_dpo")


def overlay(config, **changes):
    return deep_merge(config, changes)


# ---- fingerprints -------------------------------------------------------------------------------------------

def test_the_length_penalty_reaches_no_shared_stage():
    other = overlay(SMOKE, online={"length_penalty": 0.5})
    assert all(fingerprint(SMOKE, s) == fingerprint(other, s) for s in SHARED_STAGES)


def test_the_online_judge_keeps_the_reward_model_shared():
    other = overlay(SMOKE, online={"scoring": {"judge": "preference_model"}})
    assert fingerprint(SMOKE, "rm") == fingerprint(other, "rm")
    # but the RM's own evaluation settings are part of it
    assert fingerprint(SMOKE, "rm") != fingerprint(overlay(SMOKE, online={"scoring": {"batch_size": 7}}), "rm")


def test_a_stage_change_reaches_its_downstream_only():
    rm = overlay(SMOKE, reward_model={"learning_rate": 0.5})
    assert fingerprint(SMOKE, "sft") == fingerprint(rm, "sft") and fingerprint(SMOKE, "data") == fingerprint(rm, "data")
    assert fingerprint(SMOKE, "rm") != fingerprint(rm, "rm")
    sft = overlay(SMOKE, sft={"learning_rate": 0.5})
    assert fingerprint(SMOKE, "data") == fingerprint(sft, "data")
    assert all(fingerprint(SMOKE, s) != fingerprint(sft, s) for s in ("sft", "rm", "offline_dpo"))


def test_the_seed_and_an_unknown_key_split_every_stage():
    for other in (overlay(SMOKE, seed=1), overlay(SMOKE, some_new_section={"x": 1})):
        assert all(fingerprint(SMOKE, s) != fingerprint(other, s) for s in SHARED_STAGES)


def test_deep_merge_replaces_lists_and_keeps_siblings():
    merged = deep_merge({"a": {"b": 1, "c": [1, 2]}, "d": 1}, {"a": {"c": [3]}})
    assert merged == {"a": {"b": 1, "c": [3]}, "d": 1}


# ---- the plan -----------------------------------------------------------------------------------------------

def spec(**experiments):
    return {"base": "config/smoke.yaml", "experiments": experiments}


def test_the_first_experiment_owns_a_shared_stage():
    a, b, c = plan(spec(a={}, b={"online": {"length_penalty": 0.5}}, c={"seed": 3}), ROOT)
    assert a.owns == list(SHARED_STAGES) and b.owns == [] and c.owns == list(SHARED_STAGES)
    assert "train_sft" in b.excluded_rules() and "train_sft" not in a.excluded_rules()
    assert b.stage_folder("sft") == a.stage_folder("sft") != c.stage_folder("sft")
    assert a.config["run_name"] == "a" and b.config["online"]["length_penalty"] == 0.5


def test_prefixes_cover_every_results_folder_without_overlap():
    names = top_level_names([ROOT / "Snakefile", *sorted((ROOT / "rules").glob("*.smk"))])
    assert {"iter", "eval", "report", "logs", "benchmarks", "manifest"} <= set(names)
    assert not {"sft", "rm", "data", "offline_dpo"} & set(names)
    (a,) = plan(spec(a={}), ROOT)
    mapping = a.replace_prefix(names)
    assert mapping["results/sft/"] == f"{a.stage_folder('sft')}/sft/"
    assert mapping["results/iter"] == "results/experiments/a/iter"


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"base": "config/smoke.yaml", "experiments": {"a__b": {}}}, "single underscores"),
        ({"base": "config/nope.yaml", "experiments": {"a": {}}}, "base config config/nope.yaml does not exist"),
        ({"experiments": {"a": {}}}, "missing key 'base'"),
        ({"base": "config/smoke.yaml", "experiments": {"a": {}}, "compare": {"groups": {"g": ["a", "zz"]}}}, "unknown experiments"),
        ({"base": "config/smoke.yaml", "experiments": {"a": 3}}, "experiments.a: expected a mapping"),
        ({"base": "config/smoke.yaml", "experiments": {"a": {}}, "typo": 1}, "unknown keys ['typo']"),
    ],
)
def test_bad_experiment_sets_are_named(bad, message):
    with pytest.raises(ExperimentError, match=re.escape(message)):
        plan(bad, ROOT)


def test_a_bad_overlay_names_the_experiment():
    from online_rlhf.config import validate_config

    with pytest.raises(ExperimentError, match=r"(?s)experiment b .*online\.pair_rule"):
        plan(spec(a={}, b={"online": {"pair_rule": "nope"}}), ROOT, validate=validate_config)


# ---- the comparison -----------------------------------------------------------------------------------------

def summary(offset):
    policies = [
        {"model": m, "decoding": d, "mean_reward": base + offset, "stderr": 0.01, "mean_length_chars": 5.0 + offset, "prompts": 20}
        for m, base in (("sft", 0.5), ("offline_dpo", 0.6), ("iter1", 0.7)) for d in ("greedy", "t1")
    ]
    iterations = [{"iteration": 1, "pairs": 9, "dropped": {"tie": 1}, "mean_top1_reward": 0.9, "mean_chosen_chars": 5.0,
                   "mean_rejected_chars": 6.0}]
    ordering = {"greedy": {"sft_lt_offline_lt_iterative": True, "rises_every_iteration": True, "best_iterate": "iter1"}}
    return {"judge": "bt", "length_penalty": offset, "policies": policies, "iterations": iterations, "ordering": ordering,
            "reward_model": {"accuracy": 0.8, "pairs": 40}, "onpolicy": {"loop": {"accuracy": 0.7}}}


def test_comparison_table_groups_and_plot(tmp_path):
    result = compare(["a", "b", "c"], [summary(0.0), summary(0.1), summary(0.2)], ["a.json", "b.json", "c.json"],
                     {"seeds": ["a", "b", "c"]})
    (g,) = result["groups"]
    cell = g["policies"]["greedy"]["iter1"]
    assert cell["runs"] == 3 and cell["mean"] == pytest.approx(0.8) and cell["stderr"] == pytest.approx(0.1 / 3**0.5)
    text = markdown(result)
    assert "| b | 0.600 ± 0.010 | 0.700 ± 0.010 | 0.800 ± 0.010 |" in text
    assert "| a | 1 | 9 | 1 | 0.900 | 5.0 | 6.0 |" in text
    assert "| c | greedy | True | True | iter1 |" in text
    assert result["experiments"][0]["rm_on_policy_accuracy"] == 0.7
    plot(result, tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def claim(holds):
    models = [{"model": m, "mean_reward": v, "stderr": 0.01} for m, v in (("sft", 0.5), ("offline_dpo", 0.6), ("iter1", 0.7 if holds else 0.55))]
    mode = {"models": models, "holds": holds, "holds_significantly": holds, "failed_steps": [] if holds else ["offline_dpo < iter1"]}
    return {"chain": ["sft", "offline_dpo", "iter1"], "modes": {"greedy": mode}}


def test_a_group_tallies_the_ordering_test_of_its_members():
    with_claims = [{**summary(0.0), "claim": claim(True)}, {**summary(0.1), "claim": claim(False)}, {**summary(0.2), "claim": claim(True)}]
    (g,) = compare(["s1", "s2", "s3"], with_claims, ["1.json", "2.json", "3.json"], {"seeds": ["s1", "s2", "s3"]})["groups"]
    assert g["ordering"]["tally"]["greedy"] == {"runs": 3, "holds": 2, "holds_significantly": 2} and g["no_ordering_test"] == []
    assert [r["run"] for r in g["ordering"]["runs"]] == ["s1", "s2", "s3"]
    text = results_section([("x/comparison.json", compare(["s1", "s2", "s3"], with_claims, ["1", "2", "3"], {"seeds": ["s1", "s2", "s3"]}))])
    assert "holds in 2 of 3 runs" in text and "| s2 | 0.500 ± 0.010 | 0.600 ± 0.010 | 0.550 ± 0.010 | no | no | offline_dpo < iter1 |" in text
    # a member without the test (a world without an oracle) leaves the group without a tally, and says which one
    (g,) = compare(["s1", "x"], [with_claims[0], summary(0.0)], ["1.json", "x.json"], {"seeds": ["s1", "x"]})["groups"]
    assert g["ordering"] is None and g["no_ordering_test"] == ["x: its summary has no 'claim'"]


def test_a_summary_without_policies_is_named():
    with pytest.raises(ValueError, match=r"b\.json: missing key 'policies'"):
        compare(["a", "b"], [summary(0.0), {"iterations": []}], ["a.json", "b.json"])


def test_pooled_has_no_error_for_one_run():
    assert pooled([0.5]) == {"mean": 0.5, "stderr": None, "runs": 1}


# ---- the DAG (dry-runs) -------------------------------------------------------------------------------------

def write_set(tmp_path, **experiments):
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump(spec(**experiments)))
    return path


def dry_run(set_file, *extra):
    out = snakemake("-s", "Experiments.smk", "--configfile", str(set_file), "-n", "--forceall", *extra)
    return out.stdout + out.stderr


def counts(text):
    table = text[text.index("job ") :]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE) if m.group(1) != "total"}


def by_experiment(jobs):
    out = {}
    for name, n in jobs.items():
        exp, sep, rule = name.partition("__")
        if sep:
            out.setdefault(exp, {})[rule] = n
    return out


def test_two_length_penalties_share_data_sft_and_rm_jobs():
    jobs = by_experiment(counts(dry_run(ROOT / "config/experiments/smoke.yaml", "--quiet", "rules")))
    single = counts(snakemake("-n", "--quiet", "rules", "--forceall", "--configfile", "config/config.yaml", "config/reduced.yaml").stdout)
    base, other = jobs["lambda_0"], jobs["lambda_big"]
    assert base == {r: n for r, n in single.items() if r != "all"}  # the first experiment plans the whole run
    shared = ["synthesize_dataset", "normalize_dataset", "build_base_model", "build_mixture", "train_sft",
              "train_reward_model", "evaluate_reward_model", "train_preference_model", "train_offline_dpo"]
    assert all(base[r] >= 1 and r not in other for r in shared)
    # the second adds the loop and what reads it, once more
    for r in ("generate", "score", "build_pairs", "train_dpo", "report", "manifest"):
        assert other[r] == base[r]
    assert sum(base.values()) - sum(other.values()) == sum(base[r] for r in base if r not in other)


def test_three_seeds_plan_three_sft_jobs_with_their_seed():
    text = dry_run(ROOT / "config/experiments/seeds.yaml", "-p")
    commands = re.findall(r"python scripts/train_sft.py .*", text)
    assert len(commands) == 3
    seeds = sorted(re.search(r"--seed (\d+)", c).group(1) for c in commands)
    outputs = {re.search(r"--output (\S+)", c).group(1) for c in commands}
    assert seeds == ["2", "20240513", "3"] and len(outputs) == 3


def test_offline_history_feeds_the_offline_set_to_every_iteration(tmp_path):
    text = dry_run(write_set(tmp_path, a={"online": {"data": "offline_history"}}), "-p")
    commands = re.findall(r"scripts/train_dpo.py .*--pairs (.*?) --hparams", text)
    online = sorted(c for c in commands if "iter" in c)
    assert len(online) == 2
    nectar = "data/pairs/nectar.parquet"
    assert all(c.split()[0].endswith(nectar) for c in online)
    assert [len(c.split()) for c in online] == [2, 3]  # D_off + D_1, D_off + D_1 + D_2
    # every path of every command, params included, lies under the experiment's folders
    paths = re.findall(r"(?<![\w/])(?:results|resources)/[^\s'\",]*", "\n".join(re.findall(r"python scripts/.*", text)))
    assert paths and all(p.startswith("results/experiments/") for p in paths), sorted(set(paths))[:5]


def test_an_experiment_manifest_is_recognised_for_the_audit():
    from online_rlhf.experiments.plan import experiment_manifest, experiment_of_manifest

    assert experiment_of_manifest("/x/results/experiments/lambda_0/manifest.json") == "lambda_0"
    assert experiment_of_manifest(experiment_manifest("b")) == "b"
    assert experiment_of_manifest("results/manifest.json") is None
    assert experiment_of_manifest("results/experiments/_comparison/manifest.json") is None


def test_outputs_outside_the_folders_and_local_rules_are_found():
    from online_rlhf.experiments.plan import misplaced_outputs, renamed_localrules

    a, b = plan(spec(a={}, b={"online": {"length_penalty": 0.5}}), ROOT)
    rules = [("a__train_sft", [f"{a.stage_folder('sft')}/sft/model"]), ("b__train_sft", [f"{a.stage_folder('sft')}/sft/model"]),
             ("b__report", ["results/experiments/b/report/summary.json", "results/stray.json"]), ("experiments", ["x"])]
    problems = misplaced_outputs([a, b], rules)
    assert len(problems) == 2 and "rule b__train_sft" in problems[0] and "results/stray.json" in problems[1]
    assert renamed_localrules([a, b], {"report", "experiments"}, {"a__report", "b__report", "experiments"}) == {
        "a__report", "b__report", "experiments"}


def test_results_doc_shows_a_comparison():
    result = compare(["a", "b"], [summary(0.0), summary(0.1)], ["a.json", "b.json"])
    text = results_section([("x/comparison.json", result)])
    assert text.startswith("## Experiments side by side") and "### `x/comparison.json`" in text
    assert "#### Pairs per iteration" in text and "| b | 0.600 ± 0.010 |" in text


def test_the_compare_script_writes_json_markdown_and_png(tmp_path):

    paths = []
    for name, offset in (("a", 0.0), ("b", 0.1)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(summary(offset)))
    out = {k: tmp_path / f"c.{k}" for k in ("json", "md", "png")}
    subprocess.run([sys.executable, str(ROOT / "scripts/compare_experiments.py"), "--names", "a", "b", "--summaries",
                    *map(str, paths), "--groups", '{"g": ["a", "b"]}', "--json", str(out["json"]), "--markdown",
                    str(out["md"]), "--plot", str(out["png"])], check=True, capture_output=True, timeout=300)
    result = json.loads(out["json"].read_text())
    assert [r["name"] for r in result["experiments"]] == ["a", "b"] and result["groups"][0]["members"] == ["a", "b"]
    assert "## Group g" in out["md"].read_text() and out["png"].read_bytes()[:4] == b"\x89PNG"
