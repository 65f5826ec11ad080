import math
import random

import pytest

from online_rlhf.online.pairing import build_pairs, penalised, select_pair


def responses(*rewards, texts=None, over=(), truncated=()):
    texts = texts or [f"r{i}" for i in range(len(rewards))]
    return [{"response": t, "reward": r, "sample_index": i, "over_length": i in over, "finish_reason": "length" if i in truncated else "stop"}
            for i, (t, r) in enumerate(zip(texts, rewards))]


def test_a_truncated_response_is_never_chosen_and_is_counted():
    # Sample 1 has the best reward but was cut at max_new_tokens: the best complete reply (3) is chosen instead.
    pairs, drops = build_pairs([("p", [], responses(0.2, 0.9, -1.0, 0.5, truncated=(1,)))], "best_worst", 0.0, 0)
    assert (pairs[0]["chosen_sample"], pairs[0]["rejected_sample"]) == (3, 2)
    assert drops == [{"prompt_id": "p", "sample_index": 1, "reason": "truncated_not_chosen"}]


def test_a_truncated_response_may_still_be_the_rejected_one():
    pairs, drops = build_pairs([("p", [], responses(0.2, 0.9, -1.0, truncated=(2,)))], "best_worst", 0.0, 0)
    assert (pairs[0]["chosen_sample"], pairs[0]["rejected_sample"]) == (1, 2) and drops == []


def test_a_prompt_without_a_complete_response_above_the_worst_is_dropped():
    pairs, drops = build_pairs([("p", [], responses(0.2, 0.9, truncated=(0, 1)))], "best_worst", 0.0, 0)
    assert pairs == [] and {d["reason"] for d in drops} == {"truncated_not_chosen", "no_complete_response"}
    pairs, drops = build_pairs([("q", [], responses(0.2, 0.9, truncated=(1,)))], "best_worst", 0.0, 0)
    assert pairs == [] and drops[-1]["reason"] == "no_complete_response_above_the_worst"


@pytest.mark.parametrize("rule", ["best_random", "random"])
def test_no_rule_chooses_a_truncated_response(rule):
    for seed in range(20):
        pairs, _ = build_pairs([("p", [], responses(0.9, 0.5, 0.3, 0.1, truncated=(0, 2)))], rule, 0.0, seed)
        assert all(p["chosen_sample"] in (1, 3) for p in pairs)


def test_best_worst_picks_max_and_min():
    pairs, drops = build_pairs([("p", [], responses(0.2, 0.9, -1.0, 0.5))], "best_worst", 0.0, 0)
    assert (pairs[0]["chosen_sample"], pairs[0]["rejected_sample"]) == (1, 2)
    assert drops == []


def test_all_equal_rewards_is_a_dropped_tie():
    pairs, drops = build_pairs([("p", [], responses(0.3, 0.3, 0.3))], "best_worst", 0.0, 0)
    assert pairs == [] and drops == [{"prompt_id": "p", "sample_index": None, "reason": "tie"}]


def test_tied_best_breaks_on_lowest_sample_index():
    assert select_pair([(0, 1.0), (1, 2.0), (2, 2.0), (3, 0.0)], "best_worst", random.Random(0)) == (1, 3)


def test_unusable_responses_are_excluded_and_counted():
    rs = responses(math.nan, 0.5, 0.1, math.inf, texts=["a", "", "b", "c"])
    pairs, drops = build_pairs([("p", [], rs)], "best_worst", 0.0, 0)
    assert {d["reason"] for d in drops} == {"non_finite_reward", "empty_response", "fewer_than_two_usable"}
    assert pairs == []


def test_over_length_responses_never_enter_a_pair():
    pairs, drops = build_pairs([("p", [], responses(0.9, 0.5, 0.1, over=(0,)))], "best_worst", 0.0, 0)
    assert (pairs[0]["chosen_sample"], pairs[0]["rejected_sample"]) == (1, 2)
    assert drops == [{"prompt_id": "p", "sample_index": 0, "reason": "over_max_length"}]


def test_responses_the_pairwise_judge_could_not_score_are_dropped_with_their_own_reason():
    rs = responses(math.nan, 0.5, 0.1)
    rs[0]["comparison_over_length"] = True
    pairs, drops = build_pairs([("p", [], rs)], "best_worst", 0.0, 0)
    assert (pairs[0]["chosen_sample"], pairs[0]["rejected_sample"]) == (1, 2)
    assert drops == [{"prompt_id": "p", "sample_index": 0, "reason": "comparison_over_judge_max_length"}]


def test_length_penalty_can_flip_the_choice():
    rs = responses(1.0, 0.99, 0.0, texts=["x" * 100, "short", "bad"])
    no_pen, _ = build_pairs([("p", [], rs)], "best_worst", 0.0, 0)
    pen, _ = build_pairs([("p", [], rs)], "best_worst", 0.001, 0)
    assert no_pen[0]["chosen"][0]["content"] == "x" * 100
    assert pen[0]["chosen"][0]["content"] == "short"
    assert pen[0]["chosen_score"] == pytest.approx(penalised(0.99, "short", 0.001))


def test_best_random_rejects_a_strictly_worse_response():
    for seed in range(20):
        c, r = select_pair([(0, 1.0), (1, 1.0), (2, 0.5), (3, 0.2)], "best_random", random.Random(seed))
        assert c == 0 and r in (2, 3)


def test_random_rule_orders_the_pair_by_reward():
    for seed in range(20):
        rewards = {0: 0.1, 1: 0.7, 2: 0.4}
        c, r = select_pair(list(rewards.items()), "random", random.Random(seed))
        assert rewards[c] > rewards[r]


def test_unknown_rule_is_an_error():
    with pytest.raises(ValueError, match="unknown pair rule"):
        select_pair([(0, 1.0), (1, 0.0)], "worst_best", random.Random(0))


def rewards_table():
    import polars as pl

    from online_rlhf.core.tables import CHAT

    prompt = [{"role": "user", "content": "abcd"}]
    rows = [
        # p1: three responses (sample 1 truncated), best 0.9 (sample 2), worst 0.1 (sample 0)
        ("p1", 0, "xx", 0.1, 2, "stop"), ("p1", 1, "dcb", 0.5, 3, "length"), ("p1", 2, "dcba", 0.9, 4, "stop"),
        # p2: a tie: no pair
        ("p2", 1, "ab", 0.3, 2, "stop"), ("p2", 0, "ba", 0.3, 2, "stop"),
    ]
    return pl.DataFrame(
        [{"prompt_id": p, "prompt": prompt, "sample_index": s, "response": r, "reward": w, "over_length": False,
          "num_tokens": n, "finish_reason": f} for p, s, r, w, n, f in rows],
        schema_overrides={"prompt": CHAT},
    )


def test_prompt_groups_pair_rows_and_pair_stats_describe_one_iteration():
    from online_rlhf.online.pairing import pair_rows, pair_stats, prompt_groups

    table = rewards_table()
    groups = prompt_groups(table)
    assert [(pid, [r["sample_index"] for r in rows]) for pid, _, rows in groups] == [("p1", [0, 1, 2]), ("p2", [0, 1])]
    pairs, drops = build_pairs(groups, "best_worst", 0.0, 0)
    out = pair_rows(pairs, 2, "results/iter2/rewards.parquet")
    assert len(out) == 1 and out[0]["source"] == "iter2" and out[0]["origin"] == "results/iter2/rewards.parquet:p1"
    assert (out[0]["chosen"], out[0]["rejected"], out[0]["chosen_sample"], out[0]["rejected_sample"]) == ("dcba", "xx", 2, 0)
    stats = pair_stats(table, out, drops, 2, "best_worst", 0.0)
    assert (stats["prompts"], stats["responses"], stats["pairs"]) == (2, 5, 1)
    assert sum(stats["dropped"].values()) == len(drops) and stats["dropped"]
    assert stats["mean_reward"] == pytest.approx((0.1 + 0.5 + 0.9 + 0.3 + 0.3) / 5)
    assert stats["mean_top1_reward"] == pytest.approx((0.9 + 0.3) / 2)
    assert (stats["mean_chosen_reward"], stats["mean_rejected_reward"]) == (0.9, 0.1)
    assert (stats["mean_chosen_chars"], stats["mean_rejected_chars"], stats["mean_response_tokens"]) == (4, 2, 2.6)
    assert stats["finish_reasons"] == {"length": 1, "stop": 4}


def test_pair_stats_of_nothing_are_none_not_errors():
    from online_rlhf.online.pairing import pair_stats

    stats = pair_stats(rewards_table().head(0), [], [], 1, "best_worst", 0.0)
    assert stats["pairs"] == 0 and stats["mean_reward"] is None and stats["mean_chosen_chars"] is None
