"""stanfordnlp/SHP: two comments under one post with upvote scores; keep score ratio > 2, at most 5 pairs per post
(the paper's filter; the per-post cap is applied in `cap_per_prompt` after all rows are read)."""

from __future__ import annotations

from .common import Pair, RowError, require

DEFAULTS = {"min_score_ratio": 2.0, "max_pairs_per_prompt": 5}


def adapt(data: dict, opts: dict):
    history = require(data, "history", str)
    a, b = require(data, "human_ref_A", str), require(data, "human_ref_B", str)
    sa, sb = float(require(data, "score_A", (int, float))), float(require(data, "score_B", (int, float)))
    label = require(data, "labels", int)
    if not history.strip() or not a.strip() or not b.strip():
        raise RowError("empty_turn", "post or a comment is empty")
    if label not in (0, 1):
        raise RowError("wrong_type", f"labels should be 0 or 1, got {label}")
    if sa == sb or (label == 1) != (sa > sb):
        raise RowError("label_contradicts_scores", f"labels={label} but score_A={sa}, score_B={sb}")
    hi, lo = max(sa, sb), min(sa, sb)
    ratio = hi / lo if lo > 0 else float("inf")
    if ratio <= opts["min_score_ratio"]:
        raise RowError("small_score_ratio", f"score ratio {ratio:.3g} <= {opts['min_score_ratio']}")
    chosen, rejected = (a, b) if label == 1 else (b, a)
    yield Pair([{"role": "user", "content": history}], chosen, rejected, hi, lo, {"post_id": data.get("post_id"), "score_ratio": ratio})
