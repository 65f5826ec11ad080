"""Batches of rows for a forward pass: similar lengths together, so a padded batch wastes little."""

from __future__ import annotations


def make_batches(lengths: list[int], batch_size: int, by_length: bool = True) -> list[list[int]]:
    """Index batches: of similar lengths (sorted, ties by position) so a batch pads little, or in the given order."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i)) if by_length else list(range(len(lengths)))
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def padding_share(lengths: list[int], batches: list[list[int]]) -> float:
    """Pad tokens over all tokens a batched forward pass processes (each batch padded to its longest row)."""
    total = sum(max(lengths[i] for i in b) * len(b) for b in batches if b)
    return 1.0 - sum(lengths) / total if total else 0.0
