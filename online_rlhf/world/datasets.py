"""Synthesise each dataset of the made-up world in the *native schema of the real source it stands for*.

The adapters in `online_rlhf.data.sources` then read these files exactly as they read the Hub's, so the offline default
run exercises the same conversion code as a paper-scale run.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator

from online_rlhf.world.task import (
    ERROR_KINDS,
    WRITERS,
    WorldSpec,
    behaviour_response,
    corrupt,
    draw_queries,
    judged_reward,
    oracle_reward,
    target_response,
    writer_response,
)

HUMAN, ASSISTANT = "\n\nHuman: ", "\n\nAssistant: "

# Which slice of query space each native format draws from (see world.ROLE_SLICES).
DEFAULT_ROLE = {
    "messages": "sft",
    "hh_rlhf": "preference",
    "shp": "preference",
    "ultrafeedback": "preference",
    "nectar": "offline",
    "prompts": "prompts",
    **{f: "preference" for f in ("helpsteer", "pku_saferlhf", "ultrainteract", "codeultrafeedback", "argilla_math", "distilabel_orca", "distilabel_capybara", "tldr")},
}


DEMONSTRATOR = "tiny-demonstrator"


def pool_answers(query: str, rng: random.Random, spec: WorldSpec, accuracy: float, k: int) -> list[tuple[str, str]]:
    """k (model, answer) from k distinct writers of the pool (the demonstrator and the other made-up models), as
    UltraFeedback's completions come from several models; the demonstrator writes with `accuracy`."""
    names = rng.sample([DEMONSTRATOR] + [w.name for w in WRITERS], k)
    by_name = {w.name: w for w in WRITERS}
    return [
        (n, behaviour_response(query, rng, spec, accuracy) if n == DEMONSTRATOR else writer_response(query, by_name[n], rng, spec))
        for n in names
    ]


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
    """openbmb/UltraFeedback rows: one instruction, four completions by four writers of the pool, with 1-5 aspect
    ratings and their mean."""
    for i, q in enumerate(draw_queries(rng, spec, role, n, unique=False)):
        completions = []
        answers = pool_answers(q, rng, spec, accuracy, 4)
        models = [m for m, _ in answers]
        for m, resp in answers:
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
    """berkeley-nest/Nectar rows: an HH-style prompt string and 7 answers by *other* models (world.WRITERS, never the
    SFT data's demonstrator), ranked 1 (best) .. 7 by a strong but imperfect judge (oracle + world.judge_noise), as
    Nectar's answers of 39 models are ranked by GPT-4. `accuracy` is unused: each writer has its own."""
    if answers > len(WRITERS):
        raise ValueError(f"nectar rows need {answers} distinct writers; the world has {len(WRITERS)}")
    for q in draw_queries(rng, spec, role, n, unique=True):
        writers = rng.sample(WRITERS, answers)
        resp = [writer_response(q, w, rng, spec) for w in writers]
        judged = [judged_reward(q, r, rng, spec) for r in resp]
        order = sorted(range(answers), key=lambda i: (-judged[i], i))
        ranked = [{"answer": resp[i], "model": writers[i].name, "rank": float(rank + 1)} for rank, i in enumerate(order)]
        yield {"prompt": f"{HUMAN}{q}{ASSISTANT}", "answers": ranked, "turns": 1, "num_responses": answers, "source": ["synthetic"], "good_natured": True}


def synth_prompts(rng: random.Random, spec: WorldSpec, n: int, role: str, accuracy: float) -> Iterator[dict]:
    """RLHFlow/iterative-prompt-v1-iter*-20K rows: a `context_messages` list ending in a user turn."""
    for q in draw_queries(rng, spec, role, n, unique=True):
        yield {"context_messages": [{"role": "user", "content": q}]}


def _rating(query: str, response: str, rng: random.Random, low: float, high: float, noise: float = 0.3) -> float:
    """A judge's coarse, slightly noisy view of quality: the oracle reward mapped onto [low, high] and rounded."""
    return float(min(high, max(low, round(low + (high - low) * oracle_reward(query, response) + rng.gauss(0, noise)))))


def synth_helpsteer(rng: random.Random, spec: WorldSpec, n: int, role: str, accuracy: float) -> Iterator[dict]:
    """nvidia/HelpSteer rows: one response per row with five 0-4 attribute scores; 1-4 responses share a prompt."""
    made = 0
    for q in draw_queries(rng, spec, role, n, unique=True):
        for _, resp in pool_answers(q, rng, spec, accuracy, rng.randint(1, 4)):
            helpful = _rating(q, resp, rng, 0, 4)
            yield {
                "prompt": q,
                "response": resp,
                "helpfulness": int(helpful),
                "correctness": int(_rating(q, resp, rng, 0, 4)),
                "coherence": 4,
                "complexity": rng.randint(0, 2),
                "verbosity": min(4, len(resp) // 2),
            }
            made += 1
            if made == n:
                return


def synth_pku_saferlhf(rng: random.Random, spec: WorldSpec, n: int, role: str, accuracy: float) -> Iterator[dict]:
    """PKU-SafeRLHF rows: two responses, a helpfulness and a safety label; here 'unsafe' means longer than the query
    (the made-up world's harm: padding), so safety and helpfulness mostly agree but not always."""
    for q in draw_queries(rng, spec, role, n, unique=False):
        r0, r1 = behaviour_response(q, rng, spec, accuracy), behaviour_response(q, rng, spec, accuracy)
        o0, o1 = oracle_reward(q, r0), oracle_reward(q, r1)
        safe = [len(r0) <= len(q), len(r1) <= len(q)]
        better = 0 if (o0, rng.random()) > (o1, rng.random()) else 1
        safer = better if safe[0] == safe[1] else safe.index(True)
        yield {
            "prompt": q,
            "response_0": r0,
            "response_1": r1,
            "prompt_source": "synthetic",
            "is_response_0_safe": safe[0],
            "is_response_1_safe": safe[1],
            "better_response_id": better,
            "safer_response_id": safer,
        }


def synth_ultrainteract(rng: random.Random, spec: WorldSpec, n: int, role: str, accuracy: float, multi_turn: float = 0.2) -> Iterator[dict]:
    """openbmb/UltraInteract_pair rows: a trajectory of {from, value} turns, a correct and an incorrect next action.
    A fraction are second attempts: the trajectory holds a wrong first answer and the environment's feedback."""
    for i, q in enumerate(draw_queries(rng, spec, role, n, unique=False)):
        wrong = corrupt(q, rng.choice(ERROR_KINDS), rng, spec)
        while wrong == target_response(q):
            wrong = corrupt(q, "extend", rng, spec)
        trajectory = [{"from": "user", "value": q}]
        if rng.random() < multi_turn:
            trajectory += [{"from": "assistant", "value": corrupt(q, "copy", rng, spec)}, {"from": "user", "value": f"{q}"}]
        yield {"task": "Reverse", "dataset": "synthetic", "trajectory": trajectory, "chosen": target_response(q), "rejected": wrong, "id": f"u{i}", "parent_id": f"u{i}"}


def synth_codeultrafeedback(rng: random.Random, spec: WorldSpec, n: int, role: str, accuracy: float) -> Iterator[dict]:
    """coseal/CodeUltraFeedback rows: 4 responses by four writers of the pool and a 1-5 rating of each, as strings."""
    for q in draw_queries(rng, spec, role, n, unique=False):
        answers = pool_answers(q, rng, spec, accuracy, 4)
        models = [m for m, _ in answers]
        responses = [{"model": m, "response": r} for m, r in answers]
        annotations = [{"model": r["model"], "rating": str(int(_rating(q, r["response"], rng, 1, 5))), "rationale": ""} for r in responses]
        yield {"instruction": q, "preference": "instruction-following", "models": models, "responses": responses, "annotations": annotations}


def synth_argilla_math(rng: random.Random, spec: WorldSpec, n: int, role: str, accuracy: float) -> Iterator[dict]:
    """argilla/distilabel-math-preference-dpo rows: instruction, chosen/rejected response with GPT-4 ratings (1-10);
    a few labels disagree with the ratings, as in the real set."""
    for q in draw_queries(rng, spec, role, n, unique=False):
        pair = _distinct_pair(q, rng, spec, accuracy)
        if pair is None:
            continue
        chosen, rejected = pair if rng.random() > 0.05 else pair[::-1]
        yield {"metadata": "{}", "instruction": q, "chosen_response": chosen, "chosen_rating": _rating(q, chosen, rng, 1, 10), "rejected_response": rejected, "rejected_rating": _rating(q, rejected, rng, 1, 10)}


def synth_distilabel_orca(rng: random.Random, spec: WorldSpec, n: int, role: str, accuracy: float) -> Iterator[dict]:
    """argilla/distilabel-intel-orca-dpo-pairs rows: system + input, the original chosen/rejected re-rated 1-10 by the
    judge (`rating` per generation, `status` unchanged/swapped/tie, `chosen_score`) and `in_gsm8k_train`."""
    for q in draw_queries(rng, spec, role, n, unique=False):
        original = [behaviour_response(q, rng, spec, min(1.0, accuracy + 0.2)), behaviour_response(q, rng, spec, accuracy)]
        rating = [_rating(q, g, rng, 1, 10) for g in original]
        status = "tie" if rating[0] == rating[1] else "unchanged" if rating[0] > rating[1] else "swapped"
        best = 0 if status != "swapped" else 1
        yield {
            "system": spec.alphabet if rng.random() < 0.5 else "",  # inside the tiny vocabulary, like every text here
            "input": q,
            "chosen": original[best],
            "rejected": original[1 - best],
            "generations": original,
            "order": ["chosen", "rejected"],
            "labelling_model": "oracle",
            "rating": rating,
            "rationale": "",
            "status": status,
            "original_chosen": original[0],
            "original_rejected": original[1],
            "chosen_score": rating[best],
            "in_gsm8k_train": rng.random() < 0.02,
        }


def synth_distilabel_capybara(rng: random.Random, spec: WorldSpec, n: int, role: str, accuracy: float, multi_turn: float = 0.5) -> Iterator[dict]:
    """argilla/distilabel-capybara-dpo-7k-binarized rows: chosen/rejected whole conversations (message lists) that
    differ in the last reply, rated 1-5; about half are multi-turn."""
    queries = draw_queries(rng, spec, role, n * 2, unique=False)
    for q, first in zip(queries[::2], queries[1::2]):
        pair = _distinct_pair(q, rng, spec, accuracy)
        if pair is None:
            continue
        context = [{"role": "user", "content": first}, {"role": "assistant", "content": target_response(first)}] if rng.random() < multi_turn else []
        context = context + [{"role": "user", "content": q}]
        yield {
            "source": "synthetic",
            "conversation": [{"input": m["content"], "output": ""} for m in context if m["role"] == "user"],
            "chosen": context + [{"role": "assistant", "content": pair[0]}],
            "rejected": context + [{"role": "assistant", "content": pair[1]}],
            "rating_chosen": int(_rating(q, pair[0], rng, 1, 5)),
            "rating_rejected": int(_rating(q, pair[1], rng, 1, 5)),
            "chosen_model": "tiny-a",
            "rejected_model": "tiny-b",
        }


def synth_tldr(rng: random.Random, spec: WorldSpec, n: int, role: str, accuracy: float) -> Iterator[dict]:
    """openai/summarize_from_feedback `comparisons` rows: a post (`info`), two summaries and the labeller's choice.
    The made-up world's 'summary' of a post is its reversal, so the same oracle judges it."""
    for i, q in enumerate(draw_queries(rng, spec, role, n, unique=False)):
        pair = _distinct_pair(q, rng, spec, accuracy)
        if pair is None:
            continue
        choice = rng.randint(0, 1)
        summaries = [pair[1], pair[0]] if choice == 1 else [pair[0], pair[1]]
        yield {
            "info": {"id": f"t3_{i}", "post": q, "title": "reverse", "subreddit": "synthetic", "site": None, "article": None},
            "summaries": [{"text": f" {s}", "policy": f"tiny-{k}", "note": None} for k, s in enumerate(summaries)],
            "choice": choice,
            "worker": "oracle",
            "batch": "batch0",
            "split": "train",
            "extra": {"confidence": None},
        }


SYNTHESISERS = {
    "messages": synth_messages,
    "hh_rlhf": synth_hh_rlhf,
    "ultrafeedback": synth_ultrafeedback,
    "shp": synth_shp,
    "nectar": synth_nectar,
    "prompts": synth_prompts,
    "helpsteer": synth_helpsteer,
    "pku_saferlhf": synth_pku_saferlhf,
    "ultrainteract": synth_ultrainteract,
    "codeultrafeedback": synth_codeultrafeedback,
    "argilla_math": synth_argilla_math,
    "distilabel_orca": synth_distilabel_orca,
    "distilabel_capybara": synth_distilabel_capybara,
    "tldr": synth_tldr,
}


def synthesise(fmt: str, spec: WorldSpec, n: int, seed: int, role: str | None = None, accuracy: float | None = None) -> list[dict]:
    if fmt not in SYNTHESISERS:
        raise ValueError(f"no synthetic generator for format {fmt!r}; expected one of {sorted(SYNTHESISERS)}")
    rng = random.Random(seed)
    rows = list(SYNTHESISERS[fmt](rng, spec, n, role or DEFAULT_ROLE[fmt], spec.demo_accuracy if accuracy is None else accuracy))
    return rows
