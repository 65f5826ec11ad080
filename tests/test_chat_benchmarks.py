"""Chat benchmarks: native formats (rows written in each real layout from the public files' descriptions), the
length-controlled win rate against alpaca_eval's own implementation, Arena-Hard and MT-Bench aggregation, MT-Bench
reference grading, multi-turn answering, the made-up world's files."""

import json
import math
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


def _write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


# Rows as the public files hold them (arena-hard-auto data/arena-hard-v0.1 at 3071ef9 and at 196f6b8).
Q2024 = {"question_id": "328c149ed45a41c0b9d6f14659e63599", "category": "arena-hard-v0.1", "cluster": "ABC Sequence Puzzles & Groups",
         "turns": [{"content": "Use ABC notation to write a melody in the style of a folk tune."}]}
Q2025 = {"uid": "328c149ed45a41c0b9d6f14659e63599", "category": "arena-hard-v0.1", "cluster": "ABC Sequence Puzzles & Groups",
         "prompt": "Use ABC notation to write a melody in the style of a folk tune."}
A2024 = {"question_id": "328c149ed45a41c0b9d6f14659e63599", "answer_id": "ndKLaFQXbU4eujaZBGjGZJ", "model_id": "gpt-4-0314",
         "choices": [{"index": 0, "turns": [{"content": "X:1\nT:Untitled Folk Tune", "token_len": 9}]}], "tstamp": 1712000000.0}
A2025 = {"uid": "328c149ed45a41c0b9d6f14659e63599", "ans_id": "ndKLaFQXbU4eujaZBGjGZJ", "model": "gpt-4-0314",
         "messages": [{"content": "Use ABC notation to write a melody in the style of a folk tune.", "role": "user"},
                      {"content": {"answer": "X:1\nT:Untitled Folk Tune"}, "role": "assistant"}],
         "tstamp": 1745000000.0, "metadata": {"token_len": 9}}


def test_arena_hard_reads_both_layouts_detected_per_file(tmp_path):
    old = cb.read_questions("arena_hard", _write_jsonl(tmp_path / "2024/question.jsonl", [Q2024]))
    new = cb.read_questions("arena_hard", _write_jsonl(tmp_path / "2025/question.jsonl", [Q2025]))
    assert [q["layout"] for q in old + new] == ["2024", "2025"]
    assert {k: v for k, v in old[0].items() if k != "layout"} == {k: v for k, v in new[0].items() if k != "layout"}
    assert old[0]["turns"] == ["Use ABC notation to write a melody in the style of a folk tune."]
    a_old = cb.read_answers(_write_jsonl(tmp_path / "2024/gpt-4-0314.jsonl", [A2024]))
    a_new = cb.read_answers(_write_jsonl(tmp_path / "2025/gpt-4-0314.jsonl", [A2025]))
    assert a_old == a_new == {Q2024["question_id"]: ["X:1\nT:Untitled Folk Tune"]}
    assert cb.arena_file_layout(tmp_path / "2025/gpt-4-0314.jsonl", "answers") == "2025"


def test_arena_hard_layout_errors_name_file_and_line(tmp_path):
    mixed = _write_jsonl(tmp_path / "mixed.jsonl", [Q2024, Q2025])
    with pytest.raises(ValueError, match=r"mixed.jsonl:2: Arena-Hard question row in the 2025 layout, but the file's first row is in the 2024 layout"):
        cb.read_questions("arena_hard", mixed)
    neither = _write_jsonl(tmp_path / "neither.jsonl", [Q2025, {"id": "x", "text": "hi"}])
    with pytest.raises(ValueError, match=r"neither.jsonl:2: .*no known layout: expected keys \['question_id', 'turns'\] \(2024 layout\) or \['uid', 'prompt'\]"):
        cb.read_questions("arena_hard", neither)
    bad_answer = _write_jsonl(tmp_path / "bad.jsonl", [{**A2025, "messages": [{"role": "assistant", "content": "plain"}]}])
    with pytest.raises(ValueError, match=r"bad.jsonl:1: an assistant message's content must be \{answer: str\}"):
        cb.read_answers(bad_answer)
    v2 = _write_jsonl(tmp_path / "v2.jsonl", [{"uid": "2edbb5f36f5b42be", "category": "hard_prompt", "subcategory": "coding", "prompt": "zig"}])
    with pytest.raises(ValueError, match=r"v2.jsonl:1: Arena-Hard category 'hard_prompt': only 'arena-hard-v0.1'"):
        cb.read_questions("arena_hard", v2)
    with pytest.raises(ValueError, match=r"in the 2025 layout, but benchmarks.chat.arena_hard.layout is '2024'"):
        cb.check_arena_layout(_write_jsonl(tmp_path / "q.jsonl", [Q2025]), "questions", "2024")


@pytest.mark.parametrize("layout", ["2024", "2025"])
def test_answers_are_written_in_the_configured_layout_as_the_original_reads_them(layout, tmp_path):
    questions = cb.read_questions("arena_hard", _write_jsonl(tmp_path / "q.jsonl", [Q2024 if layout == "2024" else Q2025]))
    rows = cb.answer_rows("arena_hard", "iter1", questions, [["## Tune\n- **bold** line\n```\n# code\n```"]], [[12]], layout)
    row = rows[0]
    if layout == "2025":  # gen_judgment.py: answer["messages"][-1]["content"]["answer"], keyed by uid; metadata for style control
        assert row["messages"][-1]["content"]["answer"].startswith("## Tune") and row["uid"] == Q2025["uid"] and row["model"] == "iter1"
        meta = row["metadata"]
    else:  # 2024 gen_judgment.py: answer["choices"][0]["turns"][i]["content"], keyed by question_id; conv_metadata
        assert row["choices"][0]["turns"][0]["content"].startswith("## Tune") and row["model_id"] == "iter1"
        meta = row["conv_metadata"]
    assert meta["token_len"] == 12 and meta["header_count"]["h2"] == 1 and meta["header_count"]["h1"] == 0  # code block not counted
    assert meta["list_count"]["unordered"] == 1 and meta["bold_count"]["**"] == 1
    path = _write_jsonl(tmp_path / "answers.jsonl", rows)
    assert cb.arena_file_layout(path, "answers") == layout
    assert cb.read_answers(path) == {Q2024["question_id"]: ["## Tune\n- **bold** line\n```\n# code\n```"]}
    with pytest.raises(ValueError, match="need a layout"):
        cb.answer_rows("arena_hard", "iter1", questions, [["a"]], [[1]])


def test_arena_summary_weights_strong_verdicts_and_drops_per_version():
    games = [
        {"question_id": "q1", "model_is_a": False, "verdict": "B>>A"},  # model strongly better: 3 x 1.0
        {"question_id": "q1", "model_is_a": True, "verdict": "A>B"},  # model better: 1 x 1.0
        {"question_id": "q2", "model_is_a": False, "verdict": "A=B"},  # tie: 1 x 0.5
        {"question_id": "q2", "model_is_a": True, "verdict": None, "attempts": 2},  # no verdict after the retry
    ]
    old = cb.arena_summary(games, "2024", bootstrap=50)  # 2024: the game goes, its question's other game stays
    assert old["win_rate"] == pytest.approx(100 * (3 + 1 + 0.5) / 5)
    assert old["unparsed"] == 1 and old["no_verdict"] == 1 and old["games"] == 4 and old["questions"] == 2 and old["retried"] == 1
    assert old["ci90"][0] <= old["win_rate"] <= old["ci90"][1]
    new = cb.arena_summary(games, "2025", bootstrap=50)  # 2025 load_judgments: a question with a null game goes whole
    assert new["win_rate"] == pytest.approx(100.0) and new["questions"] == 1 and new["questions_dropped"] == 1


def test_mt_bench_summary_per_turn_per_category_and_counts():
    scores = [
        {"turn": 1, "category": "math", "score": 8.0, "reference_graded": True},
        {"turn": 2, "category": "math", "score": 6.0, "reference_graded": True},
        {"turn": 1, "category": "writing", "score": None},
        {"turn": 2, "category": "writing", "score": 11.0},  # out of range: kept (FastChat keeps it) and counted
    ]
    out = cb.mt_bench_summary(scores)
    assert out["score"] == pytest.approx(25 / 3) and out["turn1"] == 8.0 and out["turn2"] == 8.5
    assert out["unparsed"] == 1 and out["out_of_range"] == 1 and out["reference_graded"] == 2
    assert out["by_category"]["math"] == {"score": 7.0, "judgments": 2, "unparsed": 0, "turn1": 8.0, "turn2": 6.0}
    assert out["by_category"]["writing"]["turn2"] == 11.0 and math.isnan(out["by_category"]["writing"]["turn1"])


class RecordingJudge:
    name = "recording"

    def __init__(self):
        self.calls = []

    def mt_bench_score(self, questions, answers, references=None):
        self.calls.append((list(questions), list(answers), references))
        return 5.0, "Rating: [[5]]"


def test_mt_bench_grades_the_reference_categories_against_fastchats_reference_answers(tmp_path):
    # Rows as fastchat/llm_judge/data/mt_bench has them: question.jsonl and reference_answer/gpt-4.jsonl.
    q = _write_jsonl(tmp_path / "question.jsonl", [
        {"question_id": 81, "category": "writing", "turns": ["Compose a travel blog post.", "Rewrite it."]},
        {"question_id": 111, "category": "math", "turns": ["Area of the triangle?", "Area of the circle?"],
         "reference": ["Area is 3", "5pi"]},
    ])
    refs = _write_jsonl(tmp_path / "reference_answer/gpt-4.jsonl", [
        {"question_id": 111, "answer_id": "Ef9Dqy", "model_id": "gpt-4", "choices": [{"index": 0, "turns": ["3", "5 pi"]}], "tstamp": 1686286924.8},
    ])
    questions = cb.read_questions("mt_bench", q)
    assert [x["native_id"] for x in questions] == [81, 111]
    answers = {"81": ["post", "rewrite"], "111": ["2", "pi"]}
    judge = RecordingJudge()
    rows = cb.judge_mt_bench(judge, questions, answers, cb.read_answers(refs))
    assert [c[2] for c in judge.calls] == [None, None, ["3"], ["3", "5 pi"]]  # the file's references, not question.jsonl's
    assert [r["judge_prompt"] for r in rows] == ["single-v1", "single-v1-multi-turn", "single-math-v1", "single-math-v1-multi-turn"]
    assert cb.mt_bench_summary(rows)["by_category"].keys() == {"math", "writing"}
    with pytest.raises(ValueError, match=r"question\(s\) \['111'\] of the reference categories .* have no reference answer"):
        cb.judge_mt_bench(judge, questions, answers)
    out = cb.answer_rows("mt_bench", "sft", questions, [answers["81"], answers["111"]], [[1, 1], [1, 1]])
    assert out[1]["question_id"] == 111 and out[1]["choices"][0]["turns"] == ["2", "pi"]  # FastChat keys by the int id


def test_native_question_files_and_errors(tmp_path):
    mt = tmp_path / "question.jsonl"
    mt.write_text(json.dumps({"question_id": 81, "category": "writing", "turns": ["a", "b"]}) + "\n"
                  + json.dumps({"question_id": 82, "category": "writing", "turns": ["only one"]}) + "\n")
    with pytest.raises(ValueError, match=r"question.jsonl:2: MT-Bench 'turns' must be a list of two strings"):
        cb.read_questions("mt_bench", mt)
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


def test_benchmark_version_labels():
    url = {"source": "url", "layout": "2024", "urls": {"q": "https://raw.githubusercontent.com/lmarena/arena-hard-auto/3071ef95d913bb5cd632641db336a3b6c7fe4bdd/data/x"}}
    assert cb.benchmark_version("arena_hard", url) == "lmarena/arena-hard-auto@3071ef95d913 (2024 layout)"
    assert cb.benchmark_version("alpaca_eval", {"source": "hub", "repo": "tatsu-lab/alpaca_eval", "revision": "main"}) == "tatsu-lab/alpaca_eval@main"
    assert cb.benchmark_version("mt_bench", {"source": "synthetic"}) == "made-up world"


def test_made_up_world_files_are_in_the_real_layouts(tmp_path):
    from online_rlhf.world.benchmarks import REFERENCE_GENERATOR, arena_hard_items, mt_bench_rows
    from online_rlhf.world.task import WorldSpec

    questions, refs = mt_bench_rows(random.Random(0), WorldSpec(), 8)
    assert {q["category"] for q in questions} == {"writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities"}
    loaded = cb.read_answers(_write_jsonl(tmp_path / "ref.jsonl", refs))
    assert all(loaded[str(q["question_id"])] == [t[::-1] for t in q["turns"]] for q in questions)  # the exact answers
    items = arena_hard_items(random.Random(0), WorldSpec(), 5, 0.6)
    read = {}
    for layout in cb.ARENA_LAYOUTS:
        qs, answers = cb.arena_files(items, REFERENCE_GENERATOR, layout)
        read[layout] = (cb.read_questions("arena_hard", _write_jsonl(tmp_path / layout / "q.jsonl", qs)),
                        cb.read_answers(_write_jsonl(tmp_path / layout / "a.jsonl", answers)))
        assert {q["layout"] for q in read[layout][0]} == {layout}
    assert [q["turns"] for q in read["2024"][0]] == [q["turns"] for q in read["2025"][0]] and read["2024"][1] == read["2025"][1]


def test_oracle_judged_benchmarks_end_to_end(tmp_path):
    """World items through judging: the right answer beats the reference, position swaps are undone."""
    judge = OracleJudge()
    qs = [{"id": str(i), "turns": [q], "category": "world", "reference": q, "reference_generator": "ref"} for i, q in enumerate(["abcd", "hgfe", "bbca"])]
    answers = {q["id"]: [q["turns"][0][::-1]] for q in qs}  # exact reversals; the references are copies (wrong)
    rows = cb.judge_alpaca(judge, qs, answers, "model", seed=3)
    assert [r["preference"] for r in rows] == [2.0, 2.0, 2.0] and {r["swapped"] for r in rows} <= {True, False}
    mt = cb.judge_mt_bench(judge, [{"id": "81", "turns": ["abcd", "efgh"], "category": "math"}], {"81": ["dcba", "x"]}, {"81": ["dcba", "hgfe"]})
    assert [r["score"] for r in mt] == [10.0, 1.0] and all(r["reference_graded"] for r in mt)
    for layout in cb.ARENA_LAYOUTS:
        path = _write_jsonl(tmp_path / f"answers-{layout}.jsonl", cb.answer_rows("arena_hard", "m", qs, [answers[q["id"]] for q in qs], [[4]] * 3, layout))
        games = cb.judge_arena(judge, qs, cb.read_answers(path), {q["id"]: [q["turns"][0]] for q in qs}, layout)
        assert cb.arena_summary(games, layout)["win_rate"] == 100.0
