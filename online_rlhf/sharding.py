"""Scatter/gather arithmetic: every row lands in exactly one shard, whatever the row and shard counts.

The public scripts split prompts with `int(N / world)` per GPU and silently drop the remainder; here shard k of S takes
rows [floor(k*N/S), floor((k+1)*N/S)), which tiles [0, N) exactly (shards differ in size by at most one row, and are
empty when N < S rather than missing).
"""

from __future__ import annotations


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


def shard_by_prompt(table, n_shards: int, shard: int, key: str = "prompt_id", order: tuple[str, ...] = ("prompt_id", "sample_index")):
    """(rows of shard k of S, its number of prompts): the prompts (first-seen order) tiled by shard_bounds, so all
    responses of a prompt land in the same shard (a pairwise judge's pivot is one of them); rows sorted by `order`."""
    import polars as pl

    keys = table[key].unique(maintain_order=True)
    lo, hi = shard_bounds(len(keys), n_shards, shard)
    part = table.filter(pl.col(key).is_in(keys.slice(lo, hi - lo).implode())).sort(*order, maintain_order=True)
    return part, hi - lo
