"""The recipe's output: the best iterate on a validation set, and a plain model folder holding it."""

from __future__ import annotations

import math
import os
import shutil
import statistics
from pathlib import Path


def candidate_models(iterations: int, scope: str, offline_dpo: bool) -> list[str]:
    """Policies that compete: the iterates (the paper), or every trained policy (`all`), in training order."""
    iterates = [f"iter{t}" for t in range(1, iterations + 1)]
    if scope == "iterates":
        return iterates
    if scope == "all":
        return ["sft", *(["offline_dpo"] if offline_dpo else []), *iterates]
    raise ValueError(f"unknown selection.candidates {scope!r}; expected 'iterates' or 'all'")


def rank_candidates(rewards: dict[str, list[float]]) -> dict:
    """Mean validation reward per candidate (with its standard error) and the winner.

    Candidates keep the given (training) order; the highest mean wins and a tie goes to the earlier candidate, the
    cheaper model. A candidate with a non-finite reward or no samples is an error, not a silent loser.
    """
    if not rewards:
        raise ValueError("no candidate to select from")
    table = []
    for name, values in rewards.items():
        if not values:
            raise ValueError(f"candidate {name}: no validation samples")
        bad = sum(not math.isfinite(v) for v in values)
        if bad:
            raise ValueError(f"candidate {name}: {bad} of {len(values)} validation rewards are not finite")
        sem = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else math.nan
        table.append({"model": name, "mean_reward": statistics.fmean(values), "stderr": sem, "samples": len(values)})
    best = max(table, key=lambda row: row["mean_reward"])  # max keeps the first of equal maxima
    runner_up = max((row for row in table if row is not best), key=lambda row: row["mean_reward"], default=None)
    margin = None if runner_up is None else best["mean_reward"] - runner_up["mean_reward"]
    gap_se = None if runner_up is None else math.hypot(best["stderr"], runner_up["stderr"])
    return {
        "best": best["model"],
        "runner_up": None if runner_up is None else runner_up["model"],
        "candidates": table,
        "margin": margin,
        # The lead in standard errors of the difference: below ~2 the pick is hardly better than a coin flip.
        "margin_z": margin / gap_se if gap_se and math.isfinite(gap_se) else None,
    }


def link_model(source: str | Path, target: str | Path) -> int:
    """Make `target` a folder with the files of `source`: hard links (no copy of a 16 GB model on the same
    filesystem, and unlike a symlink it survives a later clean of the source), a copy across filesystems."""
    source, target = Path(source), Path(target)
    if not source.is_dir():
        raise FileNotFoundError(f"model folder {source} does not exist")
    target.mkdir(parents=True, exist_ok=False)
    count = 0
    for path in sorted(source.rglob("*")):
        dest = target / path.relative_to(source)
        if path.is_dir():
            dest.mkdir(exist_ok=True)
            continue
        try:
            os.link(path, dest)
        except OSError:
            shutil.copy2(path, dest)
        count += 1
    return count
