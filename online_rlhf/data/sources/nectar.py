"""berkeley-nest/Nectar: an HH-style prompt string and 7 answers ranked by GPT-4 (rank 1 best). The offline DPO
baseline pairs the top answer with the bottom one (`best_worst`) or a random lower one (`best_random`)."""

from __future__ import annotations

import random

from online_rlhf.data.sources.common import Drop, Pair, RowError, parse_hh_transcript, require

DEFAULTS = {"pairing": "best_worst", "seed": 0}
COMPLETION, ANNOTATOR = "LLM (39 models)", "GPT-4 (rankings)"


def adapt(data: dict, opts: dict):
    text = require(data, "prompt", str)
    # The prompt ends with an empty '\n\nAssistant:' turn for the answer; drop it, the context is checked in cleaning.
    prompt = parse_hh_transcript(text, "prompt")
    if prompt and prompt[-1]["role"] == "assistant" and not prompt[-1]["content"]:
        prompt = prompt[:-1]
    answers = []
    for i, a in enumerate(require(data, "answers", list)):
        if not isinstance(a, dict) or not isinstance(a.get("answer"), str) or not isinstance(a.get("rank"), (int, float)):
            yield Drop("malformed_answer", f"answer {i} lacks an answer string or a numeric rank")
        elif not a["answer"].strip():
            yield Drop("empty_turn", f"answer {i} is empty")
        else:
            answers.append(a)
    if len(answers) < 2:
        raise RowError("too_few_completions", f"{len(answers)} usable answers, need 2")
    answers.sort(key=lambda a: a["rank"])
    best = answers[0]
    lower = [a for a in answers if a["rank"] > best["rank"]]
    if not lower:
        raise RowError("equal_scores", "every answer has the same rank")
    if opts["pairing"] == "best_worst":
        worst = lower[-1]
    elif opts["pairing"] == "best_random":
        worst = random.Random(f"{opts['seed']}:{text}").choice(lower)
    else:
        raise ValueError(f"nectar pairing must be best_worst or best_random, got {opts['pairing']!r}")
    # Ranks, negated so that a higher score is better, as everywhere else in the canonical schema.
    yield Pair(prompt, best["answer"], worst["answer"], -float(best["rank"]), -float(worst["rank"]), {"chosen_model": best.get("model"), "rejected_model": worst.get("model")})
