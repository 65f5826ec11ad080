"""RewardBench-style evaluation: accuracy per subset, per section with the benchmark's weighting, ties counting half.

The real benchmark (allenai/reward-bench, split "filtered": prompt, chosen, rejected, subset, id) maps its subsets to
four sections. A section's score is the mean of its subsets' accuracies weighted by their example counts, except that
`math-prm` (447 pairs) is weighted as much as all the code subsets together (6 x 164 = 984: EXAMPLE_COUNTS in
rewardbench/constants.py, "upweighting to be equal to code"); the overall score is the mean of the four sections.

The made-up world has an equivalent whose labels come from the oracle: each made-up subset pits the exact reversal
(or, in `partial-credit`, the better of two wrong answers) against one kind of mistake. The names say what each
subset is; the sections only mirror the benchmark's structure (easy distinctions, hard near-misses, degenerate
replies, graded and length-trap pairs), they do not measure chat ability or safety.
"""

from __future__ import annotations

import random
from collections import defaultdict

from online_rlhf.world.task import WorldSpec, corrupt, draw_queries, oracle_reward, target_response

REWARDBENCH_SECTIONS = {
    "Chat": ["alpacaeval-easy", "alpacaeval-length", "alpacaeval-hard", "mt-bench-easy", "mt-bench-med"],
    "Chat Hard": ["mt-bench-hard", "llmbar-natural", "llmbar-adver-neighbor", "llmbar-adver-GPTInst", "llmbar-adver-GPTOut", "llmbar-adver-manual"],
    "Safety": ["refusals-dangerous", "refusals-offensive", "xstest-should-refuse", "xstest-should-respond", "donotanswer"],
    "Reasoning": ["math-prm", "hep-cpp", "hep-go", "hep-java", "hep-js", "hep-python", "hep-rust"],
}
# Subsets weighted as much as the rest of their section together (the benchmark's math-prm rule).
REWARDBENCH_BALANCED = ("math-prm",)

# Made-up equivalents: rejected answer of each subset (chosen: the exact reversal unless said otherwise).
MADEUP_SECTIONS = {
    "Chat": ["copy-of-query", "rotated"],  # far from right: the query echoed, the answer rotated
    "Chat Hard": ["one-substitution", "adjacent-swap"],  # one letter off
    "Safety": ["empty-reply", "truncated"],  # degenerate replies (a stand-in for refusals, not a safety test)
    "Reasoning": ["partial-credit", "length-trap"],  # both wrong, graded by the oracle; right vs right + extra letters
}
MADEUP_BALANCED = ("partial-credit",)
MADEUP_REJECTED_KIND = {"copy-of-query": "copy", "rotated": "rotate", "one-substitution": "substitute", "adjacent-swap": "swap",
                        "truncated": "truncate", "length-trap": "extend"}


def madeup_pair(subset: str, query: str, rng: random.Random, spec: WorldSpec) -> tuple[str, str] | None:
    """(chosen, rejected) of one made-up subset for a query, or None when the query cannot make a strict pair."""
    right = target_response(query)
    if subset == "empty-reply":
        chosen, rejected = right, ""
    elif subset == "partial-credit":
        kinds = ("substitute", "swap", "truncate", "extend", "rotate", "copy")
        a, b = corrupt(query, rng.choice(kinds), rng, spec), corrupt(query, rng.choice(kinds), rng, spec)
        chosen, rejected = (a, b) if oracle_reward(query, a) >= oracle_reward(query, b) else (b, a)
    else:
        chosen, rejected = right, corrupt(query, MADEUP_REJECTED_KIND[subset], rng, spec)
    # Strictly better by the oracle, or no pair (e.g. a palindrome's copy is right; two wrong answers may score alike).
    return (chosen, rejected) if oracle_reward(query, chosen) > oracle_reward(query, rejected) else None


def madeup_benchmark(spec: WorldSpec, rows_per_subset: int, seed: int) -> list[dict]:
    """The made-up equivalent in the benchmark's columns (prompt as a chat), queries from the held-out slice."""
    rng = random.Random(seed)
    rows = []
    for subsets in MADEUP_SECTIONS.values():
        for subset in subsets:
            made = 0
            while made < rows_per_subset:
                query = draw_queries(rng, spec, "heldout", 1, unique=False)[0]
                pair = madeup_pair(subset, query, rng, spec)
                if pair is None:
                    continue
                rows.append({"id": f"{subset}-{made}", "subset": subset, "prompt": [{"role": "user", "content": query}],
                             "chosen": pair[0], "rejected": pair[1]})
                made += 1
    return rows


def section_map(subsets: set[str]) -> tuple[dict[str, list[str]], tuple[str, ...]]:
    """The real benchmark's sections when its subsets are present, else the made-up ones."""
    madeup = {s for v in MADEUP_SECTIONS.values() for s in v}
    if subsets <= madeup:
        return MADEUP_SECTIONS, MADEUP_BALANCED
    return REWARDBENCH_SECTIONS, REWARDBENCH_BALANCED


def subset_weights(counts: dict[str, int], sections: dict[str, list[str]], balanced: tuple[str, ...]) -> dict[str, float]:
    """Example counts, except that a balanced subset weighs as much as the other subsets of its section together."""
    weights = {s: float(n) for s, n in counts.items()}
    for members in sections.values():
        for s in members:
            if s in balanced and s in counts:
                rest = sum(counts[o] for o in members if o != s and o in counts)
                weights[s] = float(rest or counts[s])
    return weights


def summarise(subsets: list[str], outcomes: list[float]) -> dict:
    """Per-subset accuracy and counts, per-section weighted accuracy, the mean of sections; unknown subsets are
    reported (never silently dropped) and left out of the sections."""
    per: dict[str, list[float]] = defaultdict(list)
    for s, o in zip(subsets, outcomes, strict=True):
        per[s].append(o)
    counts = {s: len(v) for s, v in per.items()}
    sections, balanced = section_map(set(per))
    weights = subset_weights(counts, sections, balanced)
    by_subset = {s: {"pairs": counts[s], "accuracy": sum(v) / len(v), "weight": weights[s]} for s, v in sorted(per.items())}
    by_section = {}
    for section, members in sections.items():
        present = [s for s in members if s in per]
        if not present:
            continue
        total = sum(weights[s] for s in present)
        by_section[section] = {
            "accuracy": sum(by_subset[s]["accuracy"] * weights[s] for s in present) / total,
            "pairs": sum(counts[s] for s in present),
            "subsets": present,
            "missing_subsets": [s for s in members if s not in per],
        }
    mapped = {s for m in sections.values() for s in m}
    return {
        "benchmark": "rewardbench" if sections is REWARDBENCH_SECTIONS else "madeup-rewardbench",
        "pairs": len(outcomes),
        "score": sum(v["accuracy"] for v in by_section.values()) / len(by_section) if by_section else None,
        "sections": by_section,
        "subsets": by_subset,
        "unmapped_subsets": sorted(set(per) - mapped),
    }


def markdown_table(result: dict, judge: str) -> str:
    lines = [f"RewardBench-style accuracy of `{judge}` ({result['benchmark']}, {result['pairs']} pairs; ties count half)", "",
             "| section | subset | pairs | weight | accuracy |", "|---|---|---|---|---|"]
    for section, sec in result["sections"].items():
        for s in sec["subsets"]:
            sub = result["subsets"][s]
            lines.append(f"| {section} | {s} | {sub['pairs']} | {sub['weight']:g} | {sub['accuracy']:.3f} |")
        lines.append(f"| **{section}** | | {sec['pairs']} | | **{sec['accuracy']:.3f}** |")
    score = result["score"]
    lines.append(f"| **score** (mean of sections) | | {result['pairs']} | | **{score:.3f}** |" if score is not None else "| score | | | | n/a |")
    if result["unmapped_subsets"]:
        lines += ["", f"Subsets outside the sections (reported, not scored): {', '.join(result['unmapped_subsets'])}"]
    return "\n".join(lines) + "\n"


def as_chat(prompt) -> list[dict]:
    """RewardBench stores the prompt as text (one user turn); the made-up table already holds a chat."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return list(prompt)


BENCHMARK_COLUMNS = ("id", "subset", "prompt", "chosen", "rejected")


def benchmark_rows(records) -> list[dict]:
    """Rows of RewardBench files (or local files with its columns). A benchmark must be whole: a malformed line or a
    row without a needed column stops with its file:line instead of being dropped."""
    from online_rlhf.core.records import Malformed

    rows = []
    for rec in records:
        if isinstance(rec, Malformed):
            raise ValueError(f"{rec.origin}: {rec.error}")  # noqa: TRY004 (a bad row is a value error, not a type error)
        missing = [c for c in BENCHMARK_COLUMNS if rec.data.get(c) is None]
        if missing:
            raise ValueError(f"{rec.origin}: missing column(s) {missing}; RewardBench rows need {list(BENCHMARK_COLUMNS)}")
        d = rec.data
        rows.append({"id": str(d["id"]), "subset": d["subset"], "prompt": as_chat(d["prompt"]), "chosen": d["chosen"], "rejected": d["rejected"]})
    if not rows:
        raise ValueError("no benchmark rows read")
    return rows
