"""The made-up world's benchmark files, each in the native format of the benchmark it stands for, with items that are
instances of the world's task (reverse the letters) so the oracle can judge every answer:

  alpaca_eval/alpaca_eval.json            [{instruction, output, generator, dataset}]: reference outputs to beat
  mt_bench/question.jsonl                 {question_id, category, turns: [q1, q2]}: two reversal requests in a row,
                                          in MT-Bench's eight categories (math, reasoning, coding: reference-graded)
  mt_bench/reference_answer/<ref>.jsonl   the exact answers, in FastChat's reference_answer layout
  arena_hard/<layout>/question.jsonl      the same questions in arena-hard-auto's 2024 and 2025 layouts
  arena_hard/<layout>/model_answer/<baseline>.jsonl  the baseline's answers in that layout
  lm_eval/world_reverse/test.jsonl        {query, target}: generate the reversal, exact match
  lm_eval/world_choice/test.jsonl         {query, choices, label}: pick the reversal among four by likelihood

The reference / baseline answers come from the world's noisy demonstrator (right with `accuracy`), so a good policy
can beat them; its mistakes include longer and shorter answers, so the length-controlled win rate has lengths to
control for. Queries come from the held-out slice of query space, never seen in training.
"""

from __future__ import annotations

import random

from online_rlhf.world.task import WorldSpec, behaviour_response, corrupt, draw_queries, target_response

REFERENCE_GENERATOR = "world_reference"


def alpaca_eval_rows(rng: random.Random, spec: WorldSpec, n: int, accuracy: float) -> list[dict]:
    return [
        {"instruction": q, "output": behaviour_response(q, rng, spec, accuracy), "generator": REFERENCE_GENERATOR, "dataset": "world"}
        for q in draw_queries(rng, spec, "heldout", n, unique=True)
    ]


# FastChat's MT-Bench categories, 10 questions each there; the world cycles through them.
MT_BENCH_CATEGORIES = ("writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities")


def mt_bench_rows(rng: random.Random, spec: WorldSpec, n: int) -> tuple[list[dict], list[dict]]:
    """(questions, reference answers): the references are the exact reversals (the world's synthesised stand-in for
    GPT-4's reference answers), one row per question like FastChat's reference_answer/gpt-4.jsonl."""
    qs = draw_queries(rng, spec, "heldout", 2 * n, unique=True)
    # FastChat numbers MT-Bench questions from 81; the world keeps that convention.
    questions = [
        {"question_id": 81 + i, "category": MT_BENCH_CATEGORIES[i % len(MT_BENCH_CATEGORIES)], "turns": [qs[2 * i], qs[2 * i + 1]]}
        for i in range(n)
    ]
    refs = [
        {"question_id": q["question_id"], "answer_id": f"{REFERENCE_GENERATOR}-{q['question_id']}", "model_id": REFERENCE_GENERATOR,
         "choices": [{"index": 0, "turns": [target_response(t) for t in q["turns"]]}], "tstamp": 0}
        for q in questions
    ]
    return questions, refs


def arena_hard_items(rng: random.Random, spec: WorldSpec, n: int, accuracy: float) -> list[tuple[str, str, str]]:
    """(uid, question, baseline answer) per item; scripts/synthesize_benchmarks.py writes them in both arena-hard-auto
    layouts (the formats live with the benchmarks' readers, evaluate.chat_benchmarks)."""
    items = []
    for q in draw_queries(rng, spec, "heldout", n, unique=True):
        uid = f"{rng.getrandbits(64):016x}"
        items.append((uid, q, behaviour_response(q, rng, spec, accuracy)))
    return items


def lm_eval_rows(rng: random.Random, spec: WorldSpec, n: int) -> tuple[list[dict], list[dict]]:
    """(world_reverse rows, world_choice rows); the three wrong choices are distinct corruptions of the answer."""
    reverse, choice = [], []
    for q in draw_queries(rng, spec, "heldout", n, unique=True):
        right = target_response(q)
        reverse.append({"query": q, "target": right})
        options = [right]
        for _ in range(50):
            if len(options) == 4:
                break
            wrong = corrupt(q, rng.choice(("copy", "substitute", "swap", "rotate")), rng, spec)
            if wrong not in options:
                options.append(wrong)
        if len(options) < 4:
            continue  # a degenerate query (e.g. 'aaaa') has too few distinct wrong answers: counted below
        rng.shuffle(options)
        choice.append({"query": q, "choices": options, "label": options.index(right)})
    return reverse, choice
