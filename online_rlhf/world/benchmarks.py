"""The made-up world's benchmark files, each in the native format of the benchmark it stands for, with items that are
instances of the world's task (reverse the letters) so the oracle can judge every answer:

  alpaca_eval/alpaca_eval.json            [{instruction, output, generator, dataset}]: reference outputs to beat
  mt_bench/question.jsonl                 {question_id, category, turns: [q1, q2]}: two reversal requests in a row
  arena_hard/question.jsonl               {question_id, category, cluster, turns: [{content}]}
  arena_hard/model_answer/<baseline>.jsonl  the baseline's answers (arena-hard-auto's model_answer format)
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


def mt_bench_rows(rng: random.Random, spec: WorldSpec, n: int) -> list[dict]:
    qs = draw_queries(rng, spec, "heldout", 2 * n, unique=True)
    # FastChat numbers MT-Bench questions from 81; the world keeps that convention.
    return [{"question_id": 81 + i, "category": "reversal", "turns": [qs[2 * i], qs[2 * i + 1]]} for i in range(n)]


def arena_hard_rows(rng: random.Random, spec: WorldSpec, n: int, accuracy: float) -> tuple[list[dict], list[dict]]:
    questions, answers = [], []
    for q in draw_queries(rng, spec, "heldout", n, unique=True):
        uid = f"{rng.getrandbits(64):016x}"
        questions.append({"question_id": uid, "category": "arena-hard-v0.1", "cluster": "reversal", "turns": [{"content": q}]})
        a = behaviour_response(q, rng, spec, accuracy)
        answers.append({
            "question_id": uid, "answer_id": f"{REFERENCE_GENERATOR}-{uid}", "model_id": REFERENCE_GENERATOR,
            "choices": [{"index": 0, "turns": [{"content": a, "token_len": len(a)}]}], "tstamp": 0,
        })
    return questions, answers


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
