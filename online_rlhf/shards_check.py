"""Gather-time checks: a missing shard, a lost prompt or a K mismatch is an error, never an empty or short result.

(The public scripts skip every prompt silently when the number of responses per prompt does not match.)"""

from __future__ import annotations

from collections import Counter


def check_complete(expected_prompt_ids: list[str], rows: list[dict], per_prompt: int, what: str) -> None:
    counts = Counter(r["prompt_id"] for r in rows)
    expected = set(expected_prompt_ids)
    if len(expected) != len(expected_prompt_ids):
        dup = [k for k, v in Counter(expected_prompt_ids).items() if v > 1][:5]
        raise ValueError(f"{what}: the prompt table repeats prompt ids, e.g. {dup}")
    missing = sorted(expected - set(counts))
    extra = sorted(set(counts) - expected)
    wrong = sorted((k, v) for k, v in counts.items() if k in expected and v != per_prompt)
    samples = Counter((r["prompt_id"], r["sample_index"]) for r in rows)
    dup_samples = [k for k, v in samples.items() if v > 1]
    problems = []
    if missing:
        problems.append(f"{len(missing)} prompt(s) have no rows (first: {missing[:3]})")
    if extra:
        problems.append(f"{len(extra)} prompt(s) are not in the prompt table (first: {extra[:3]})")
    if wrong:
        problems.append(f"{len(wrong)} prompt(s) have a number of responses other than K={per_prompt} (first: {wrong[:3]})")
    if dup_samples:
        problems.append(f"{len(dup_samples)} (prompt, sample) pairs appear twice (first: {dup_samples[:3]})")
    if problems:
        raise ValueError(f"{what}: " + "; ".join(problems))
