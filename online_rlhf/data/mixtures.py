"""Preference mixtures (mix1, mix2, user-defined): concatenate sources with optional per-source weights and caps,
in one seeded order."""

from __future__ import annotations

import random

import polars as pl


def mixture_sources(spec: dict) -> dict[str, dict]:
    """`sources` may be a list of names or a mapping name -> {weight, cap}; normalise to the mapping."""
    sources = spec["sources"]
    return {name: {} for name in sources} if isinstance(sources, list) else {k: dict(v or {}) for k, v in sources.items()}


def _take(n: int, opts: dict, rng: random.Random) -> list[int] | None:
    """Row indices a source contributes: `weight` w repeats the table floor(w) times plus a seeded sample of the
    fraction left (w = 0.5: a seeded half; w = 2: every pair twice); then `cap` is a seeded sample of at most cap
    rows. None means every row once (no random draw, so adding a weight elsewhere never reshuffles this source)."""
    weight, cap = opts.get("weight", 1.0), opts.get("cap")
    index = None
    if weight != 1.0:
        target = round(weight * n)
        index = list(range(n)) * (target // n if n else 0) + (sorted(rng.sample(range(n), target % n)) if n else [])
    size = n if index is None else len(index)
    if cap and cap < size:
        picked = rng.sample(range(size), cap)
        index = picked if index is None else [index[i] for i in picked]
    return index


def build_mixture(tables: dict[str, pl.DataFrame], spec: dict) -> tuple[pl.DataFrame, dict]:
    """Pairs of every source (weighted / capped where asked), then shuffled with the mixture's seed.

    Returns (table, stats) where stats counts, per source, pairs available, taken and left out by the cap.
    """
    rng = random.Random(spec.get("seed", 0))
    parts, stats = [], {}
    for name, opts in mixture_sources(spec).items():
        available = tables[name]
        index = _take(available.height, opts, rng)
        taken = available if index is None else available[index]
        parts.append(taken)
        weighted = round(opts.get("weight", 1.0) * available.height)
        stats[name] = {
            "available": available.height,
            "weight": opts.get("weight", 1.0),
            "taken": taken.height,
            "left_out_by_cap": max(0, weighted - taken.height),
        }
    # Order independent of source order (stable sort by id), then a seeded shuffle.
    table = pl.concat(parts).sort("id", maintain_order=True)
    order = list(range(table.height))
    rng.shuffle(order)
    return table[order], stats


def select_iteration_prompts(pool: list[dict], iteration: int, per_iteration: int, seed: int, validation: int = 0) -> list[dict]:
    """Prompts of iteration t from one seeded permutation of the pool: the first `validation` prompts are the
    validation set (iteration 0, used to pick the best iterate), then slice t of `per_iteration` prompts each. So
    iterations never share a prompt with each other or with validation (the paper's 60K pool, 20K per iteration),
    and adding iterations never changes the earlier ones."""
    if iteration < 0:
        raise ValueError(f"iteration must be >= 0 (0 = the validation set), got {iteration}")
    if iteration == 0:
        lo, hi = 0, validation
    else:
        lo, hi = validation + (iteration - 1) * per_iteration, validation + iteration * per_iteration
    if len(pool) < hi:
        raise ValueError(
            f"prompt pool has {len(pool)} prompts but {validation} validation prompts + iterations 1..{max(iteration, 0)} x "
            f"{per_iteration} prompts need {hi}: lower online.prompts_per_iteration or selection.validation_prompts, "
            "or enlarge the pool"
        )
    order = sorted(pool, key=lambda r: r["prompt_id"])
    random.Random(seed).shuffle(order)
    return order[lo:hi]
