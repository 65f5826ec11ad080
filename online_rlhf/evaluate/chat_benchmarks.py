"""Chat benchmarks in their native file formats: AlpacaEval-2 (length-controlled win rate against reference outputs),
MT-Bench (two turns, judge score 1-10 per turn, reference-guided for math / reasoning / coding) and Arena-Hard
(pairwise against a baseline model, both orders).

Reading and writing keep each benchmark's own schema, so the files the workflow writes can be fed to the official
tools, and the official files can be read here (docs/benchmarks.md lists each layout with the file it was checked
against):
- AlpacaEval: a JSON array of {instruction, output, generator, dataset} (reference outputs and model outputs alike);
- MT-Bench (FastChat llm_judge): question.jsonl rows {question_id, category, turns: [str, str]}; answers and the
  reference answers (reference_answer/gpt-4.jsonl) {question_id, answer_id, model_id, choices: [{index, turns:
  [str, str]}], tstamp};
- Arena-Hard (arena-hard-auto, questions of v0.1) in two layouts, detected per file:
  "2024" (the code up to commit 3071ef9): questions {question_id, category, cluster, turns: [{content}]}, answers
  {question_id, answer_id, model_id, choices: [{index, turns: [{content, token_len}]}], tstamp, conv_metadata};
  "2025" (from commit 900183d, "reformat v0.1"): questions {uid, category, cluster, prompt}, answers {uid, ans_id,
  model, messages: [{role: user, content: str}, {role: assistant, content: {answer: str}}], tstamp, metadata}.
"""

from __future__ import annotations

import json
import math
import random
import re
import statistics
from pathlib import Path

from online_rlhf.core.records import Malformed, find_files, read_records, write_jsonl

BENCHMARKS = ("alpaca_eval", "mt_bench", "arena_hard")

# ---- Arena-Hard layouts --------------------------------------------------------------------------------------

ARENA_LAYOUTS = ("2024", "2025")
# The keys that tell the layouts apart: a file's first row decides, every other row must agree.
ARENA_QUESTION_KEYS = {"2024": ("question_id", "turns"), "2025": ("uid", "prompt")}
ARENA_ANSWER_KEYS = {"2024": ("question_id", "choices"), "2025": ("uid", "messages")}
# Both layouts hold the same 500 questions of this category. v2.0 (categories hard_prompt, coding, math,
# creative_writing) judges each category against its own baseline, some with another system prompt: not implemented.
ARENA_CATEGORY = "arena-hard-v0.1"

# FastChat fastchat/llm_judge/common.py NEED_REF_CATS: these categories are graded against reference answers.
MT_BENCH_REFERENCE_CATEGORIES = ("math", "reasoning", "coding", "arena-hard-200")


def _records(path: str | Path) -> list:
    """Records of a native file (or folder); a malformed line is an error naming file:line."""
    out = []
    for rec in read_records(find_files(path, "**/*")):
        if isinstance(rec, Malformed):
            raise ValueError(f"{rec.origin}: {rec.error}")  # noqa: TRY004 -- a bad line is bad data, not a wrong type
        out.append(rec)
    if not out:
        raise ValueError(f"{path}: no rows")
    return out


def _rows(path: str | Path, required: tuple[str, ...]) -> list[dict]:
    """Rows of a native file; a row without a required key is an error naming file:line."""
    out = []
    for rec in _records(path):
        missing = [k for k in required if k not in rec.data]
        if missing:
            raise ValueError(f"{rec.origin}: missing key(s) {missing}; expected {list(required)}")
        out.append({**rec.data, "_origin": rec.origin})
    return out


def _layout_rows(path: str | Path, layouts: dict[str, tuple[str, ...]], what: str) -> tuple[str, list[dict]]:
    """(layout, rows) of a file whose rows are in one of `layouts` (name -> keys that identify it): the first row
    decides the file's layout; a row in neither layout, or in another one than the first row, is an error naming
    file:line."""
    def layout_of(row: dict) -> str | None:
        return next((name for name, keys in layouts.items() if all(k in row for k in keys)), None)

    expected = " or ".join(f"{list(keys)} ({name} layout)" for name, keys in layouts.items())
    records = _records(path)
    layout = None
    rows = []
    for rec in records:
        found = layout_of(rec.data)
        if found is None:
            raise ValueError(f"{rec.origin}: {what} row in no known layout: expected keys {expected}; got {sorted(rec.data)[:12]}")
        if layout is None:
            layout = found
        elif found != layout:
            raise ValueError(f"{rec.origin}: {what} row in the {found} layout, but the file's first row is in the {layout} layout")
        rows.append({**rec.data, "_origin": rec.origin})
    return layout, rows


def arena_file_layout(path: str | Path, kind: str) -> str:
    """The layout ("2024" or "2025") of an Arena-Hard questions or answers file (`kind`: questions | answers)."""
    keys = {"questions": ARENA_QUESTION_KEYS, "answers": ARENA_ANSWER_KEYS}[kind]
    return _layout_rows(path, keys, f"Arena-Hard {kind}")[0]


def check_arena_layout(path: str | Path, kind: str, configured: str) -> None:
    """A file in another layout than the configured arena-hard-auto version is a config error, not data to guess."""
    found = arena_file_layout(path, kind)
    if found != configured:
        raise ValueError(
            f"{path}: Arena-Hard {kind} in the {found} layout, but benchmarks.chat.arena_hard.layout is {configured!r}: "
            "set the layout of the arena-hard-auto revision the files come from (docs/benchmarks.md)"
        )


def _arena_question(r: dict, layout: str) -> dict:
    if layout == "2024":
        turns = r["turns"]
        if not (isinstance(turns, list) and turns and all(isinstance(t, dict) and isinstance(t.get("content"), str) for t in turns)):
            raise ValueError(f"{r['_origin']}: Arena-Hard 'turns' must be a list of {{content: str}} objects, got {turns!r:.200}")
        qid, texts = r["question_id"], [t["content"] for t in turns]
    else:
        if not isinstance(r["prompt"], str):
            raise ValueError(f"{r['_origin']}: Arena-Hard 'prompt' must be a string, got {r['prompt']!r:.200}")
        qid, texts = r["uid"], [r["prompt"]]
    category = r.get("category", ARENA_CATEGORY)
    if category != ARENA_CATEGORY:
        raise ValueError(
            f"{r['_origin']}: Arena-Hard category {category!r}: only {ARENA_CATEGORY!r} is implemented (v2.0 judges each "
            "category against its own baseline and prompt)"
        )
    return {"id": str(qid), "native_id": qid, "turns": texts, "category": category, "layout": layout}


def read_questions(benchmark: str, path: str | Path) -> list[dict]:
    """Questions as {id, native_id, turns: [str, ...], category, ...} whatever the native schema (AlpacaEval: with
    the reference output; Arena-Hard: with the file's layout)."""
    if benchmark == "alpaca_eval":
        rows = _rows(path, ("instruction", "output", "generator"))
        return [
            {
                "id": str(i),
                "turns": [r["instruction"]],
                "category": r.get("dataset", "alpaca_eval"),
                "reference": r["output"],
                "reference_generator": r["generator"],
            }
            for i, r in enumerate(rows)
        ]
    if benchmark == "mt_bench":
        rows = _rows(path, ("question_id", "category", "turns"))
        for r in rows:
            if not (isinstance(r["turns"], list) and len(r["turns"]) == 2 and all(isinstance(t, str) for t in r["turns"])):
                raise ValueError(f"{r['_origin']}: MT-Bench 'turns' must be a list of two strings, got {r['turns']!r:.200}")
        return [{"id": str(r["question_id"]), "native_id": r["question_id"], "turns": r["turns"], "category": r["category"]} for r in rows]
    if benchmark == "arena_hard":
        layout, rows = _layout_rows(path, ARENA_QUESTION_KEYS, "Arena-Hard question")
        return [_arena_question(r, layout) for r in rows]
    raise ValueError(f"unknown benchmark {benchmark!r}; expected one of {BENCHMARKS}")


def arena_question_row(uid: str, prompt: str, cluster: str, layout: str) -> dict:
    """An Arena-Hard v0.1 question in the given layout (what arena-hard-auto's question.jsonl holds)."""
    if layout == "2024":
        return {"question_id": uid, "category": ARENA_CATEGORY, "cluster": cluster, "turns": [{"content": prompt}]}
    if layout == "2025":
        return {"uid": uid, "category": ARENA_CATEGORY, "cluster": cluster, "prompt": prompt}
    raise ValueError(f"unknown Arena-Hard layout {layout!r}; expected one of {ARENA_LAYOUTS}")


def arena_files(items: list[tuple[str, str, str]], model_name: str, layout: str) -> tuple[list[dict], list[dict]]:
    """(questions, answers) of single-turn Arena-Hard items (uid, question, answer) in the given layout; token counts
    are the answers' characters (what the made-up world's character-level vocabulary counts)."""
    questions = [arena_question_row(uid, q, "reversal", layout) for uid, q, _ in items]
    native = [{"id": uid, "native_id": uid, "turns": [q]} for uid, q, _ in items]
    return questions, answer_rows("arena_hard", model_name, native, [[a] for *_, a in items], [[len(a)] for *_, a in items], layout)


def _answer_turns(r: dict, layout: str) -> list[str]:
    if layout == "2024":  # FastChat's model_answer layout (MT-Bench, references, Arena-Hard 2024)
        choices = r["choices"]
        if not (isinstance(choices, list) and choices and isinstance(choices[0], dict) and isinstance(choices[0].get("turns"), list)):
            raise ValueError(f"{r['_origin']}: 'choices' must be a list of {{index, turns}} objects, got {choices!r:.200}")
        turns = [t["content"] if isinstance(t, dict) else t for t in choices[0]["turns"]]
    else:
        messages = r["messages"]
        if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m and "content" in m for m in messages):
            raise ValueError(f"{r['_origin']}: 'messages' must be a list of {{role, content}} objects, got {messages!r:.200}")
        turns = []
        for m in messages:
            if m["role"] != "assistant":
                continue
            if not (isinstance(m["content"], dict) and "answer" in m["content"]):
                raise ValueError(f"{r['_origin']}: an assistant message's content must be {{answer: str}} (2025 layout), got {m['content']!r:.200}")
            turns.append(m["content"]["answer"])
    if not turns or not all(isinstance(t, str) for t in turns):
        raise ValueError(f"{r['_origin']}: expected one answer string per turn, got {turns!r:.200}")
    return turns


def read_answers(path: str | Path) -> dict[str, list[str]]:
    """Answer file -> {question_id: [answer per turn]} (the first choice). FastChat's layout (MT-Bench answers and
    reference answers, Arena-Hard 2024) and Arena-Hard's 2025 layout are detected per file."""
    layout, rows = _layout_rows(path, ARENA_ANSWER_KEYS, "answer")
    id_key = ARENA_ANSWER_KEYS[layout][0]
    return {str(r[id_key]): _answer_turns(r, layout) for r in rows}


def markdown_counts(text: str) -> dict:
    """arena-hard-auto's style metadata of an answer (headers, list items, bold spans), counted outside fenced code
    blocks; the fields follow utils/add_markdown_info.py count_markdown_elements, the counting is ours."""
    prose = re.sub(r"```.*?```", "", text, flags=re.DOTALL)

    def count(pattern: str, flags: int = re.MULTILINE) -> int:
        return len(re.findall(pattern, prose, flags))

    return {
        "header_count": {f"h{k}": count(rf"^#{{{k}}}\s") for k in range(1, 7)},
        "list_count": {"ordered": count(r"^\s*\d+\.\s"), "unordered": count(r"^\s*[-*+]\s")},
        "bold_count": {"**": count(r"\*\*[^*\n]+\*\*", 0), "__": count(r"__[^_\n]+__", 0)},
    }


def answer_rows(
    benchmark: str, model_name: str, questions: list[dict], answers: list[list[str]], token_counts: list[list[int]],
    arena_layout: str | None = None,
) -> list:
    """A model's answers in the benchmark's native schema (what the official tools read); Arena-Hard in the layout of
    the configured arena-hard-auto version. Ids and time stamps are deterministic (the originals draw a uuid and the
    clock), so a rerun writes the same bytes; token counts are the policy tokenizer's (the originals count tiktoken's)."""
    if benchmark == "alpaca_eval":
        return [
            {"instruction": q["turns"][0], "output": a[0], "generator": model_name, "dataset": q["category"]}
            for q, a in zip(questions, answers, strict=True)
        ]
    rows = []
    for q, a, n in zip(questions, answers, token_counts, strict=True):
        qid, answer_id = q.get("native_id", q["id"]), f"{model_name}-{q['id']}"
        if benchmark == "mt_bench":
            rows.append({"question_id": qid, "answer_id": answer_id, "model_id": model_name, "choices": [{"index": 0, "turns": a}], "tstamp": 0})
            continue
        if arena_layout not in ARENA_LAYOUTS:
            raise ValueError(f"Arena-Hard answers need a layout, one of {ARENA_LAYOUTS}; got {arena_layout!r}")
        meta = {"token_len": sum(n), **markdown_counts(a[-1])}
        if arena_layout == "2024":
            rows.append({
                "question_id": qid, "answer_id": answer_id, "model_id": model_name,
                "choices": [{"index": 0, "turns": [{"content": t, "token_len": k} for t, k in zip(a, n, strict=True)]}],
                "tstamp": 0, "conv_metadata": meta,
            })
        else:
            messages = []
            for question, answer in zip(q["turns"], a, strict=True):
                messages += [{"role": "user", "content": question}, {"role": "assistant", "content": {"answer": answer}}]
            rows.append({"uid": qid, "ans_id": answer_id, "model": model_name, "messages": messages, "tstamp": 0, "metadata": meta})
    return rows


# ---- AlpacaEval: length-controlled win rate ------------------------------------------------------------------

def length_controlled_win_rate(annotations: list[dict], gamed: pd.DataFrame | None = None, glm: str | None = None) -> dict:  # noqa: F821
    """AlpacaEval-2's win rate and length-controlled (LC) win rate of `generator_2` over `generator_1`.

    `annotations` rows: index (instruction number), output_1 (reference), output_2 (model), generator_1,
    generator_2, preference in [1, 2] (1: reference better, 2: model better, 1.5: tie).

    The GLM and its fit are alpaca_eval 0.6.6's own (`make_dmatrix_for_model`, `fit_LogisticRegressionCV`,
    `GLM_INFO`); only the featurisation is done here, because the library's downloads `df_gamed.csv` from the Hub on
    every call (unreachable from compute nodes). With `gamed` (that file, prefetched on the login node: annotations of
    deliberately verbose/concise baselines and each instruction's difficulty) this is exactly the leaderboard's
    `length_controlled_v1`. Without it, the GLM is `length_controlled_minimal` (length term + model term, fitted on
    this model's annotations only): it still removes the effect of the length difference, but has no instruction
    difficulty and no regularisation toward the gamed baselines, so its value is not comparable to leaderboard numbers.
    """
    import pandas as pd
    from alpaca_eval.metrics.glm_winrate import GLM_INFO, fit_LogisticRegressionCV, make_dmatrix_for_model
    from alpaca_eval.metrics.winrate import get_winrate

    glm = glm or ("length_controlled_v1" if gamed is not None else "length_controlled_minimal")
    if glm not in GLM_INFO:
        raise ValueError(f"unknown AlpacaEval GLM {glm!r}; expected one of {sorted(GLM_INFO)}")
    info = GLM_INFO[glm]
    if "instruction_difficulty" in info["formula"] and gamed is None:
        raise ValueError(f"GLM {glm!r} needs instruction difficulties: pass AlpacaEval's df_gamed.csv (prefetched)")
    df = pd.DataFrame(annotations)
    missing = {"index", "output_1", "output_2", "generator_1", "generator_2", "preference"} - set(df.columns)
    if missing:
        raise ValueError(f"annotations lack column(s) {sorted(missing)}")
    metrics = get_winrate(df)
    if len(set(df["generator_2"])) != 1 or len(set(df["generator_1"])) != 1:
        raise ValueError("annotations must compare one model (generator_2) with one reference (generator_1)")
    # Mirrors alpaca_eval.metrics.glm_winrate._get_featurized_data, with df_gamed passed in instead of downloaded.
    delta = df["output_1"].str.len() - df["output_2"].str.len()
    feats = pd.DataFrame({
        "preference": df["preference"].astype(float).replace({0.0: 1.5}) - 1,
        "index": df["index"],
        "std_delta_len": delta / delta.std() if delta.std() > 0 else delta * 0.0,
        "not_gamed_baseline": True,
    })
    if gamed is not None:
        gamed = gamed.drop(columns=["model"], errors="ignore")
        # Looked up by the instruction's index column (the library uses the row label, which agrees on its file).
        difficulty = gamed.drop_duplicates("index").set_index("index")["instruction_difficulty"]
        unknown = sorted(set(feats["index"]) - set(difficulty.index))
        if unknown:
            raise ValueError(f"df_gamed has no instruction difficulty for instruction index(es) {unknown[:10]}")
        feats["instruction_difficulty"] = feats["index"].map(difficulty)
    test = feats.drop(columns=["preference", "index"]).copy()
    test["std_delta_len"] = 0
    lam = info["regularize_to_baseline_lambda"]
    if lam:
        train = pd.concat([gamed, feats], axis=0)
        xy, x_test = make_dmatrix_for_model(train, test, formula=info["formula"])
        weight = train["not_gamed_baseline"].astype(float) + (lam * (~train["not_gamed_baseline"].astype(bool))).astype(float) / 2
    else:
        xy, x_test = make_dmatrix_for_model(feats, test, formula=info["formula"])
        weight = None
    keep = xy["preference"].notna()
    model = fit_LogisticRegressionCV(xy[keep], "preference", is_ytrue_proba=True, sample_weight=None if weight is None else weight[keep], **info["kwargs"])
    predicted = model.predict_proba(x_test)[:, 1]
    metrics["length_controlled_winrate"] = float(predicted.mean() * 100)
    metrics["lc_standard_error"] = float(pd.Series(predicted).sem() * 100)
    metrics["glm"] = glm
    # get_winrate answers numpy scalars: make them plain numbers for JSON.
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in metrics.items()}


def swap_order(key: str, seed: int) -> bool:
    """Seeded coin per item: whether the reference is shown second (AlpacaEval randomises the output order so a
    judge's position bias cancels out)."""
    return random.Random(f"{seed}:{key}").random() < 0.5


# ---- MT-Bench --------------------------------------------------------------------------------------------

def needs_reference(category: str) -> bool:
    return category in MT_BENCH_REFERENCE_CATEGORIES


def mt_bench_prompt_name(turn: int, reference: bool) -> str:
    """The FastChat judge prompt (data/judge_prompts.jsonl) that grades this turn."""
    return ("single-math-v1" if reference else "single-v1") + ("-multi-turn" if turn == 2 else "")


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else math.nan


def _score_block(rows: list[dict]) -> dict:
    valid = [r for r in rows if r["score"] is not None]
    out = {"score": _mean([r["score"] for r in valid]), "judgments": len(rows), "unparsed": len(rows) - len(valid)}
    for turn in sorted({r["turn"] for r in rows}):
        out[f"turn{turn}"] = _mean([r["score"] for r in valid if r["turn"] == turn])
    return out


def mt_bench_summary(scores: list[dict]) -> dict:
    """FastChat's show_result: the mean judge score over all judged turns, and per turn; here also per category.
    Unparsable judgments (score None; FastChat's -1) are counted and excluded, never scored as anything. Ratings
    outside 1..10 are kept, as FastChat keeps them, and counted."""
    out = _score_block(scores)
    out["out_of_range"] = sum(r["score"] is not None and not 1 <= r["score"] <= 10 for r in scores)
    out["reference_graded"] = sum(bool(r.get("reference_graded")) for r in scores)
    categories = sorted({r["category"] for r in scores})
    out["by_category"] = {c: _score_block([r for r in scores if r["category"] == c]) for c in categories}
    return out


# ---- Arena-Hard --------------------------------------------------------------------------------------------

# Verdict label -> (score of the first-shown answer A, strong). A strong verdict counts STRONG_WEIGHT times.
# 2024 (show_result.py get_battles_from_row): five labels; any other label has weight 0.
# 2025 (show_result.py load_judgments label_to_score): also the reversed forms (B<A means A is better).
_FIVE = {"A>>B": (1.0, True), "A>B": (1.0, False), "A=B": (0.5, False), "B>A": (0.0, False), "B>>A": (0.0, True)}
ARENA_LABELS = {
    "2024": _FIVE,
    "2025": {**_FIVE, "A<<B": (0.0, True), "A<B": (0.0, False), "B=A": (0.5, False), "B<<A": (1.0, True), "B<A": (1.0, False)},
}
STRONG_WEIGHT = 3


def arena_outcomes(games: list[dict], layout: str) -> tuple[list[tuple[str, float, int]], dict]:
    """(question, model's score, weight) per scored game, and what was left out. Each question is judged twice with
    the positions swapped (game 1: the baseline is A; game 2: the model is A); a strong verdict counts 3 times.

    What is left out follows the configured version: 2024 drops a game without a scored label and keeps the other
    game of its question; 2025 drops the whole question when either game has no verdict (load_judgments), and, where
    the original would stop on a label it has no score for, drops the question too (counted)."""
    labels = ARENA_LABELS[layout]
    by_q: dict[str, list[dict]] = {}
    for g in games:
        by_q.setdefault(g["question_id"], []).append(g)
    out, left = [], {"no_verdict": 0, "unscored_label": 0, "questions_dropped": 0}
    for q, gs in by_q.items():
        bad = [g for g in gs if g["verdict"] not in labels]
        left["no_verdict"] += sum(g["verdict"] is None for g in bad)
        left["unscored_label"] += sum(g["verdict"] is not None for g in bad)
        if layout == "2025" and bad:
            left["questions_dropped"] += 1
            continue
        for g in gs:
            if g["verdict"] in labels:
                score, strong = labels[g["verdict"]]
                out.append((q, score if g["model_is_a"] else 1.0 - score, STRONG_WEIGHT if strong else 1))
    return out, left


def arena_summary(games: list[dict], layout: str, bootstrap: int = 200, seed: int = 0) -> dict:
    """Weighted win rate of the model against the baseline (ties half) with a 90% bootstrap interval over questions.

    arena-hard-auto fits a Bradley-Terry model over all models' battles (2024) or averages the weighted scores
    (2025); with one model against one baseline both give this weighted win rate, so no other models are needed.
    """
    outcomes, left = arena_outcomes(games, layout)
    by_q: dict[str, list[tuple[float, int]]] = {}
    for q, s, w in outcomes:
        by_q.setdefault(q, []).append((s, w))

    def rate(qs):
        num = sum(s * w for q in qs for s, w in by_q[q])
        den = sum(w for q in qs for _, w in by_q[q])
        return num / den if den else math.nan

    qs = sorted(by_q)
    point = rate(qs)
    rng = random.Random(seed)
    boots = sorted(rate([rng.choice(qs) for _ in qs]) for _ in range(bootstrap)) if qs else []
    return {
        "win_rate": point * 100 if qs else math.nan,
        "ci90": [boots[int(0.05 * len(boots))] * 100, boots[int(0.95 * len(boots)) - 1] * 100] if boots else None,
        "games": len(games),
        "unparsed": left["no_verdict"] + left["unscored_label"],
        **left,
        "retried": sum(g.get("attempts", 1) > 1 for g in games),
        "questions": len(qs),
        "layout": layout,
    }


# ---- judging: questions + answers -> annotations (one row per judgment, with the judge's raw output) --------

def judge_alpaca(judge, questions: list[dict], answers: dict[str, list[str]], model_name: str, seed: int) -> list[dict]:
    """One AlpacaEval annotation per instruction: the reference as output_1, the model as output_2 (the library's
    convention), shown to the judge in a seeded random order and mapped back."""
    from tqdm.auto import tqdm

    rows = []
    for i, q in enumerate(tqdm(questions, desc="alpaca_eval judge", unit="instruction")):
        ref, out = q["reference"], answers[q["id"]][0]
        swapped = swap_order(q["id"], seed)
        pref, raw = judge.alpaca_preference(q["turns"][0], out, ref) if swapped else judge.alpaca_preference(q["turns"][0], ref, out)
        if pref is not None and swapped:
            pref = 3.0 - pref
        rows.append({
            "index": i, "instruction": q["turns"][0], "output_1": ref, "output_2": out,
            "generator_1": q["reference_generator"], "generator_2": model_name, "preference": pref,
            "swapped": swapped, "judge": judge.name, "raw_judgment": raw,
        })
    return rows


def judge_mt_bench(judge, questions: list[dict], answers: dict[str, list[str]], references: dict[str, list[str]] | None = None) -> list[dict]:
    """Single-answer grading of each turn, as FastChat's gen_judgment --mode single: turn 2 sees the whole
    conversation; questions of the reference categories (math, reasoning, coding) are graded against the reference
    answers (single-math-v1 / single-math-v1-multi-turn), and one without a reference is an error, as in FastChat's
    check_data."""
    from tqdm.auto import tqdm

    references = references or {}
    missing = [q["id"] for q in questions if needs_reference(q["category"]) and q["id"] not in references]
    if missing:
        raise ValueError(
            f"MT-Bench question(s) {missing[:10]} of the reference categories {list(MT_BENCH_REFERENCE_CATEGORIES)} have no "
            "reference answer (FastChat grades them against reference_answer/gpt-4.jsonl: configure `references`)"
        )
    rows = []
    for q in tqdm(questions, desc="mt_bench judge", unit="question"):
        if q["id"] not in answers:
            raise ValueError(f"MT-Bench question {q['id']} has no answer")
        a, ref = answers[q["id"]], references.get(q["id"]) if needs_reference(q["category"]) else None
        if len(a) < len(q["turns"]) or ref is not None and len(ref) < len(q["turns"]):
            raise ValueError(f"MT-Bench question {q['id']}: {len(q['turns'])} turns, {len(a)} answers, {len(ref or [])} reference turns")
        for turn in range(1, len(q["turns"]) + 1):
            score, raw = judge.mt_bench_score(q["turns"][:turn], a[:turn], ref[:turn] if ref else None)
            rows.append({
                "question_id": q["id"], "category": q["category"], "turn": turn, "score": score,
                "out_of_range": score is not None and not 1 <= score <= 10, "reference_graded": ref is not None,
                "judge_prompt": mt_bench_prompt_name(turn, ref is not None), "judge": judge.name, "raw_judgment": raw,
            })
    return rows


def judge_arena(judge, questions: list[dict], answers: dict[str, list[str]], baseline: dict[str, list[str]], layout: str) -> list[dict]:
    """Two games per question, positions swapped (game 1: the baseline is A), as arena-hard-auto does; the verdict
    parser and the retry follow the configured layout's version."""
    from tqdm.auto import tqdm

    rows = []
    for q in tqdm(questions, desc="arena_hard judge", unit="question"):
        if q["id"] not in baseline:
            raise ValueError(f"Arena-Hard question {q['id']} has no baseline answer")
        if q["id"] not in answers:
            raise ValueError(f"Arena-Hard question {q['id']} has no answer")
        mine, base = answers[q["id"]][-1], baseline[q["id"]][-1]
        for game, model_is_a in ((1, False), (2, True)):
            a, b = (mine, base) if model_is_a else (base, mine)
            verdict, raw, attempts = judge.arena_verdict(q["turns"][0], a, b, layout)
            rows.append({"question_id": q["id"], "game": game, "model_is_a": model_is_a, "verdict": verdict,
                         "attempts": attempts, "judge": judge.name, "raw_judgment": raw})
    return rows


def answer_turns(questions: list[dict], generate) -> tuple[list[list[str]], list[list[int]]]:
    """Answer every question turn by turn: turn k's prompt is the conversation so far (the questions' earlier turns
    with the model's own earlier answers). `generate(chats)` returns one (text, token count) per chat, in order.
    Returns the answers and their token counts per question."""
    chats: list[list[dict]] = [[] for _ in questions]
    answers: list[list[str]] = [[] for _ in questions]
    tokens: list[list[int]] = [[] for _ in questions]
    for turn in range(max(len(q["turns"]) for q in questions)):
        todo = [i for i, q in enumerate(questions) if turn < len(q["turns"])]
        for i in todo:
            chats[i].append({"role": "user", "content": questions[i]["turns"][turn]})
        out = generate([chats[i] for i in todo], turn)
        if len(out) != len(todo):
            raise ValueError(f"turn {turn + 1}: {len(out)} answers for {len(todo)} prompts")
        for i, (text, n) in zip(todo, out):
            chats[i].append({"role": "assistant", "content": text})
            answers[i].append(text)
            tokens[i].append(n)
    return answers, tokens


def write_benchmark_answers(jobs: list[dict], model_name: str, generate) -> list[str]:
    """Answer each job's benchmark ({"benchmark", "questions", "output", "layout" for Arena-Hard}) turn by turn with
    `generate(chats, turn, benchmark)` and write the answers in the benchmark's native format (AlpacaEval one JSON
    array, MT-Bench / Arena-Hard JSON lines). Returns a log line per benchmark."""
    lines = []
    for job in jobs:
        benchmark, output = job["benchmark"], job["output"]
        layout = job.get("layout")  # Arena-Hard only
        if benchmark == "arena_hard":
            check_arena_layout(job["questions"], "questions", layout)
        questions = read_questions(benchmark, job["questions"])
        answers, tokens = answer_turns(questions, lambda chats, turn, b=benchmark: generate(chats, turn, b))
        rows = answer_rows(benchmark, model_name, questions, answers, tokens, layout)
        if benchmark == "alpaca_eval":
            Path(output).parent.mkdir(parents=True, exist_ok=True)
            Path(output).write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
        else:
            write_jsonl(rows, output)
        lines.append(f"{benchmark}: {len(questions)} questions, {sum(map(len, answers))} answers by {model_name} -> {output}")
    return lines


# ---- what a result is: judge, GLM (LC) and benchmark version travel with every number ----------------------

def benchmark_version(name: str, spec: dict) -> str:
    """Where a chat benchmark's files come from, as a label: repo@revision (Hub), owner/repo@commit (GitHub raw
    URLs), the local folder, or the made-up world; Arena-Hard adds its layout."""
    source = spec["source"]
    if source == "synthetic":
        label = "made-up world"
    elif source == "hub":
        label = f"{spec['repo']}@{spec['revision']}"
    elif source == "local":
        label = f"local {spec['path']}"
    else:
        found = set()
        for url in spec["urls"].values():
            m = re.match(r"https://raw\.githubusercontent\.com/([^/]+/[^/]+)/([^/]+)/", url)
            found.add(f"{m.group(1)}@{m.group(2)[:12]}" if m else url)
        label = ", ".join(sorted(found))
    return f"{label} ({spec['layout']} layout)" if name == "arena_hard" else label
