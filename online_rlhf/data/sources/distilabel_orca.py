"""argilla/distilabel-intel-orca-dpo-pairs: Intel's Orca DPO pairs re-rated by GPT-4 (`rating`: the two responses'
scores, `status`: unchanged / swapped / tie, `chosen_score`). Argilla's recommended filter is applied while parsing
and each part is an option: ties dropped, `min_chosen_score` (8), rows whose question is in GSM8K's train set
(`drop_gsm8k_train`)."""

from __future__ import annotations

from online_rlhf.data.sources.common import Pair, RowError, number, require

DEFAULTS = {"min_chosen_score": 8.0, "drop_gsm8k_train": True}
COMPLETION, ANNOTATOR = "LLM (GPT-4 vs Llama-2-13B)", "GPT-4"


def adapt(data: dict, opts: dict):
    system, question = data.get("system") or "", require(data, "input", str)
    if not isinstance(system, str):
        raise RowError("wrong_type", f"field 'system' should be a string, got {type(system).__name__}")
    prompt = ([{"role": "system", "content": system}] if system.strip() else []) + [{"role": "user", "content": question}]
    chosen, rejected = require(data, "chosen", str), require(data, "rejected", str)
    status = data.get("status")
    if status == "tie":
        raise RowError("equal_scores", "GPT-4 rated both responses the same (status: tie)")
    if opts["drop_gsm8k_train"] and data.get("in_gsm8k_train"):
        raise RowError("in_gsm8k_train", "the question is in GSM8K's train set")
    s_c = number(data, "chosen_score")
    if opts["min_chosen_score"] is not None and s_c < opts["min_chosen_score"]:
        raise RowError("low_chosen_score", f"chosen_score {s_c} < {opts['min_chosen_score']}")
    rating = data.get("rating")
    s_r = None
    if isinstance(rating, list) and len(rating) == 2 and all(isinstance(x, (int, float)) for x in rating):
        s_r = float(min(rating))
    yield Pair(prompt, chosen, rejected, s_c, s_r, {"status": status})
