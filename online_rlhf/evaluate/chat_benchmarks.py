"""Chat benchmarks in their native file formats: AlpacaEval-2 (length-controlled win rate against reference outputs),
MT-Bench (two turns, judge score 1-10 per turn) and Arena-Hard (pairwise against a baseline model, both orders).

Reading and writing keep each benchmark's own schema, so the files the workflow writes can be fed to the official
tools, and the official question files can be read here:
- AlpacaEval: a JSON array of {instruction, output, generator, dataset} (reference outputs and model outputs alike);
- MT-Bench (FastChat llm_judge): question.jsonl rows {question_id, category, turns: [str, str]}; answers
  {question_id, answer_id, model_id, choices: [{index, turns: [str, str]}], tstamp};
- Arena-Hard (arena-hard-auto v0.1): question.jsonl rows {question_id (uid), category, cluster, turns: [{content}]};
  answers as MT-Bench's, with turns [{content, token_len}].
"""

from __future__ import annotations

import math
import random
import statistics
from pathlib import Path

from online_rlhf.core.records import Malformed, find_files, read_records

BENCHMARKS = ("alpaca_eval", "mt_bench", "arena_hard")


def _rows(path: str | Path, required: tuple[str, ...]) -> list[dict]:
    """Rows of a native file; a malformed line or a row without a required key is an error naming file:line."""
    out = []
    for rec in read_records(find_files(path, "**/*")):
        if isinstance(rec, Malformed):
            raise ValueError(f"{rec.origin}: {rec.error}")  # noqa: TRY004 -- a bad line is bad data, not a wrong type
        missing = [k for k in required if k not in rec.data]
        if missing:
            raise ValueError(f"{rec.origin}: missing key(s) {missing}; expected {list(required)}")
        out.append({**rec.data, "_origin": rec.origin})
    if not out:
        raise ValueError(f"{path}: no rows")
    return out


def read_questions(benchmark: str, path: str | Path) -> list[dict]:
    """Questions as {id, turns: [str, ...], category, reference?} whatever the native schema."""
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
        rows = _rows(path, ("question_id", "turns"))
        for r in rows:
            if not (isinstance(r["turns"], list) and len(r["turns"]) == 2 and all(isinstance(t, str) for t in r["turns"])):
                raise ValueError(f"{r['_origin']}: MT-Bench 'turns' must be a list of two strings, got {r['turns']!r:.200}")
        return [{"id": str(r["question_id"]), "turns": r["turns"], "category": r.get("category", "")} for r in rows]
    if benchmark == "arena_hard":
        rows = _rows(path, ("question_id", "turns"))
        out = []
        for r in rows:
            turns = r["turns"]
            if not (isinstance(turns, list) and turns and all(isinstance(t, dict) and "content" in t for t in turns)):
                raise ValueError(f"{r['_origin']}: Arena-Hard 'turns' must be a list of {{content}} objects, got {turns!r:.200}")
            out.append({"id": str(r["question_id"]), "turns": [t["content"] for t in turns], "category": r.get("category", "")})
        return out
    raise ValueError(f"unknown benchmark {benchmark!r}; expected one of {BENCHMARKS}")


def read_answers(path: str | Path) -> dict[str, list[str]]:
    """MT-Bench / Arena-Hard answer file -> {question_id: [answer per turn]} (the first choice)."""
    out = {}
    for r in _rows(path, ("question_id", "choices")):
        turns = r["choices"][0]["turns"]
        out[str(r["question_id"])] = [t["content"] if isinstance(t, dict) else t for t in turns]
    return out


def answer_rows(benchmark: str, model_name: str, questions: list[dict], answers: list[list[str]], token_counts: list[list[int]]) -> list:
    """A model's answers in the benchmark's native schema (what the official tools read)."""
    if benchmark == "alpaca_eval":
        return [
            {"instruction": q["turns"][0], "output": a[0], "generator": model_name, "dataset": q["category"]}
            for q, a in zip(questions, answers)
        ]
    rows = []
    for q, a, n in zip(questions, answers, token_counts):
        turns = a if benchmark == "mt_bench" else [{"content": t, "token_len": k} for t, k in zip(a, n)]
        rows.append({"question_id": q["id"], "answer_id": f"{model_name}-{q['id']}", "model_id": model_name, "choices": [{"index": 0, "turns": turns}], "tstamp": 0})
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

def mt_bench_summary(scores: list[dict]) -> dict:
    """Mean judge score per turn and overall (FastChat's show_result: mean over all judged turns); unparsable
    judgments (score None) are counted and excluded, never scored as anything."""
    valid = [s for s in scores if s["score"] is not None]
    out = {
        "score": statistics.fmean(s["score"] for s in valid) if valid else math.nan,
        "judgments": len(scores),
        "unparsed": len(scores) - len(valid),
    }
    for turn in sorted({s["turn"] for s in scores}):
        vals = [s["score"] for s in valid if s["turn"] == turn]
        out[f"turn{turn}"] = statistics.fmean(vals) if vals else math.nan
    return out


# ---- Arena-Hard --------------------------------------------------------------------------------------------

# arena-hard-auto's verdict labels, seen from the first-shown answer A; strong verdicts count WEIGHT times.
VERDICTS = {"A>>B": (1.0, True), "A>B": (1.0, False), "A=B": (0.5, False), "B>A": (0.0, False), "B>>A": (0.0, True)}
STRONG_WEIGHT = 3


def arena_outcomes(games: list[dict]) -> list[tuple[str, float, int]]:
    """(question, model's score, weight) per judged game. Each question is judged twice with the positions swapped
    (game 1: baseline is A; game 2: model is A); a strong verdict counts 3 times, as in arena-hard-auto."""
    out = []
    for g in games:
        if g["verdict"] is None:
            continue
        score, strong = VERDICTS[g["verdict"]]
        model_score = score if g["model_is_a"] else 1.0 - score
        out.append((g["question_id"], model_score, STRONG_WEIGHT if strong else 1))
    return out


def arena_summary(games: list[dict], bootstrap: int = 200, seed: int = 0) -> dict:
    """Weighted win rate of the model against the baseline (ties half) with a 90% bootstrap interval over questions.

    arena-hard-auto fits a Bradley-Terry model over all models' battles; with one model against one baseline its
    maximum-likelihood win probability is exactly this weighted win rate, so no other models are needed.
    """
    outcomes = arena_outcomes(games)
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
        "unparsed": len(games) - len(outcomes),
        "questions": len(qs),
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


def judge_mt_bench(judge, questions: list[dict], answers: dict[str, list[str]]) -> list[dict]:
    """Single-answer grading of each turn (turn 2 sees the whole conversation, as FastChat's multi-turn prompt)."""
    from tqdm.auto import tqdm

    rows = []
    for q in tqdm(questions, desc="mt_bench judge", unit="question"):
        a = answers[q["id"]]
        for turn in (1, 2):
            score, raw = judge.mt_bench_score(q["turns"][:turn], a[:turn])
            rows.append({"question_id": q["id"], "category": q["category"], "turn": turn, "score": score, "judge": judge.name, "raw_judgment": raw})
    return rows


def judge_arena(judge, questions: list[dict], answers: dict[str, list[str]], baseline: dict[str, list[str]]) -> list[dict]:
    """Two games per question, positions swapped (game 1: the baseline is A), as arena-hard-auto does."""
    from tqdm.auto import tqdm

    rows = []
    for q in tqdm(questions, desc="arena_hard judge", unit="question"):
        if q["id"] not in baseline:
            raise ValueError(f"Arena-Hard question {q['id']} has no baseline answer")
        mine, base = answers[q["id"]][-1], baseline[q["id"]][-1]
        for game, model_is_a in ((1, False), (2, True)):
            a, b = (mine, base) if model_is_a else (base, mine)
            verdict, raw = judge.arena_verdict(q["turns"][0], a, b)
            rows.append({"question_id": q["id"], "game": game, "model_is_a": model_is_a, "verdict": verdict, "judge": judge.name, "raw_judgment": raw})
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
