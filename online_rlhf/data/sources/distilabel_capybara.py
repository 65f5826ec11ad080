"""argilla/distilabel-capybara-dpo-7k-binarized: multi-turn conversations; `chosen` and `rejected` are whole message
lists ([{role, content}]) sharing every turn but the last reply, rated by GPT-4 (`rating_chosen`, `rating_rejected`)."""

from __future__ import annotations

from online_rlhf.data.sources.common import Pair, conversation_pair, number, parse_messages, require

DEFAULTS: dict = {}
COMPLETION, ANNOTATOR = "LLM (multi-turn)", "GPT-4"


def adapt(data: dict, opts: dict):
    chosen = parse_messages(require(data, "chosen", list), "chosen")
    rejected = parse_messages(require(data, "rejected", list), "rejected")
    meta = {"chosen_model": data.get("chosen_model"), "rejected_model": data.get("rejected_model"), "source": data.get("source")}
    yield Pair(*conversation_pair(chosen, rejected, "conversation"), number(data, "rating_chosen"), number(data, "rating_rejected"), meta)
