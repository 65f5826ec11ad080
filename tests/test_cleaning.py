"""Cleaning rules (polars) against the per-row baseline of the benchmark, every rule and option, the adapters of the
Table-5 sources on native rows, malformed input with file:line, and the Table-5 statistics."""

import importlib.util
import json

import polars as pl
import pytest

from online_rlhf.config import reference_errors, schema_errors
from online_rlhf.core.records import Record, read_records
from online_rlhf.data.sources import PAIR_ADAPTERS, convert_pairs
from online_rlhf.data.sources.cleaning import CANDIDATE_SCHEMA, check_accounting, clean_pairs, mark_whole_rows
from online_rlhf.data.stats import mixture_statistics, render_markdown

from .conftest import ROOT


def _benchmark():
    spec = importlib.util.spec_from_file_location("clean_pairs_benchmark", ROOT / "benchmarks" / "clean_pairs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def turns(*pairs):
    return [{"role": r, "content": c} for r, c in pairs]


def candidates(rows):
    base = {"source": "s", "prompt_id": None, "chosen_score": None, "rejected_score": None, "meta": "{}"}
    out = []
    for i, r in enumerate(rows, 1):
        row = base | {"origin": f"f:{i}", "id": f"id{i}", "prompt": turns(("user", "q"))} | r
        row["prompt_id"] = row["prompt_id"] or json.dumps(row["prompt"])
        out.append(row)
    return pl.DataFrame(out, schema=CANDIDATE_SCHEMA)


def test_each_rule_names_its_drop_and_the_first_rule_wins():
    frame = candidates(
        [
            {"chosen": "a", "rejected": "b"},  # kept
            {"prompt": turns(("bot", "q")), "chosen": "a", "rejected": "b"},
            {"prompt": turns(("user", " ")), "chosen": "a", "rejected": "b"},
            {"chosen": "a", "rejected": "\n"},
            {"prompt": turns(("user", "q"), ("user", "q")), "chosen": "a", "rejected": "b"},
            {"prompt": turns(("system", "s"), ("user", "q")), "chosen": "c", "rejected": "d"},  # kept: leading system
            {"prompt": [], "chosen": "a", "rejected": "b"},
            {"chosen": "same", "rejected": "same"},
            {"chosen": "a", "rejected": "b", "chosen_score": 1.0, "rejected_score": 2.0},
            {"chosen": "a", "rejected": "b", "chosen_score": 2.0, "rejected_score": 2.0},
            {"chosen": "a", "rejected": "b", "chosen_score": 2.1, "rejected_score": 2.0},
            {"chosen": "e", "rejected": "f", "chosen_score": 3.0, "rejected_score": 2.0},
            {"chosen": "x" * 50, "rejected": "b"},
            {"chosen": "a", "rejected": "b", "id": "id1"},  # same content hash as row 1
            {"prompt": turns(("bot", " ")), "chosen": "a", "rejected": "a"},  # several rules: the first one names it
        ]
    )
    kept, drops = clean_pairs(frame, {"min_margin": 0.5, "min_score_ratio": 1.6, "max_chars": 20})
    assert kept["origin"].to_list() == ["f:1", "f:6"]
    assert dict(zip(drops["origin"], drops["reason"])) == {
        "f:2": "unknown_role",
        "f:3": "empty_turn",
        "f:4": "empty_turn",
        "f:5": "broken_role_order",
        "f:7": "broken_role_order",
        "f:8": "identical_responses",
        "f:9": "label_contradicts_scores",
        "f:10": "equal_scores",
        "f:11": "small_margin",
        "f:12": "small_score_ratio",
        "f:13": "over_length",
        "f:14": "duplicate",
        "f:15": "unknown_role",
    }
    detail = dict(zip(drops["origin"], drops["detail"]))
    assert detail["f:3"] == "context turn(s) 0 empty" and detail["f:4"] == "rejected reply empty"
    assert detail["f:11"] == "|2.1 - 2.0| < 0.5"
    assert json.loads(drops.filter(pl.col("origin") == "f:9")["raw"][0])["chosen_score"] == 1.0


def test_every_rule_can_be_switched_off():
    frame = candidates(
        [
            {"prompt": turns(("user", "q"), ("user", "q")), "chosen": "a", "rejected": "b"},
            {"prompt": turns(("user", "")), "chosen": "a", "rejected": "b"},
            {"chosen": "same", "rejected": "same"},
            {"chosen": "a", "rejected": "b", "chosen_score": 1.0, "rejected_score": 2.0},
            {"chosen": "a", "rejected": "b", "id": "id4"},
        ]
    )
    off = {"check_role_order": False, "drop_empty_turns": False, "drop_identical": False, "check_labels": False, "drop_duplicates": False}
    kept, drops = clean_pairs(frame, off)
    assert kept.height == 5 and drops.is_empty()
    with pytest.raises(ValueError, match="unknown cleaning option"):
        clean_pairs(frame, {"min_ratio": 2})


def test_per_prompt_cap_keeps_the_most_decisive_pairs_whatever_the_order():
    rows = [{"chosen": f"c{i}", "rejected": "r", "chosen_score": float(s), "rejected_score": 1.0, "id": f"i{i}"} for i, s in enumerate([3, 9, 5, 7, 2])]
    kept, drops = clean_pairs(candidates(rows), {"max_pairs_per_prompt": 2})
    assert sorted(kept["chosen_score"].to_list()) == [7.0, 9.0] and set(drops["reason"]) == {"per_prompt_cap"}
    assert kept["origin"].to_list() == ["f:2", "f:4"]  # input order kept
    kept_reversed, _ = clean_pairs(candidates(rows[::-1]), {"max_pairs_per_prompt": 2})
    assert sorted(kept_reversed["id"].to_list()) == sorted(kept["id"].to_list())


def test_polars_rules_agree_with_the_per_row_baseline():
    bench = _benchmark()
    frame = bench.synthetic_candidates(4000, seed=1)
    kept, drops = clean_pairs(frame, bench.OPTIONS)
    base_kept, base_drops = bench.baseline_clean(frame.to_dicts(), bench.OPTIONS)
    assert kept["origin"].to_list() == [r["origin"] for r in base_kept]
    assert list(zip(drops["origin"], drops["reason"])) == [(d["origin"], d["reason"]) for d in base_drops]
    assert len(set(drops["reason"])) == 11  # the synthetic data makes every rule fire


def test_accounting_catches_a_lost_row_and_multi_row_pairs_count_each_row():
    kept = pl.DataFrame({"origin": ["f:1 & f:2"]})
    drops = pl.DataFrame({"source": "s", "origin": ["f:2 & f:3", "f:4"], "reason": ["equal_scores", "single_response"], "detail": "", "whole_row": False, "raw": ""})
    marked = mark_whole_rows(kept, drops)
    assert marked["whole_row"].to_list() == [True, True]  # f:3 and f:4 produced nothing
    check_accounting("s", 4, kept, marked)
    with pytest.raises(AssertionError, match="5 rows read but 2 kept \\+ 2 dropped"):
        check_accounting("s", 5, kept, marked)


# ---- adapters on native rows -------------------------------------------------------------------------------------


def convert(fmt, *rows, options=None):
    return convert_pairs([Record(f"f:{i}", r) for i, r in enumerate(rows, 1)], fmt, fmt, options)


def test_helpsteer_pairs_responses_of_one_prompt_by_score():
    def row(prompt, response, helpfulness):
        return {"prompt": prompt, "response": response, "helpfulness": helpfulness, "correctness": 2, "coherence": 4, "complexity": 1, "verbosity": 1}

    out = convert("helpsteer", row("p", "a", 4), row("p", "b", 1), row("p", "c", 4), row("q", "d", 3), row("r", "e", 2), row("r", "f", 2))
    pairs = {(r["chosen"], r["rejected"]) for r in out.rows}
    assert pairs == {("a", "b"), ("c", "b")}
    assert {r["origin"] for r in out.rows} == {"f:1 & f:2", "f:3 & f:2"}
    assert sorted(out.summary()["dropped"].items()) == [("equal_scores", 2), ("single_response", 1)]
    out = convert("helpsteer", row("p", "a", 4), row("p", "b", 3), options={"min_margin": 2.0})
    assert out.table.is_empty() and out.summary()["dropped"] == {"small_margin": 1}


def test_pku_saferlhf_prefers_the_only_safe_response_then_the_better_one():
    base = {"prompt": "p", "response_0": "r0", "response_1": "r1", "better_response_id": 0}
    one_safe = base | {"is_response_0_safe": False, "is_response_1_safe": True, "safer_response_id": 1}
    both_safe = base | {"prompt": "q", "is_response_0_safe": True, "is_response_1_safe": True, "safer_response_id": 1}
    contradicts = base | {"prompt": "z", "is_response_0_safe": True, "is_response_1_safe": False, "safer_response_id": 1}
    out = convert("pku_saferlhf", one_safe, both_safe, contradicts)
    assert [(r["chosen"], r["rejected"]) for r in out.rows] == [("r1", "r0"), ("r0", "r1")]
    assert out.summary()["dropped"] == {"label_contradicts_scores": 1}
    assert convert("pku_saferlhf", one_safe, options={"preference": "better"}).rows[0]["chosen"] == "r0"


def test_ultrainteract_keeps_the_trajectory_as_messages():
    row = {
        "task": "Math_CoT",
        "dataset": "gsm8k",
        "trajectory": [{"from": "user", "value": "2+2?"}, {"from": "assistant", "value": "5"}, {"from": "user", "value": "wrong, retry"}],
        "chosen": "4",
        "rejected": "5",
        "id": "x",
        "parent_id": "y",
    }
    (pair,) = convert("ultrainteract", row).rows
    assert [m["role"] for m in pair["prompt"]] == ["user", "assistant", "user"] and pair["chosen"] == "4"
    assert json.loads(pair["meta"])["task"] == "Math_CoT"


def test_codeultrafeedback_joins_ratings_to_responses_by_model():
    row = {
        "instruction": "sort a list",
        "responses": [{"model": "m1", "response": "good"}, {"model": "m2", "response": "bad"}, {"model": "m3", "response": "ok"}],
        "annotations": [{"model": "m1", "rating": "5"}, {"model": "m2", "rating": "2"}, {"model": "m3", "rating": "N/A"}],
    }
    out = convert("codeultrafeedback", row)
    assert [(r["chosen"], r["rejected"], r["chosen_score"]) for r in out.rows] == [("good", "bad", 5.0)]
    assert sorted(out.summary()["dropped"]) == ["missing_score"]


def test_argilla_math_labels_are_checked_against_ratings():
    ok = {"instruction": "1+1", "chosen_response": "2", "rejected_response": "3", "chosen_rating": 9, "rejected_rating": 4}
    flipped = ok | {"instruction": "2+2", "chosen_rating": 3}
    out = convert("argilla_math", ok, flipped)
    assert len(out.rows) == 1 and out.summary()["dropped"] == {"label_contradicts_scores": 1}


def test_distilabel_orca_applies_argillas_filter():
    row = {"system": "be kind", "input": "q", "chosen": "a", "rejected": "b", "status": "unchanged", "chosen_score": 9, "rating": [9, 6], "in_gsm8k_train": False}
    out = convert("distilabel_orca", row, row | {"status": "tie", "rating": [7, 7]}, row | {"chosen_score": 5, "rating": [5, 2]}, row | {"in_gsm8k_train": True})
    (pair,) = out.rows
    assert [m["role"] for m in pair["prompt"]] == ["system", "user"] and (pair["chosen_score"], pair["rejected_score"]) == (9.0, 6.0)
    assert out.summary()["dropped"] == {"equal_scores": 1, "in_gsm8k_train": 1, "low_chosen_score": 1}
    assert len(convert("distilabel_orca", row | {"chosen_score": 5, "rating": [5, 2]}, options={"min_chosen_score": None}).rows) == 1


def test_distilabel_capybara_multi_turn_context_stays_messages():
    ctx = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "abc"}]
    row = {"chosen": ctx + [{"role": "assistant", "content": "cba"}], "rejected": ctx + [{"role": "assistant", "content": "abc"}], "rating_chosen": 5, "rating_rejected": 2}
    broken = row | {"rejected": ctx[:1] + [{"role": "assistant", "content": "x"}, {"role": "assistant", "content": "y"}]}
    out = convert("distilabel_capybara", row, broken, row | {"chosen": "not a list"})
    (pair,) = out.rows
    assert pair["prompt"] == ctx and pair["chosen"] == "cba"
    assert {d["origin"]: d["reason"] for d in out.drop_rows} == {"f:2": "broken_role_order", "f:3": "wrong_type"}


def test_tldr_builds_the_post_prompt_and_follows_the_choice():
    row = {"info": {"id": "t3", "post": "long post", "title": "T", "subreddit": "tifu"}, "summaries": [{"text": " first"}, {"text": " second"}], "choice": 1}
    (pair,) = convert("tldr", row).rows
    assert pair["prompt"][0]["content"] == "SUBREDDIT: r/tifu\nTITLE: T\nPOST: long post\nTL;DR:"
    assert (pair["chosen"], pair["rejected"]) == ("second", "first")


def test_malformed_native_rows_are_reported_with_file_and_line(tmp_path):
    good = {"instruction": "1+1", "chosen_response": "2", "rejected_response": "3", "chosen_rating": 9, "rejected_rating": 4}
    lines = [json.dumps(good), "{broken", json.dumps({k: v for k, v in good.items() if k != "chosen_rating"}), json.dumps(good | {"instruction": 7, "chosen_response": "x"})]
    path = tmp_path / "math.jsonl"
    path.write_text("\n".join(lines) + "\n")
    out = convert_pairs(read_records([path]), "argilla_math", "math")
    assert len(out.rows) == 1
    drops = {d["origin"]: (d["reason"], d["detail"]) for d in out.drop_rows}
    assert drops == {
        f"{path}:2": ("malformed_json", drops[f"{path}:2"][1]),
        f"{path}:3": ("missing_field", "field 'chosen_rating' is missing"),
        f"{path}:4": ("wrong_type", "field 'instruction' should be str, got int"),
    }
    assert all(d["whole_row"] for d in out.drop_rows)


def test_unknown_options_fail_config_validation():
    import yaml

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["datasets"]["helpsteer"]["options"] = {"min_margins": 1}
    schema_errors(config)  # fills the schema's defaults, as validation does before the cross-key checks
    assert any("datasets.helpsteer.options" in e and "min_margins" in e for e in reference_errors(config))


def test_every_pair_format_declares_its_table5_columns():
    for fmt, adapter in PAIR_ADAPTERS.items():
        assert adapter.COMPLETION and adapter.ANNOTATOR, fmt


# ---- Table 5 ----------------------------------------------------------------------------------------------------


def test_mixture_statistics_count_prompts_pairs_and_token_lengths():
    pairs = pl.DataFrame(
        {
            "source": ["a", "a", "b"],
            "prompt_id": ["p1", "p1", "p2"],
            "prompt": [turns(("user", "one two")), turns(("user", "one two")), turns(("user", "x"), ("assistant", "y z"), ("user", "w"))],
            "chosen": ["c c c", "c", "c c"],
            "rejected": ["r", "r r r", "r"],
        }
    )
    datasets = {"a": {"format": "hh_rlhf", "source": "synthetic"}, "b": {"format": "tldr", "source": "hub", "repo": "o/s", "revision": "abc"}}

    def encode(texts):
        return [t.split() for t in texts]

    stats = mixture_statistics("m", pairs, datasets, encode, "tok")
    a, b = stats["sources"]
    assert (a["prompts"], a["pairs"], a["mean_prompt_tokens"], a["mean_chosen_tokens"], a["mean_rejected_tokens"]) == (1, 2, 2.0, 2.0, 2.0)
    assert (b["mean_prompt_tokens"], b["annotator"], b["data"]) == (4.0, "human", "o/s@abc")
    assert stats["total"]["pairs"] == 3 and stats["total"]["prompts"] == 2
    table = render_markdown(stats)
    assert "| a | 1 | 2 | 2.0 | 2.0 | 2.0 |" in table and "| **total** | 2 | 3 |" in table
