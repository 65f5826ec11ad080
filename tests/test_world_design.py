"""The default world's design (docs/world.md): a habit that greedy SFT inherits on hard queries, other writers for the
offline data, a noisy strong judge; and the measurements built on it (on-policy judge accuracy, the ordering test)."""

import collections
import math
import random

import pytest
import yaml

from online_rlhf.evaluate.heldout import ordering_chain, paired_difference, prompt_means
from online_rlhf.judges.onpolicy import onpolicy_accuracy
from online_rlhf.report.summary import pooled_onpolicy, selection_table
from online_rlhf.world.datasets import DEMONSTRATOR, synthesise
from online_rlhf.world.task import WRITERS, WorldSpec, behaviour_response, oracle_reward, target_response

from .conftest import ROOT

DEFAULT = WorldSpec(**yaml.safe_load((ROOT / "config/config.yaml").read_text())["world"])


def _shares(spec, queries, rng):
    c = collections.Counter()
    for q in queries:
        a = behaviour_response(q, rng, spec)
        c["right" if a == target_response(q) else "habit" if a == q else "other"] += 1
    return {k: v / len(queries) for k, v in c.items()}


def test_default_demonstrator_prefers_its_habit_on_hard_queries_only():
    rng = random.Random(0)
    hard = _shares(DEFAULT, ["abcdefg"] * 4000, rng)
    easy = _shares(DEFAULT, ["abcd"] * 4000, rng)
    # the headroom: on hard queries the echo is the demonstrator's likeliest answer, so greedy SFT learns it
    assert hard["habit"] > hard["right"] > 0.2
    assert easy["right"] > easy["habit"]
    assert DEFAULT.is_hard("abcdefg") and not DEFAULT.is_hard("abcd")


def test_flat_world_is_unchanged_by_the_new_knobs():
    spec = WorldSpec()
    assert spec.skill("abcdefgh", 0.6) == 0.6 and not spec.is_hard("abcdefgh")


@pytest.mark.parametrize("bad", [{"hard_factor": 1.5}, {"habit": "nonsense"}, {"habit_rate": 0.3}, {"judge_noise": -1}, {"hard_len": 0}])
def test_bad_world_knobs_are_named(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        WorldSpec(**bad)


def test_nectar_answers_come_from_other_writers_ranked_by_a_noisy_judge():
    rows = synthesise("nectar", DEFAULT, 300, 1)
    names = {w.name for w in WRITERS}
    misranked = 0
    for row in rows:
        models = [a["model"] for a in row["answers"]]
        assert len(set(models)) == 7 and set(models) <= names and DEMONSTRATOR not in models
        q = row["prompt"].split("Human: ")[1].split("\n")[0]
        rewards = [oracle_reward(q, a["answer"]) for a in row["answers"]]
        misranked += rewards[0] < max(rewards)
    # strong, not perfect: the judge's noise misranks the best answer now and then
    assert 0 < misranked < 0.2 * len(rows)


def test_ultrafeedback_completions_come_from_four_distinct_pool_writers():
    for row in synthesise("ultrafeedback", DEFAULT, 50, 2):
        assert len(set(row["models"])) == 4 == len(row["completions"])
        assert [c["model"] for c in row["completions"]] == row["models"]


def _row(pid, query, response, reward, i):
    return {"prompt_id": pid, "prompt": [{"role": "user", "content": query}], "response": response, "reward": reward, "sample_index": i}


def test_onpolicy_accuracy_counts_pairs_the_oracle_tells_apart():
    q = "abcd"
    rows = [
        _row("p1", q, "dcba", 2.0, 0),  # right, judged best
        _row("p1", q, "abcd", 1.0, 1),  # copy, judged middle
        _row("p1", q, "dcbb", 0.0, 2),  # near miss, judged worst: the judge misorders (copy, near miss)
        _row("p2", q, "dcba", 0.5, 0),
        _row("p2", q, "dcba", 0.7, 1),  # same oracle reward: not a pair
    ]
    r = onpolicy_accuracy(rows)
    assert r["pairs"] == 3 and r["prompts"] == 2
    assert r["accuracy"] == pytest.approx(2 / 3)
    # p1: best (right) vs worst (near miss) is right; p2's best-worst pair is an oracle tie
    assert r["best_worst"] == {"right": 1, "wrong": 0, "oracle_tie": 1, "accuracy": 1.0}


def test_pooled_onpolicy_weights_rows_by_pairs():
    rows = [{"policy": "sft@iter1", "pairs": 100, "accuracy": 0.9, "stderr": 0.01},
            {"policy": "iter1@iter2", "pairs": 300, "accuracy": 0.7, "stderr": 0.02},
            {"policy": "iter1@selection", "pairs": 50, "accuracy": 0.1, "stderr": 0.05}]
    loop = pooled_onpolicy({"rows": rows}, "iter")
    assert loop["pairs"] == 400 and loop["accuracy"] == pytest.approx(0.75)


def _scored(pid_rewards, temperature=0.0):
    return [{"prompt_id": p, "temperature": temperature, "reward": r} for p, r in pid_rewards]


def test_ordering_chain_tests_every_step_with_paired_standard_errors():
    rng = random.Random(0)
    prompts = [f"p{i}" for i in range(200)]
    level = {"sft": 0.5, "offline_dpo": 0.6, "iter1": 0.7, "iter2": 0.69}
    per_model = {m: prompt_means(_scored([(p, v + rng.gauss(0, 0.05)) for p in prompts])) for m, v in level.items()}
    out = ordering_chain(per_model, list(level))["modes"]["greedy"]
    assert [s["holds"] for s in out["steps"]] == [True, True, False]
    assert not out["holds"] and out["failed_steps"] == ["iter1 < iter2"]
    assert out["steps"][0]["significant"] and out["steps"][0]["z"] > 10
    assert [m["model"] for m in out["models"]] == list(level)


def test_paired_difference_is_exact_on_a_constant_shift():
    d = paired_difference({"a": 1.0, "b": 2.0, "c": 0.5}, {"a": 0.5, "b": 1.5, "c": 0.0})
    assert d["diff"] == pytest.approx(0.5) and d["stderr"] == pytest.approx(0.0) and math.isinf(d["z"])


def test_ordering_chain_names_a_missing_model():
    with pytest.raises(ValueError, match="iter2"):
        ordering_chain({"sft": {}}, ["sft", "iter2"])


def test_selection_table_shows_the_oracle_reward_of_every_candidate():
    best = {"best": "iter3", "candidates": [{"model": f"iter{t}", "mean_reward": r, "stderr": 0.01, "samples": 100}
                                            for t, r in ((1, 0.1), (2, 0.2), (3, 0.3))]}
    onpolicy = {"rows": [{"policy": f"iter{t}@selection", "mean_oracle_reward": o, "oracle_stderr": 0.01}
                         for t, o in ((1, 0.9), (2, 0.8), (3, 0.7))]}
    rows = selection_table(best, "best.json", onpolicy, "onpolicy.json")
    assert rows[2]["model"] == "iter3 (selected)" and rows[2]["oracle_reward"]["value"] == 0.7
    assert [r["oracle_best"] for r in rows] == ["yes", "", ""]  # the judge's pick is not the oracle's


def test_ordering_tally_counts_the_runs_it_holds_in():
    from online_rlhf.report.summary import ordering_tally, ordering_tally_markdown

    def summary(levels):
        rng = random.Random(len(levels))
        prompts = [f"p{i}" for i in range(100)]
        per = {m: prompt_means(_scored([(p, v + rng.gauss(0, 0.02)) for p in prompts])) for m, v in levels.items()}
        return {"claim": {"judge": "oracle", **ordering_chain(per, list(levels))}, "reward_model": {"accuracy": 0.9},
                "onpolicy": {"loop": {"accuracy": 0.8}}}

    rising = {"sft": 0.5, "offline_dpo": 0.6, "iter1": 0.7}
    flat = {"sft": 0.5, "offline_dpo": 0.7, "iter1": 0.6}
    table = ordering_tally([{"run": "seed_1", "summary": summary(rising), "artifact": "a"}, {"run": "seed_2", "summary": summary(flat), "artifact": "b"}])
    assert table["tally"]["greedy"] == {"runs": 2, "holds": 1, "holds_significantly": 1}
    assert table["runs"][1]["modes"]["greedy"]["failed_steps"] == ["offline_dpo < iter1"]
    md = ordering_tally_markdown(table)
    assert "holds in 1 of 2 runs" in md and "| seed_2 |" in md
    with pytest.raises(ValueError, match="no 'claim'"):
        ordering_tally([{"run": "seed_3", "summary": {}, "artifact": "c.json"}])
