"""Chat benchmarks: native formats, the length-controlled win rate against alpaca_eval's own implementation,
Arena-Hard and MT-Bench aggregation, multi-turn answering."""

import json
import random

import pandas as pd
import pytest

from online_rlhf.evaluate import chat_benchmarks as cb
from online_rlhf.evaluate.chat_judges import OracleJudge


def _annotations(n=120, seed=0, length_bias=0.0):
    """Made-up AlpacaEval annotations: the model's win probability grows with how much longer its output is."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        l1, l2 = rng.randint(50, 400), rng.randint(50, 400)
        p_win = min(0.95, max(0.05, 0.4 + length_bias * (l2 - l1) / 350))
        pref = 2.0 if rng.random() < p_win else 1.0 if rng.random() < 0.9 else 1.5
        rows.append({"index": i, "output_1": "a" * l1, "output_2": "b" * l2, "generator_1": "ref", "generator_2": "m",
                     "preference": pref, "annotator": "test"})
    return rows


def _gamed(n=120, seed=1):
    """A made-up df_gamed.csv: two gamed baselines (verbose, concise) per instruction, with instruction difficulty."""
    rng = random.Random(seed)
    difficulty = [rng.gauss(0, 1) for _ in range(n)]
    rows = []
    # One baseline's rows first, in instruction order, as in the real file (the library looks difficulty up by row).
    for model, sign in (("verbose", 1), ("concise", -1)):
        for i in range(n):
            rows.append({"model": model, "index": i, "instruction_difficulty": difficulty[i], "not_gamed_baseline": False,
                         "std_delta_len": sign * abs(rng.gauss(1, 0.3)), "preference": float(rng.random() < (0.7 if sign > 0 else 0.3))})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("glm", ["length_controlled_v1", "length_controlled_noreg", "length_controlled_minimal"])
def test_lc_win_rate_equals_alpaca_evals_own(glm, tmp_path, monkeypatch):
    """Our featurisation + alpaca_eval's GLM fit give exactly what the library's get_length_controlled_winrate gives
    when its df_gamed.csv download is served from a local file."""
    from alpaca_eval.metrics import glm_winrate

    gamed = _gamed()
    gamed.to_csv(tmp_path / "df_gamed.csv", index=False)
    monkeypatch.setattr(glm_winrate, "hf_hub_download", lambda **kw: str(tmp_path / kw["filename"]))
    ann = _annotations(length_bias=0.5)
    theirs = glm_winrate.get_length_controlled_winrate(pd.DataFrame(ann), glm_name=glm, save_weights_dir=None, is_warn_extreme_changes=False)
    ours = cb.length_controlled_win_rate(ann, gamed=gamed, glm=glm)
    assert ours["length_controlled_winrate"] == pytest.approx(theirs["length_controlled_winrate"], abs=1e-9)
    assert ours["win_rate"] == pytest.approx(theirs["win_rate"])


def test_lc_without_gamed_data_uses_the_minimal_glm_and_discounts_length():
    ann = _annotations(n=300, length_bias=1.0)
    out = cb.length_controlled_win_rate(ann)
    assert out["glm"] == "length_controlled_minimal"
    # wins come from being longer: at equal length the model would win less often than it does
    assert out["length_controlled_winrate"] < out["win_rate"]
    with pytest.raises(ValueError, match="needs instruction difficulties"):
        cb.length_controlled_win_rate(ann, glm="length_controlled_v1")


def test_arena_summary_weights_strong_verdicts_three_times():
    games = [
        {"question_id": "q1", "model_is_a": False, "verdict": "B>>A"},  # model strongly better: 3 x 1.0
        {"question_id": "q1", "model_is_a": True, "verdict": "A>B"},  # model better: 1 x 1.0
        {"question_id": "q2", "model_is_a": False, "verdict": "A=B"},  # tie: 1 x 0.5
        {"question_id": "q2", "model_is_a": True, "verdict": None},  # unparsed: counted, not scored
    ]
    out = cb.arena_summary(games, bootstrap=50)
    assert out["win_rate"] == pytest.approx(100 * (3 + 1 + 0.5) / 5)
    assert out["unparsed"] == 1 and out["games"] == 4 and out["questions"] == 2
    assert out["ci90"][0] <= out["win_rate"] <= out["ci90"][1]


def test_mt_bench_summary_counts_unparsed_judgments():
    scores = [{"turn": 1, "score": 8.0}, {"turn": 2, "score": 6.0}, {"turn": 1, "score": None}, {"turn": 2, "score": 4.0}]
    out = cb.mt_bench_summary(scores)
    assert out["score"] == pytest.approx(6.0) and out["turn1"] == 8.0 and out["turn2"] == 5.0 and out["unparsed"] == 1


def test_native_question_files_and_errors(tmp_path):
    mt = tmp_path / "question.jsonl"
    mt.write_text(json.dumps({"question_id": 81, "category": "writing", "turns": ["a", "b"]}) + "\n" + json.dumps({"question_id": 82, "turns": ["only one"]}) + "\n")
    with pytest.raises(ValueError, match=r"question.jsonl:2: MT-Bench 'turns' must be a list of two strings"):
        cb.read_questions("mt_bench", mt)
    arena = tmp_path / "arena.jsonl"
    arena.write_text(json.dumps({"question_id": "x1", "turns": [{"content": "hi"}]}) + "\n")
    assert cb.read_questions("arena_hard", arena) == [{"id": "x1", "turns": ["hi"], "category": ""}]
    alpaca = tmp_path / "alpaca.json"
    alpaca.write_text(json.dumps([{"instruction": "i", "output": "o"}]))
    with pytest.raises(ValueError, match=r"alpaca.json:1: missing key\(s\) \['generator'\]"):
        cb.read_questions("alpaca_eval", alpaca)


def test_turn_two_sees_the_models_own_first_answer():
    questions = [{"id": "1", "turns": ["abc", "de"]}, {"id": "2", "turns": ["fg"]}]
    seen = []

    def generate(chats, turn):
        seen.append(chats)
        return [(f"ans{turn}-{len(c)}", 3) for c in chats]

    answers, tokens = cb.answer_turns(questions, generate)
    assert answers == [["ans0-1", "ans1-3"], ["ans0-1"]] and tokens == [[3, 3], [3]]
    assert seen[1][0][1] == {"role": "assistant", "content": "ans0-1"} and len(seen[1]) == 1
    rows = cb.answer_rows("mt_bench", "sft", [questions[0]], [answers[0]], [tokens[0]])
    assert rows[0]["choices"][0]["turns"] == ["ans0-1", "ans1-3"] and rows[0]["model_id"] == "sft"


def test_oracle_judged_benchmarks_end_to_end(tmp_path):
    """World items through judging: the right answer beats the reference, position swaps are undone."""
    judge = OracleJudge()
    qs = [{"id": str(i), "turns": [q], "category": "world", "reference": q, "reference_generator": "ref"} for i, q in enumerate(["abcd", "hgfe", "bbca"])]
    answers = {q["id"]: [q["turns"][0][::-1]] for q in qs}  # exact reversals; the references are copies (wrong)
    rows = cb.judge_alpaca(judge, qs, answers, "model", seed=3)
    assert [r["preference"] for r in rows] == [2.0, 2.0, 2.0] and {r["swapped"] for r in rows} <= {True, False}
    mt = cb.judge_mt_bench(judge, [{"id": "81", "turns": ["abcd", "efgh"], "category": "r"}], {"81": ["dcba", "x"]})
    assert [r["score"] for r in mt] == [10.0, 1.0]
    path = tmp_path / "answers.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in cb.answer_rows("arena_hard", "m", qs, [answers[q["id"]] for q in qs], [[4]] * 3)) + "\n")
    games = cb.judge_arena(judge, qs, cb.read_answers(path), {q["id"]: [q["turns"][0]] for q in qs})
    assert cb.arena_summary(games)["win_rate"] == 100.0
