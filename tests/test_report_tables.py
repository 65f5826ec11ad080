"""The paper's tables in the report: benchmark tables, the length-penalty ablation, Table 5 from a mixture-statistics
file, what is not produced and why, a judge at chance named, and links to artifacts."""

import math

import pytest

from online_rlhf.judges.interface import against_chance
from online_rlhf.report.summary import (
    ablation_table,
    benchmark_tables,
    column_label,
    judges_table,
    mixture_table,
    not_produced,
    rst_table,
    selection_table,
    uninformative_judges,
)


def _result(model, bench, value, length=None):
    r = {"model": model, "benchmark": bench, "value": value, "metric": "m", "artifact": f"results/eval/{model}/{bench}.json"}
    if length is not None:
        r["metrics"] = {"mean_length_chars": length}
    return r


def test_benchmark_tables_order_models_and_keep_artifacts():
    results = [_result(m, b, v, 5.0) for m, v in (("iter1", 30.0), ("sft", 10.0), ("offline_dpo", 20.0)) for b in ("arena_hard", "alpaca_eval")]
    results += [_result(m, "gsm8k", 0.5) for m in ("iter1", "sft", "offline_dpo")]
    chat, academic, rows = benchmark_tables(results)
    assert chat == ["alpaca_eval", "arena_hard"] and academic == ["gsm8k"]
    assert [r["model"] for r in rows] == ["sft", "offline_dpo", "iter1"]
    assert rows[0]["gsm8k"]["value"] == 50.0  # lm-eval fractions shown as percentages
    assert rows[2]["alpaca_eval"]["artifact"] == "results/eval/iter1/alpaca_eval.json"
    assert rows[0]["mean_answer_chars"]["artifact"] == "results/eval/sft/arena_hard.json"
    with pytest.raises(ValueError, match="'gsm8k' has no result for model 'iter2'"):
        benchmark_tables(results + [_result("iter2", "alpaca_eval", 1.0, 5.0), _result("iter2", "arena_hard", 1.0, 5.0)])


def test_chat_numbers_carry_judge_glm_and_version_and_minimal_lc_is_never_plain_lc():
    def res(model, glm):
        return {**_result(model, "alpaca_eval", 12.0, 5.0), "judge": "gpt-4-1106-preview", "glm": glm,
                "benchmark_version": "tatsu-lab/alpaca_eval@main"}

    _, _, rows = benchmark_tables([res("sft", "length_controlled_v1"), _result("sft", "gsm8k", 0.5)])
    cell = rows[0]["alpaca_eval"]
    assert (cell["judge"], cell["glm"], cell["benchmark_version"]) == ("gpt-4-1106-preview", "length_controlled_v1", "tatsu-lab/alpaca_eval@main")
    assert "glm" not in rows[0]["gsm8k"]
    label = column_label("alpaca_eval", [cell])
    assert label == "LC AlpacaEval-2 (%) [GLM length_controlled_v1; judge gpt-4-1106-preview; tatsu-lab/alpaca_eval@main]"
    _, _, rows = benchmark_tables([res("sft", "length_controlled_minimal")])
    minimal = column_label("alpaca_eval", [rows[0]["alpaca_eval"]])
    assert not minimal.startswith("LC AlpacaEval-2") and "minimal GLM" in minimal and "not the leaderboard's LC" in minimal
    # a column that mixes GLMs (Table 4 across runs) names every one
    assert column_label("alpaca_eval", [cell, rows[0]["alpaca_eval"]]).count(" | ") == 1
    arena = {**_result("sft", "arena_hard", 30.0, 5.0), "judge": "oracle", "benchmark_version": "made-up world (2025 layout)"}
    _, _, rows = benchmark_tables([arena])
    assert column_label("arena_hard", [rows[0]["arena_hard"]]) == "Arena-Hard (%) [judge oracle; made-up world (2025 layout)]"


def test_mixture_table_from_a_made_up_stats_file():
    stats = {
        "mixture": "mix2",
        "sources": [
            {"source": "hh_rlhf", "prompts": 115092, "pairs": 115396, "mean_prompt_tokens": 160.4, "mean_chosen_tokens": 82.2,
             "mean_rejected_tokens": 73.6, "completion": "mixed", "annotator": "human"},
            {"source": "ultrafeedback", "prompts": 63591, "pairs": 340025, "mean_prompt_tokens": 161.5, "mean_chosen_tokens": 279.5,
             "mean_rejected_tokens": 211.1, "completion": "LLM", "annotator": "GPT-4"},
        ],
        "total": {"prompts": 178683, "pairs": 455421, "mean_prompt_tokens": 161.2, "mean_chosen_tokens": 229.7,
                  "mean_rejected_tokens": 175.1, "completion": "-", "annotator": "-"},
    }
    rows = mixture_table(stats, "results/data/stats/mix2.json")
    assert [r["source"] for r in rows] == ["hh_rlhf", "ultrafeedback", "total"]
    assert rows[1]["pairs"] == {"value": 340025, "artifact": "results/data/stats/mix2.json", "digits": 0}
    assert rows[0]["annotator"] == "human"
    keyed = {**stats, "sources": {r["source"]: {k: v for k, v in r.items() if k != "source"} for r in stats["sources"]}}
    assert mixture_table(keyed, "x.json") == mixture_table(stats, "x.json")
    del stats["sources"][0]["mean_rejected_tokens"]
    with pytest.raises(ValueError, match=r"x.json: row 0 \(hh_rlhf\) lacks \['mean_rejected_tokens'\]"):
        mixture_table(stats, "x.json")
    rst = rst_table("Table 5", mixture_table(keyed, "x.json"), [("source", "source"), ("pairs", "#pairs")], lambda p: f"link:{p}")
    assert "`115396 <link:x.json>`__" in rst and ".. list-table:: Table 5" in rst


def test_length_ablation_compares_the_last_iterate_across_runs():
    tables = {"benchmarks": {"rows": [{"model": "iter3", "alpaca_eval": {"value": 31.3, "artifact": "a", "digits": 2}}]}}
    other = {"benchmarks": {"rows": [{"model": "iter3", "alpaca_eval": {"value": 38.1, "artifact": "b", "digits": 2}}]}}
    runs = [{"label": "this run", "length_penalty": 0.0, "summary": {"tables": tables}, "artifact": "s.json"},
            {"label": "concise", "length_penalty": 0.001, "summary": {"tables": other}, "artifact": "c.json"}]
    rows = ablation_table(runs, "iter3")
    assert [r["alpaca_eval"]["value"] for r in rows] == [31.3, 38.1] and rows[1]["length_penalty"]["value"] == 0.001
    with pytest.raises(ValueError, match="c.json: no benchmark row for 'iter4'"):
        ablation_table(runs[1:], "iter4")


def test_the_report_says_what_it_does_not_produce():
    items = {m["item"] for m in not_produced({"length_penalty": 0.0, "held_back": ["humaneval"]}, {"reward_model": [1], "benchmarks": {}})}
    assert "Figure 3 (length-bias heatmap)" in items and "Table 4 (length-penalty ablation)" in items
    assert "Table 5 (mixture statistics)" in items and "humaneval (lm-eval)" in items
    items = {m["item"] for m in not_produced({"length_penalty": 0.0}, {"reward_model": [1], "benchmarks": {}, "length_ablation": [1], "mixtures": [1]})}
    assert "Table 4 (length-penalty ablation)" not in items and "Table 5 (mixture statistics)" not in items


JUDGES = {
    "sections": ["Chat", "Chat Hard"],
    "judges": {
        "bt": {"heldout": {"accuracy": 0.9, "pairs": 60, "source": "results/rm/bt/heldout.json"},
               "reward_bench": {"benchmark": "x", "score": 0.8, "sections": {"Chat": 0.95, "Chat Hard": 0.65}, "source": "results/rm/bt/rewardbench.json"},
               "length_bias": {"mean_r": 0.06, "prompts": 20, "undefined": 1, "source": "results/rm/length_bias/bt.json"}},
        "oracle": {"length_bias": {"mean_r": -0.1, "prompts": 20, "undefined": 0, "source": "results/rm/length_bias/oracle.json"}},
    },
}


def test_table1_and_figure3_come_from_the_judges_file_with_their_sources():
    sections, rows = judges_table(JUDGES)
    assert sections == ["Chat", "Chat Hard"]
    bt, oracle = rows
    assert bt["Chat Hard"] == {"value": 0.65, "artifact": "results/rm/bt/rewardbench.json", "digits": 3}
    assert bt["heldout_accuracy"]["artifact"] == "results/rm/bt/heldout.json" and bt["length_r"]["value"] == 0.06
    assert set(oracle) == {"judge", "length_r"}  # the oracle has no accuracy to report, only its length correlation
    items = {m["item"] for m in not_produced({"length_penalty": 0.0}, {"judges": {"rows": rows}, "benchmarks": {}})}
    assert not {"Figure 3 (length-bias heatmap)", "Table 1 (RewardBench Chat / Chat-Hard / Safety / Reasoning)"} & items


def test_a_judge_at_chance_on_the_heldout_pairs_is_named():
    # 993 pairs: one binomial standard error under chance is sqrt(0.25 / 993) = 0.0159
    assert against_chance(0.498, 993)["above_chance"] is False and against_chance(0.854, 993)["above_chance"] is True
    assert against_chance(0.53, 993)["z"] == pytest.approx(0.03 / math.sqrt(0.25 / 993))
    assert against_chance(0.53, 993)["above_chance"] is False  # z 1.9: within 2 standard errors
    with pytest.raises(ValueError, match="needs pairs"):
        against_chance(0.5, 0)
    judges = {"sections": [], "judges": {
        name: {"heldout": {"accuracy": acc, "pairs": 993, "against_chance": against_chance(acc, 993), "source": f"results/rm/{name}/heldout.json"}}
        for name, acc in (("bt", 0.854), ("pm", 0.498))}}
    _, rows = judges_table(judges)
    sentence = uninformative_judges(rows, "results/rm/judges.json")
    assert sentence.startswith("Not distinguishable from a judge without information on the held-out pairs (accuracy not above 1/2 by more "
                               "than 2 binomial standard errors, `results/rm/judges.json`): `pm` (0.498 on 993 pairs, z -0.1)")
    assert "`bt`" not in sentence
    # every judge informative, or a judges file from before the test (no against_chance): nothing to say
    assert uninformative_judges(rows[:1], "x") is None and uninformative_judges(judges_table(JUDGES)[1], "x") is None


def test_selection_table_marks_the_winner():
    best = {"best": "iter2", "candidates": [{"model": "iter1", "mean_reward": 0.8, "stderr": 0.01, "samples": 100},
                                            {"model": "iter2", "mean_reward": 0.9, "stderr": 0.01, "samples": 100}]}
    rows = selection_table(best, "results/selection/best.json")
    assert [r["model"] for r in rows] == ["iter1", "iter2 (selected)"] and rows[1]["mean_reward"]["value"] == 0.9
