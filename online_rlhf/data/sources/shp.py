"""stanfordnlp/SHP: two comments under one post with upvote scores; label 1 means comment A is preferred. The paper
keeps score ratio > 2 and at most 5 pairs per post (cleaning options `min_score_ratio`, `max_pairs_per_prompt`)."""

from __future__ import annotations

from online_rlhf.data.sources.common import Pair, RowError, number, require, user_prompt

DEFAULTS: dict = {}
CLEANING = {"min_score_ratio": 2.0, "max_pairs_per_prompt": 5}
COMPLETION, ANNOTATOR = "human (Reddit comments)", "human (upvotes)"


def adapt(data: dict, opts: dict):
    history = require(data, "history", str)
    a, b = require(data, "human_ref_A", str), require(data, "human_ref_B", str)
    sa, sb = number(data, "score_A"), number(data, "score_B")
    label = require(data, "labels", int)
    if label not in (0, 1):
        raise RowError("wrong_type", f"labels should be 0 or 1, got {label}")
    # Oriented by the label; the cleaning rules then check it against the row's own scores.
    chosen, rejected, s_c, s_r = (a, b, sa, sb) if label == 1 else (b, a, sb, sa)
    ratio = s_c / s_r if s_r > 0 else float("inf")
    yield Pair(user_prompt(history, "history"), chosen, rejected, s_c, s_r, {"post_id": data.get("post_id"), "score_ratio": ratio})
