"""Anthropic/hh-rlhf: `chosen` and `rejected` are full transcripts that share every turn but the last reply."""

from __future__ import annotations

from online_rlhf.data.sources.common import Pair, conversation_pair, parse_hh_transcript, require

DEFAULTS: dict = {}
COMPLETION, ANNOTATOR = "LLM (Anthropic, 52B)", "human"


def adapt(data: dict, opts: dict):
    chosen = parse_hh_transcript(require(data, "chosen", str), "chosen")
    rejected = parse_hh_transcript(require(data, "rejected", str), "rejected")
    # Human labels, no scores: nothing to check a label against.
    yield Pair(*conversation_pair(chosen, rejected, "transcript"))
