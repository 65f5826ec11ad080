"""Synthesise each dataset of the made-up world in the *native schema of the real source it stands for*.

The adapters in `online_rlhf.sources` then read these files exactly as they read the Hub's, so the offline default
run exercises the same conversion code as a paper-scale run.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator

from .world import WorldSpec, behaviour_response, draw_queries, oracle_reward, target_response

HUMAN, ASSISTANT = "\n\nHuman: ", "\n\nAssistant: "

# Which slice of query space each native format draws from (see world.ROLE_SLICES).
DEFAULT_ROLE = {
    "messages": "sft",
    "hh_rlhf": "preference",
    "shp": "preference",
    "ultrafeedback": "preference",
    "nectar": "offline",
    "prompts": "prompts",
}


def _distinct_pair(query: str, rng: random.Random, spec: WorldSpec, accuracy: float) -> tuple[str, str] | None:
    """Two behaviour responses with different oracle rewards, better first; None if 20 draws all tie."""
    for _ in range(20):
        a, b = behaviour_response(query, rng, spec, accuracy), behaviour_response(query, rng, spec, accuracy)
        ra, rb = oracle_reward(query, a), oracle_reward(query, b)
        if ra != rb:
            return (a, b) if ra > rb else (b, a)
    return None


def synth_messages(rng: random.Random, spec: WorldSpec, n: int, role: str, accuracy: float) -> Iterator[dict]:
    """SFT demonstrations as chat `messages` (RLHFlow-SFT-Dataset style); only `accuracy` of them are right."""
    for q in draw_queries(rng, spec, role, n, unique=False):
        yield {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": behaviour_response(q, rng, spec, accuracy)}]}


def synth_hh_rlhf(rng: random.Random, spec: WorldSpec, n: int, role: str, accuracy: float, multi_turn: float = 0.2) -> Iterator[dict]:
    """Anthropic/hh-rlhf rows: `chosen` and `rejected` full transcripts sharing every turn but the last reply.

    A fraction are two-turn dialogues whose first turn is answered correctly, as HH's multi-turn context.
    """
    queries = draw_queries(rng, spec, role, n * 2, unique=False)
    made = 0
    for q, first in zip(queries[::2], queries[1::2]):
        pair = _distinct_pair(q, rng, spec, accuracy)
        if pair is None:
            continue
        prefix = f"{HUMAN}{first}{ASSISTANT}{target_response(first)}" if rng.random() < multi_turn else ""
        yield {"chosen": f"{prefix}{HUMAN}{q}{ASSISTANT}{pair[0]}", "rejected": f"{prefix}{HUMAN}{q}{ASSISTANT}{pair[1]}"}
        made += 1
        if made == n:
            return


def synth_ultrafeedback(rng: random.Random, spec: WorldSpec, n: int, role: str, accuracy: float) -> Iterator[dict]:
    """openbmb/UltraFeedback rows: one instruction, four completions with 1-5 aspect ratings and their mean."""
    models = ["tiny-a", "tiny-b", "tiny-c", "tiny-d"]
    for i, q in enumerate(draw_queries(rng, spec, role, n, unique=False)):
        completions = []
        for m in models:
            resp = behaviour_response(q, rng, spec, accuracy)
            # GPT-4's ratings are a coarse, slightly noisy view of quality: round the oracle onto 1..5.
            base = 1 + 4 * oracle_reward(q, resp)
            ratings = {a: str(min(5, max(1, round(base + rng.gauss(0, 0.3))))) for a in ("helpfulness", "honesty", "instruction_following", "truthfulness")}
            completions.append(
                {
                    "model": m,
                    "response": resp,
                    "annotations": {a: {"Rating": r, "Rationale": ""} for a, r in ratings.items()},
                    "fine-grained_score": sum(int(r) for r in ratings.values()) / 4,
                    "overall_score": round(1 + 9 * oracle_reward(q, resp), 1),
                    "critique": "",
                }
            )
        yield {"source": "synthetic", "instruction": q, "models": models, "completions": completions, "correct_answers": [], "incorrect_answers": []}


def synth_shp(rng: random.Random, spec: WorldSpec, n: int, role: str, accuracy: float) -> Iterator[dict]:
    """stanfordnlp/SHP rows: comment pairs under one post with their upvote scores; label 1 means A is preferred."""
    made = 0
    for post_i, q in enumerate(draw_queries(rng, spec, role, n, unique=True)):
        comments = [behaviour_response(q, rng, spec, accuracy) for _ in range(3)]
        # Upvotes grow with quality but are noisy, as on Reddit: the score-ratio filter is what makes them reliable.
        scores = [max(1, int(math.exp(3 * oracle_reward(q, c) + rng.gauss(0, 0.5)))) for c in comments]
        for (ia, a), (ib, b) in itertools.combinations(enumerate(comments), 2):
            if scores[ia] == scores[ib]:
                continue
            yield {
                "post_id": f"p{post_i}",
                "domain": "reverse_train",
                "upvote_ratio": 0.9,
                "history": q,
                "c_root_id_A": f"p{post_i}c{ia}",
                "c_root_id_B": f"p{post_i}c{ib}",
                "created_at_utc_A": 1_600_000_000 + ia,
                "created_at_utc_B": 1_600_000_000 + ib,
                "score_A": scores[ia],
                "score_B": scores[ib],
                "human_ref_A": a,
                "human_ref_B": b,
                "labels": int(scores[ia] > scores[ib]),
                "seconds_difference": float(ib - ia),
                "score_ratio": max(scores[ia], scores[ib]) / min(scores[ia], scores[ib]),
            }
            made += 1
            if made == n:
                return


def synth_nectar(rng: random.Random, spec: WorldSpec, n: int, role: str, accuracy: float, answers: int = 7) -> Iterator[dict]:
    """berkeley-nest/Nectar rows: an HH-style prompt string and 7 answers ranked 1 (best) .. 7 by the judge."""
    for q in draw_queries(rng, spec, role, n, unique=True):
        resp = [behaviour_response(q, rng, spec, accuracy) for _ in range(answers)]
        order = sorted(range(answers), key=lambda i: (-oracle_reward(q, resp[i]), i))
        ranked = [{"answer": resp[i], "model": f"tiny-{i}", "rank": float(rank + 1)} for rank, i in enumerate(order)]
        yield {"prompt": f"{HUMAN}{q}{ASSISTANT}", "answers": ranked, "turns": 1, "num_responses": answers, "source": ["synthetic"], "good_natured": True}


def synth_prompts(rng: random.Random, spec: WorldSpec, n: int, role: str, accuracy: float) -> Iterator[dict]:
    """RLHFlow/iterative-prompt-v1-iter*-20K rows: a `context_messages` list ending in a user turn."""
    for q in draw_queries(rng, spec, role, n, unique=True):
        yield {"context_messages": [{"role": "user", "content": q}]}


SYNTHESISERS = {
    "messages": synth_messages,
    "hh_rlhf": synth_hh_rlhf,
    "ultrafeedback": synth_ultrafeedback,
    "shp": synth_shp,
    "nectar": synth_nectar,
    "prompts": synth_prompts,
}


def synthesise(fmt: str, spec: WorldSpec, n: int, seed: int, role: str | None = None, accuracy: float | None = None) -> list[dict]:
    if fmt not in SYNTHESISERS:
        raise ValueError(f"no synthetic generator for format {fmt!r}; expected one of {sorted(SYNTHESISERS)}")
    rng = random.Random(seed)
    rows = list(SYNTHESISERS[fmt](rng, spec, n, role or DEFAULT_ROLE[fmt], spec.demo_accuracy if accuracy is None else accuracy))
    return rows
