"""argilla/distilabel-math-preference-dpo: a math instruction, a chosen and a rejected response, each rated by GPT-4;
the ratings are checked against the label by the cleaning rules."""

from __future__ import annotations

from online_rlhf.data.sources.common import Pair, number, require, user_prompt

DEFAULTS: dict = {}
COMPLETION, ANNOTATOR = "LLM (GPT-3.5)", "GPT-4"


def adapt(data: dict, opts: dict):
    prompt = user_prompt(require(data, "instruction", str), "instruction")
    chosen, rejected = require(data, "chosen_response", str), require(data, "rejected_response", str)
    yield Pair(prompt, chosen, rejected, number(data, "chosen_rating"), number(data, "rejected_rating"), {"metadata": data.get("metadata")})
