"""Anthropic/hh-rlhf: `chosen` and `rejected` are full transcripts that share every turn but the last reply."""

from __future__ import annotations

from .common import Pair, RowError, check_messages, parse_hh_transcript, require

DEFAULTS: dict = {}


def adapt(data: dict, opts: dict):
    chosen = check_messages(parse_hh_transcript(require(data, "chosen", str), "chosen"), "chosen", last_role="assistant")
    rejected = check_messages(parse_hh_transcript(require(data, "rejected", str), "rejected"), "rejected", last_role="assistant")
    if chosen[:-1] != rejected[:-1]:
        raise RowError("context_mismatch", "chosen and rejected transcripts differ before the last reply")
    if chosen[-1]["content"] == rejected[-1]["content"]:
        raise RowError("identical_responses", "chosen and rejected replies are the same")
    # Human labels, no scores: nothing to check a label against.
    yield Pair(prompt=chosen[:-1], chosen=chosen[-1]["content"], rejected=rejected[-1]["content"])
