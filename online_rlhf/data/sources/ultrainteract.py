"""openbmb/UltraInteract_pair: a reasoning trajectory (`trajectory`: [{from, value}], the context, multi-turn when the
model got environment feedback) with a correct (`chosen`) and an incorrect (`rejected`) next action. Older dumps carry
a plain `instruction` instead of the trajectory."""

from __future__ import annotations

from online_rlhf.data.sources.common import Pair, parse_messages, require, user_prompt

DEFAULTS: dict = {}
COMPLETION, ANNOTATOR = "LLM (policy trajectories)", "correctness (unit tests / answers)"
_ROLES = {"human": "user", "gpt": "assistant", "observation": "user"}


def adapt(data: dict, opts: dict):
    if data.get("trajectory") is not None:
        prompt = parse_messages(data["trajectory"], "trajectory", "from", "value", _ROLES)
    else:
        prompt = user_prompt(require(data, "instruction", str), "instruction")
    chosen, rejected = require(data, "chosen", str), require(data, "rejected", str)
    meta = {k: data.get(k) for k in ("task", "dataset", "id", "parent_id")}
    yield Pair(prompt, chosen, rejected, meta=meta)
