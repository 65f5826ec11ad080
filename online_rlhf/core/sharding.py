"""Scatter/gather arithmetic: every row lands in exactly one shard, whatever the row and shard counts.

The public scripts split prompts with `int(N / world)` per GPU and silently drop the remainder; here shard k of S takes
rows [floor(k*N/S), floor((k+1)*N/S)), which tiles [0, N) exactly (shards differ in size by at most one row, and are
empty when N < S rather than missing).

Gather-time checks: a missing shard, a lost prompt or a K mismatch is an error, never an empty or short result.
(The public scripts skip every prompt silently when the number of responses per prompt does not match.)"""

from __future__ import annotations

from collections import Counter


def shard_bounds(n_rows: int, n_shards: int, shard: int) -> tuple[int, int]:
    if n_shards < 1:
        raise ValueError(f"number of shards must be >= 1, got {n_shards}")
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard index {shard} outside [0, {n_shards})")
    if n_rows < 0:
        raise ValueError(f"row count must be >= 0, got {n_rows}")
    return shard * n_rows // n_shards, (shard + 1) * n_rows // n_shards


def shard_names(n_shards: int) -> list[str]:
    """Zero-padded names so shard files sort in shard order."""
    width = max(3, len(str(n_shards - 1)))
    return [str(k).zfill(width) for k in range(n_shards)]


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
