"""Shared pieces of the source adapters: message validation, HH transcript parsing, drops, stable ids."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Drop:
    """A row (or one candidate pair within a row) that is not kept, and why. Never silently discarded."""

    reason: str
    detail: str = ""


@dataclass
class Pair:
    prompt: list[dict]
    chosen: str
    rejected: str
    chosen_score: float | None = None
    rejected_score: float | None = None
    meta: dict = field(default_factory=dict)


class RowError(ValueError):
    """Raised inside an adapter to drop the current row with a reason (e.g. missing_field, broken_role_order)."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


def require(data: dict, key: str, kind: type | tuple[type, ...]):
    if key not in data or data[key] is None:
        raise RowError("missing_field", f"field {key!r} is missing")
    value = data[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise RowError("wrong_type", f"field {key!r} should be {names}, got {type(value).__name__}")
    return value


def check_messages(messages: list, what: str, last_role: str | None = None) -> list[dict]:
    """Validate a chat: role/content dicts, non-empty contents, an optional leading system turn, then user and
    assistant alternating from user. Returns clean {role, content} copies (source extras stripped)."""
    if not isinstance(messages, list) or not messages:
        raise RowError("empty_conversation", f"{what} has no turns")
    clean = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise RowError("malformed_turn", f"{what} turn {i} is not a {{role, content}} object of strings")
        if m["role"] not in ROLES:
            raise RowError("unknown_role", f"{what} turn {i} has role {m['role']!r}; expected one of {ROLES}")
        if not m["content"].strip():
            raise RowError("empty_turn", f"{what} turn {i} ({m['role']}) is empty")
        clean.append({"role": m["role"], "content": m["content"]})
    body = clean[1:] if clean[0]["role"] == "system" else clean
    for i, m in enumerate(body):
        expected = "user" if i % 2 == 0 else "assistant"
        if m["role"] != expected:
            raise RowError("broken_role_order", f"{what}: expected {expected} at turn {i}, got {m['role']}")
    if last_role and (not body or body[-1]["role"] != last_role):
        raise RowError("broken_role_order", f"{what} should end with a {last_role} turn")
    return clean


def number(data: dict, key: str) -> float:
    """A numeric field (numeric strings accepted, as in UltraFeedback's and CodeUltraFeedback's ratings)."""
    value = data.get(key)
    if value is None:
        raise RowError("missing_field", f"field {key!r} is missing")
    if isinstance(value, bool):
        raise RowError("wrong_type", f"field {key!r} should be a number, got bool")
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise RowError("wrong_type", f"field {key!r} should be a number, got {value[:40]!r}") from None
    if not isinstance(value, (int, float)):
        raise RowError("wrong_type", f"field {key!r} should be a number, got {type(value).__name__}")
    return float(value)


def parse_messages(value, what: str, role_key: str = "role", content_key: str = "content", roles: dict | None = None) -> list[dict]:
    """A native chat list into {role, content} dicts. Only the *shape* is checked here (a list of objects with string
    role and content): empty turns, unknown roles and role order are cleaning rules (`cleaning.py`), so they are
    counted there with the same reasons for every source. `roles` renames native roles (e.g. human -> user)."""
    if not isinstance(value, list):
        raise RowError("wrong_type", f"{what} should be a list of messages, got {type(value).__name__}")
    out = []
    for i, m in enumerate(value):
        if not isinstance(m, dict) or not isinstance(m.get(role_key), str) or not isinstance(m.get(content_key), str):
            raise RowError("malformed_turn", f"{what} turn {i} is not a {{{role_key}, {content_key}}} object of strings")
        role = m[role_key]
        out.append({"role": (roles or {}).get(role, role), "content": m[content_key]})
    return out


def split_reply(messages: list[dict], what: str) -> tuple[list[dict], str]:
    """A whole conversation into (context, last reply); the last turn must be the assistant's."""
    if not messages:
        raise RowError("empty_conversation", f"{what} has no turns")
    if messages[-1]["role"] != "assistant":
        raise RowError("broken_role_order", f"{what} should end with an assistant turn, ends with {messages[-1]['role']}")
    return messages[:-1], messages[-1]["content"]


def alternates(messages: list[dict]) -> bool:
    """Optional system turn, then user and assistant alternating from user (the order the cleaning rule checks)."""
    body = messages[1:] if messages and messages[0]["role"] == "system" else messages
    return all(m["role"] == ("user" if i % 2 == 0 else "assistant") for i, m in enumerate(body))


def check_same_context(chosen: list[dict], rejected: list[dict], what: str) -> None:
    """Both whole conversations of a pair must share every turn but the last reply; a mismatch caused by a side whose
    turns are out of order is reported as that (the more useful reason)."""
    if chosen[:-1] == rejected[:-1]:
        return
    for side, messages in (("chosen", chosen), ("rejected", rejected)):
        if not alternates(messages):
            raise RowError("broken_role_order", f"{side} {what}: roles {[m['role'] for m in messages]} do not alternate")
    raise RowError("context_mismatch", f"chosen and rejected {what}s differ before the last reply")


def conversation_pair(chosen: list[dict], rejected: list[dict], what: str) -> tuple[list[dict], str, str]:
    """Two whole conversations that differ only in the last (assistant) reply -> (context, chosen reply, rejected reply)."""
    context, chosen_reply = split_reply(chosen, "chosen")
    _, rejected_reply = split_reply(rejected, "rejected")
    check_same_context(chosen, rejected, what)
    return context, chosen_reply, rejected_reply


def user_prompt(text, what: str) -> list[dict]:
    if not isinstance(text, str):
        raise RowError("wrong_type", f"{what} should be a string, got {type(text).__name__}")
    return [{"role": "user", "content": text}]


def scored_pairs(prompt: list[dict], scored: list[tuple[int, str, float, str | None]]):
    """Every pair of a prompt's scored responses (index, text, score, model), the higher score as chosen. Ties are
    yielded too: the cleaning rules drop them as equal_scores, counted with the rest."""
    for (ia, a, sa, ma), (ib, b, sb, mb) in itertools.combinations(scored, 2):
        if sa < sb:
            (ia, a, sa, ma), (ib, b, sb, mb) = (ib, b, sb, mb), (ia, a, sa, ma)
        yield Pair(prompt, a, b, sa, sb, {"chosen_model": ma, "rejected_model": mb, "completions": [ia, ib]})


_HH_SPLIT = re.compile(r"\n\n(Human|Assistant): ?")


def parse_hh_transcript(text: str, what: str) -> list[dict]:
    """'\\n\\nHuman: ...\\n\\nAssistant: ...' into messages. Text before the first marker is an error, not context."""
    if not isinstance(text, str):
        raise RowError("wrong_type", f"{what} should be a transcript string")
    parts = _HH_SPLIT.split(text)
    if parts[0].strip():
        raise RowError("broken_role_order", f"{what} has text before the first Human/Assistant marker")
    messages = []
    for speaker, content in zip(parts[1::2], parts[2::2]):
        messages.append({"role": "user" if speaker == "Human" else "assistant", "content": content.strip()})
    return messages


def pair_id(prompt: list[dict], chosen: str, rejected: str) -> str:
    """Content hash: the same pair gets the same id in every run and from every source (so duplicates are found)."""
    blob = json.dumps([prompt, chosen, rejected], ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


def prompt_id(prompt: list[dict]) -> str:
    blob = json.dumps(prompt, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]
