"""Small pure pieces: batch arithmetic, DPO loss options, mixtures, prompt selection, evaluation metrics."""

import math

import polars as pl
import pytest

from online_rlhf.data.mixtures import build_mixture, select_iteration_prompts
from online_rlhf.evaluate.heldout import summarise, win_rate
from online_rlhf.report.summary import model_order, ordering_check
from online_rlhf.train.trainers import dpo_loss_config, gradient_accumulation


def test_gradient_accumulation_keeps_the_global_batch_exactly():
    assert gradient_accumulation(128, 1, 8) == 16
    assert gradient_accumulation(512, 4, 8) == 16
    with pytest.raises(ValueError, match="not a multiple"):
        gradient_accumulation(128, 3, 8)


def test_dpo_loss_options_map_onto_trl():
    assert dpo_loss_config({"beta": 0.1}) == {"loss_type": ["sigmoid"], "loss_weights": [1.0], "label_smoothing": 0.0, "beta": 0.1}
    rpo = dpo_loss_config({"beta": 0.1, "loss_type": "ipo", "rpo_alpha": 0.5})
    assert rpo["loss_type"] == ["ipo", "sft"] and rpo["loss_weights"] == [1.0, 0.5]


def pool(n):
    return [{"prompt_id": f"p{i:04d}", "prompt": [{"role": "user", "content": str(i)}]} for i in range(n)]


def test_iteration_prompts_are_disjoint_stable_and_checked():
    p = pool(100)
    slices = [select_iteration_prompts(p, t, 30, seed=3) for t in (1, 2, 3)]
    ids = [{r["prompt_id"] for r in s} for s in slices]
    assert all(len(s) == 30 for s in ids) and not (ids[0] & ids[1]) and not (ids[1] & ids[2])
    assert select_iteration_prompts(list(reversed(p)), 2, 30, seed=3) == slices[1]  # input order does not matter
    with pytest.raises(ValueError, match="need 120"):
        select_iteration_prompts(p, 4, 30, seed=3)


def test_validation_prompts_come_first_and_never_overlap_the_iterations():
    p = pool(100)
    validation = {r["prompt_id"] for r in select_iteration_prompts(p, 0, 30, seed=3, validation=10)}
    iterations = [{r["prompt_id"] for r in select_iteration_prompts(p, t, 30, seed=3, validation=10)} for t in (1, 2, 3)]
    assert len(validation) == 10 and all(len(s) == 30 for s in iterations)
    assert len(validation | set().union(*iterations)) == 100  # 10 + 3 x 30: a partition of the pool
    with pytest.raises(ValueError, match="10 validation prompts"):
        select_iteration_prompts(p, 4, 30, seed=3, validation=10)


def test_mixture_caps_are_seeded_samples_and_counted():
    tables = {"a": pl.DataFrame({"id": [f"a{i}" for i in range(10)]}), "b": pl.DataFrame({"id": [f"b{i}" for i in range(5)]})}
    rows, stats = build_mixture(tables, {"sources": {"a": {"cap": 4}, "b": {}}, "seed": 1})
    assert rows.height == 9 and stats["a"] == {"available": 10, "weight": 1.0, "taken": 4, "left_out_by_cap": 6}
    assert build_mixture(tables, {"sources": {"a": {"cap": 4}, "b": {}}, "seed": 1})[0].equals(rows)


def test_mixture_weights_repeat_or_subsample_a_source():
    tables = {"a": pl.DataFrame({"id": [f"a{i}" for i in range(10)]}), "b": pl.DataFrame({"id": [f"b{i}" for i in range(6)]})}
    rows, stats = build_mixture(tables, {"sources": {"a": {"weight": 2.5}, "b": {"weight": 0.5}}, "seed": 3})
    counts = dict(rows["id"].value_counts().rows())
    assert stats["a"]["taken"] == 25 and stats["b"]["taken"] == 3 and rows.height == 28
    assert sorted(counts[f"a{i}"] for i in range(10)) == [2] * 5 + [3] * 5  # two whole copies + a seeded half
    assert len({k for k in counts if k.startswith("b")}) == 3 and all(counts[k] == 1 for k in counts if k.startswith("b"))
    rows, stats = build_mixture(tables, {"sources": {"a": {"weight": 2.0, "cap": 15}, "b": {}}, "seed": 3})
    assert stats["a"] == {"available": 10, "weight": 2.0, "taken": 15, "left_out_by_cap": 5}


def test_win_rate_counts_ties_half():
    assert win_rate({"x": 1.0, "y": 0.5, "z": 0.0}, {"x": 0.0, "y": 0.5, "z": 1.0})["win_rate"] == 0.5
    assert math.isnan(win_rate({}, {})["win_rate"])


def test_summarise_per_decoding_mode():
    rows = [
        {"prompt_id": "a", "temperature": 0.0, "response": "ab", "reward": 1.0, "num_tokens": 2},
        {"prompt_id": "a", "temperature": 1.0, "response": "ab", "reward": 1.0, "num_tokens": 2},
        {"prompt_id": "a", "temperature": 1.0, "response": "b", "reward": 0.0, "num_tokens": 1},
    ]
    base = [{**r, "reward": 0.5} for r in rows]
    m = summarise(rows, base, exact=True)
    assert set(m) == {"greedy", "t1"}
    assert m["t1"]["mean_reward"] == 0.5 and m["t1"]["exact_rate"] == 0.5 and m["t1"]["vs_sft"]["ties"] == 1
    assert m["greedy"]["vs_sft"]["wins"] == 1


def test_ordering_check_reports_facts():
    evals = {m: {"metrics": {"greedy": {"mean_reward": r}}} for m, r in [("sft", 0.5), ("offline_dpo", 0.6), ("iter1", 0.65), ("iter2", 0.7)]}
    o = ordering_check(evals, "greedy")
    assert o["sft_lt_offline_lt_iterative"] and o["rises_every_iteration"] and o["best_iterate"] == "iter2"
    assert model_order(["iter10", "iter2", "offline_dpo", "sft"]) == ["sft", "offline_dpo", "iter2", "iter10"]
