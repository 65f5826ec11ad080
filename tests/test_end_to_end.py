"""Run the whole workflow on the smoke config (a copy of the repo in a temp folder) and check what it produced."""

import json
import re
import shutil

import polars as pl
import pytest
import yaml

from .conftest import copy_workflow
from .test_dag import snakemake

pytestmark = pytest.mark.slow

K = 4  # 2 samples at temperature 1.0 + 2 at 0.7 in config/smoke.yaml
PROMPTS = 101


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = copy_workflow(tmp_path_factory.mktemp("workflow"))
    # ~1 min on 2 idle cores; the timeout leaves room for a machine shared with other jobs (7-8 min seen)
    snakemake("--configfile", "config/smoke.yaml", "--cores", "2", cwd=work, timeout=1200)
    return work


def read(run, path):
    return pl.read_parquet(run / path)


def test_a_finished_run_is_up_to_date(run):
    """Right after the complete run (first, before any test changes the tree), Snakemake plans nothing: no output
    shares Snakemake's own markers with another (a hard-linked .snakemake_timestamp made results/final/policy's
    winner look newer than everything downstream of it, so every run redid those jobs)."""
    proc = snakemake("-n", "--configfile", "config/smoke.yaml", cwd=run)
    out = proc.stdout + proc.stderr
    assert "Nothing to be done" in out, out[-3000:]
    markers = [p for p in (run / "results").rglob(".snakemake_timestamp") if p.stat().st_nlink > 1]
    assert not markers, markers


def test_report_shows_every_policy(run):
    summary = json.loads((run / "results/report/summary.json").read_text())
    models = {(r["model"], r["decoding"]) for r in summary["policies"]}
    assert models == {(m, d) for m in ("sft", "offline_dpo", "iter1", "iter2") for d in ("greedy", "t1")}
    for r in summary["policies"]:
        assert 0.0 <= r["mean_reward"] <= 1.0 and r["prompts"] == 60
    sft_greedy = next(r for r in summary["policies"] if r["model"] == "sft" and r["decoding"] == "greedy")
    assert sft_greedy["win_rate_vs_sft"] == 0.5
    assert 0.0 <= summary["reward_model"]["accuracy"] <= 1.0 and summary["reward_model"]["pairs"] > 50
    assert set(summary["ordering"]) == {"greedy", "t1"}
    assert (run / "results/report/reward_vs_iteration.png").read_bytes()[:4] == b"\x89PNG"
    assert "| iter2 | greedy |" in (run / "results/report/summary.md").read_text()


def test_results_doc_renders_the_finished_run(run):
    """docs/results.md's generator reads a real run: its summary, manifest and Snakemake's job records."""
    from online_rlhf.provenance import results_doc as rd

    section = rd.run_section("default", rd.load_run("default", run))
    assert "**Not run**" not in section
    assert "- wall time: **" in section and "- date: " in section and "logical CPUs" in section
    assert "| iter2 | greedy |" in section and "held-out pair accuracy **" in section
    # Snakemake's onstart / onsuccess hooks recorded the machine (online_rlhf/provenance/host.py)
    assert "- the machine during the run (`results/logs/host/`" in section and "stolen by the hypervisor" in section


def test_generation_shards_lose_no_prompt(run):
    for t in (1, 2):
        prompts = read(run, f"results/iter{t}/prompts.parquet")
        gens = read(run, f"results/iter{t}/generations.parquet")
        assert prompts.height == PROMPTS
        per_prompt = gens.group_by("prompt_id").len()
        assert per_prompt.height == PROMPTS and set(per_prompt["len"]) == {K}
        assert sorted(gens["shard"].unique()) == [0, 1, 2]
        assert set(gens["finish_reason"].unique()) <= {"stop", "length"}
        assert sorted(gens.filter(pl.col("prompt_id") == gens["prompt_id"][0])["temperature"]) == [0.7, 0.7, 1.0, 1.0]
        rewards = read(run, f"results/iter{t}/rewards.parquet")
        assert rewards.height == PROMPTS * K and rewards["reward"].is_finite().all()


def test_iterations_and_evaluation_use_disjoint_prompts(run):
    it1 = set(read(run, "results/iter1/prompts.parquet")["prompt_id"])
    it2 = set(read(run, "results/iter2/prompts.parquet")["prompt_id"])
    held = set(read(run, "results/data/prompts/eval_prompts.parquet")["prompt_id"])
    val = set(read(run, "results/selection/validation_prompts.parquet")["prompt_id"])
    assert len(val) == 40
    assert not (it1 & it2) and not (it1 & held) and not (it2 & held) and not (val & (it1 | it2 | held))


def test_the_best_candidate_on_validation_becomes_the_final_policy(run):
    best = json.loads((run / "results/selection/best.json").read_text())
    means = {c["model"]: c["mean_reward"] for c in best["candidates"]}
    assert list(means) == ["sft", "offline_dpo", "iter1", "iter2"]  # smoke: candidates all, in training order
    for model, mean in means.items():
        scored = read(run, f"results/selection/{model}/scored.parquet")
        assert scored.height == 40 * 2 and scored["reward"].mean() == pytest.approx(mean)
    assert best["best"] == max(means, key=means.get)
    chosen = run / best["selected_from"]
    final = sorted(p.relative_to(run / "results/final/policy") for p in (run / "results/final/policy").rglob("*"))
    assert final == sorted(p.relative_to(chosen) for p in chosen.rglob("*"))
    weights = run / "results/final/policy/model.safetensors"
    assert weights.stat().st_ino == (chosen / "model.safetensors").stat().st_ino  # a hard link, not a copy


def test_pairs_are_best_vs_worst_and_every_prompt_is_accounted_for(run):
    for t in (1, 2):
        pairs = read(run, f"results/iter{t}/pairs.parquet")
        drops = read(run, f"results/iter{t}/pair_drops.parquet")
        stats = json.loads((run / f"results/iter{t}/pair_stats.json").read_text())
        assert pairs.height + drops.filter(pl.col("sample_index").is_null()).height == PROMPTS
        assert (pairs["chosen_reward"] > pairs["rejected_reward"]).all()
        # empty replies are excluded before selection (a stated rule), so best/worst range over the usable ones
        rewards = read(run, f"results/iter{t}/rewards.parquet").filter(pl.col("response").str.strip_chars() != "")
        # and a reply cut at max_new_tokens may be rejected, never chosen
        complete = pl.col("reward").filter(pl.col("finish_reason") != "length")
        best = rewards.group_by("prompt_id").agg(complete.max().alias("best"), pl.col("reward").min().alias("worst"))
        joined = pairs.join(best, on="prompt_id")
        assert (joined["chosen_reward"] == joined["best"]).all() and (joined["rejected_reward"] == joined["worst"]).all()
        assert stats["pairs"] == pairs.height and sum(stats["dropped"].values()) == drops.height


def test_normalised_data_accounts_for_every_raw_row(run):
    for summary_path in (run / "results/data").glob("*/*.json"):
        if summary_path.parent.name in ("mixtures", "stats"):
            continue
        s = json.loads(summary_path.read_text())
        kind, name = summary_path.parent.name, summary_path.stem
        table = read(run, f"results/data/{kind}/{name}.parquet")
        drops = read(run, f"results/data/drops/{kind}/{name}.parquet")
        # A pair built from several raw rows (HelpSteer) names each of them in `origin`, joined by " & ".
        kept = set(table["origin"].str.split(" & ").explode().to_list())
        whole = set(drops.filter(pl.col("whole_row"))["origin"].str.split(" & ").explode().to_list()) - kept
        assert len(kept) + len(whole) == s["rows_in"], name
    for name in ("mix1", "mix2"):
        mix = json.loads((run / f"results/data/mixtures/{name}.json").read_text())
        assert mix["pairs"] == sum(v["taken"] for v in mix["sources"].values())
        stats = json.loads((run / f"results/data/stats/{name}.json").read_text())
        assert stats["total"]["pairs"] == mix["pairs"] and {r["source"] for r in stats["sources"]} == set(mix["sources"])
        assert (run / f"results/data/stats/{name}.md").read_text().startswith(f"### Mixture `{name}`")


def test_models_are_safetensors_folders(run):
    for d in ("results/sft/model", "results/rm/bt/model", "results/offline_dpo/model", "results/iter1/policy", "results/iter2/policy"):
        files = {p.name for p in (run / d).iterdir()}
        assert {"config.json", "model.safetensors", "tokenizer.json"} <= files and not any(f.endswith(".bin") for f in files)
    metrics = json.loads((run / "results/iter2/train_metrics.json").read_text())
    assert metrics["init"] == "results/iter1/policy" and metrics["reference"] == "results/sft/model"
    assert metrics["pairs_in"] == read(run, "results/iter1/pairs.parquet").height + read(run, "results/iter2/pairs.parquet").height


def test_every_rule_left_a_log_and_heavy_rules_a_benchmark(run):
    assert (run / "results/logs/train_sft.log").stat().st_size > 0
    assert (run / "results/benchmarks/iter2/train_dpo.tsv").exists()


def test_changing_the_pair_rule_reruns_only_what_depends_on_it(run):
    cfg = yaml.safe_load((run / "config/smoke.yaml").read_text())
    cfg["online"]["pair_rule"] = "best_random"
    (run / "config/smoke_best_random.yaml").write_text(yaml.safe_dump(cfg))
    out = snakemake("-n", "--configfile", "config/smoke_best_random.yaml", cwd=run).stdout
    planned = set(re.findall(r"^rule (\w+):", out, re.MULTILINE))
    assert {"build_pairs", "train_dpo", "report"} <= planned
    assert not planned & {"train_sft", "train_reward_model", "train_offline_dpo", "synthesize_dataset", "build_base_model", "select_prompts"}
    assert "results/iter1/generations/000.parquet" not in out  # iteration 1 samples from SFT: unchanged


def test_judges_are_compared_on_rewardbench_style_pairs_and_length_bias(run):
    rewards = read(run, "results/iter1/rewards.parquet")  # smoke: the pairwise model judges the online samples
    assert set(rewards["judge"]) == {"preference_model"} and rewards["over_length"].dtype == pl.Boolean
    pivots = rewards.sort("prompt_id", "sample_index").group_by("prompt_id", maintain_order=True).first()
    assert (pivots["reward"] == 0.5).all()  # each prompt's first response is its pivot
    judges = json.loads((run / "results/rm/judges.json").read_text())["judges"]
    assert set(judges) == {"bt", "pm", "oracle"}
    for name in ("bt", "pm"):
        rb = json.loads((run / f"results/rm/{name}/rewardbench.json").read_text())
        assert set(rb["sections"]) == {"Chat", "Chat Hard", "Safety", "Reasoning"} and rb["pairs"] == 80
        assert all(v["pairs"] == 20 for v in rb["sections"].values()) and 0.0 <= rb["score"] <= 1.0
        assert judges[name]["heldout"]["pairs"] == 60
        assert judges[name]["heldout"]["against_chance"]["stderr"] == pytest.approx((0.25 / 60) ** 0.5)
    for name in ("bt", "pm", "oracle"):
        lb = json.loads((run / f"results/rm/length_bias/{name}.json").read_text())
        assert lb["prompts"] == 20 and lb["responses"] == 80 and lb["defined"] + lb["undefined"] == 20
        assert (run / f"results/rm/length_bias/{name}.png").read_bytes()[:4] == b"\x89PNG"


BENCHMARKS = ("alpaca_eval", "mt_bench", "arena_hard", "world_reverse", "world_choice")


def test_every_benchmark_is_a_leaf_per_model(run):
    for m in ("sft", "iter1"):  # benchmarks.models of config/smoke.yaml
        for b in BENCHMARKS:
            r = json.loads((run / f"results/eval/{m}/{b}.json").read_text())
            assert r["model"] == m and r["benchmark"] == b and r["value"] is not None
        alpaca = json.loads((run / f"results/eval/{m}/alpaca_eval.json").read_text())
        assert 0 <= alpaca["value"] <= 100 and alpaca["metrics"]["instructions"] == 30 and alpaca["metrics"]["glm"] == "length_controlled_minimal"
        assert alpaca["glm"] == "length_controlled_minimal" and alpaca["judge"] == "oracle" and alpaca["benchmark_version"] == "made-up world"
        mt = json.loads((run / f"results/eval/{m}/mt_bench.json").read_text())
        assert 1 <= mt["value"] <= 10 and mt["metrics"]["judgments"] == 2 * 8 and mt["metrics"]["unparsed"] == 0
        # 8 questions over MT-Bench's 8 categories: math, reasoning and coding are graded with the references
        assert len(mt["metrics"]["by_category"]) == 8 and mt["metrics"]["reference_graded"] == 3 * 2
        arena = json.loads((run / f"results/eval/{m}/arena_hard.json").read_text())
        assert 0 <= arena["value"] <= 100 and arena["metrics"]["games"] == 2 * 20
        # config/smoke.yaml reads Arena-Hard in the 2024 layout, and the answers are written in it
        assert arena["layout"] == "2024" and arena["judge_settings"]["attempts"] == 2
        assert "choices" in json.loads((run / f"results/eval/{m}/arena_hard/answers.jsonl").read_text().splitlines()[0])
        lm = json.loads((run / f"results/eval/{m}/world_reverse.json").read_text())
        assert lm["metric"] == "exact_match,none" and lm["documents"]["world_reverse"]["effective"] == 30
        samples = (run / f"results/eval/{m}/world_choice/samples.jsonl").read_text().splitlines()
        assert len(samples) == json.loads((run / f"results/eval/{m}/world_choice.json").read_text())["documents"]["world_choice"]["effective"]
    summary = json.loads((run / "results/report/summary.json").read_text())
    rows = summary["tables"]["benchmarks"]["rows"]
    assert [r["model"] for r in rows] == ["sft", "iter1"]
    assert rows[1]["arena_hard"]["artifact"] == "results/eval/iter1/arena_hard.json"
    labels = summary["tables"]["benchmarks"]["labels"]
    assert labels["alpaca_eval"].startswith("AlpacaEval-2 LC with the minimal GLM") and "judge oracle" in labels["mt_bench"]
    assert rows[1]["alpaca_eval"]["glm"] == "length_controlled_minimal"
    assert labels["alpaca_eval"] in (run / "results/report/summary.md").read_text()
    not_produced = {m["item"] for m in summary["not_produced"]}
    assert "Table 4 (length-penalty ablation)" in not_produced and "Figure 3 (length-bias heatmap)" not in not_produced
    assert sorted(r["judge"] for r in summary["tables"]["judges"]["rows"]) == ["bt", "oracle", "pm"]
    assert summary["tables"]["selection"]["best"] in ("sft", "offline_dpo", "iter1", "iter2")
    assert (run / "results/report/benchmarks_vs_iteration.png").read_bytes()[:4] == b"\x89PNG"


def test_snakemake_report_shows_the_tables(run):
    snakemake("--configfile", "config/smoke.yaml", "--report", "results/report/report.html", cwd=run)
    html = (run / "results/report/report.html").read_text()
    for title in ("Held-out evaluation", "Table 1: reward model", "Table 2: chat benchmarks", "Table 3: academic benchmarks", "Figure 3 (length-bias heatmap)"):
        assert title in html, title
    assert "app.showResultInfo('results/eval/iter1/alpaca_eval.json')" in html


def test_length_ablation_table_appears_when_another_run_is_configured(run):
    """Table 4 compares this run with other runs' summaries (here: a copy of this run's own, as a stand-in)."""
    shutil.copy(run / "results/report/summary.json", run / "other_run_summary.json")
    cfg = yaml.safe_load((run / "config/smoke.yaml").read_text())
    cfg["report"] = {"compare": [{"label": "copy", "summary": "other_run_summary.json"}]}
    # safe_dump sorts the keys: the benchmarks and lm-eval tasks come in another order than in config/smoke.yaml, which
    # must not rerun their jobs (their params list them sorted)
    (run / "config/smoke_compare.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake("--configfile", "config/smoke_compare.yaml", "--cores", "1", cwd=run)
    out = proc.stdout + proc.stderr
    ran = dict(re.findall(r"^(\w+)\s+(\d+)$", out[out.index("Job stats:"):], re.MULTILINE))
    assert set(ran) == {"report", "manifest", "all", "total"}, ran
    summary = json.loads((run / "results/report/summary.json").read_text())
    rows = summary["tables"]["length_ablation"]
    assert [r["run"] for r in rows] == ["this run", "copy"] and rows[1]["length_penalty"]["artifact"] == "other_run_summary.json"
    assert rows[0]["alpaca_eval"]["value"] == rows[1]["alpaca_eval"]["value"]
    assert "Table 4 (length-penalty ablation)" not in {m["item"] for m in summary["not_produced"]}
    assert "Table 4: length-penalty ablation (iter1)" in (run / "results/report/tables.rst").read_text()


def test_a_lost_shard_is_the_only_shard_run_again(run):
    """A run stopped during generation (shard 001 preempted, so nothing gathered yet) redoes only that shard."""
    lost = [run / "results/iter1/generations/001.parquet", run / "results/iter1/generations.parquet"]
    for path in lost:
        path.rename(path.with_name(path.name + ".kept"))
    try:
        proc = snakemake("results/iter1/generations.parquet", "-n", "--configfile", "config/smoke.yaml", cwd=run)
    finally:
        for path in lost:
            path.with_name(path.name + ".kept").rename(path)
    out = proc.stdout + proc.stderr
    planned = dict(re.findall(r"^(\w+)\s+(\d+)$", out[out.index("Job stats:"):], re.MULTILINE))
    assert planned == {"generate": "1", "gather_generations": "1", "total": "2"}, planned
    assert "output: results/iter1/generations/001.parquet" in out
