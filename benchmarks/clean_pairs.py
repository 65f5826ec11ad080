"""Benchmark: the cleaning rules on >= 1M synthetic candidate pairs, polars (online_rlhf/data/sources/cleaning.py) against a
straightforward per-row Python loop over the same rules, in the same run.

Each path runs in its own subprocess (so peak memory is its own): read the candidate parquet file, apply every rule,
hold kept pairs and drops (with reason, detail and the raw candidate as JSON) in memory. Both must keep the same pairs
and drop the same ones for the same reasons; the script fails otherwise. Prints pairs/s, peak RSS and the ratio, and
writes benchmarks/results/clean_pairs.json.

    python benchmarks/clean_pairs.py                 # 1,000,000 pairs
    python benchmarks/clean_pairs.py --pairs 200000  # quicker
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Every rule on, with thresholds that make each of them fire on the synthetic data.
OPTIONS = {"min_margin": 0.25, "min_score_ratio": 1.05, "max_chars": 600, "max_pairs_per_prompt": 5}
ROLES = ("system", "user", "assistant")


# ---- the baseline: the same rules, one row at a time ---------------------------------------------------------


def _strength(c, r) -> float:
    if c is None or r is None:
        return 0.0
    return c / r if r > 0 else math.inf


def _first_failure(row: dict, o: dict) -> tuple[str, str] | None:
    prompt, chosen, rejected = row["prompt"], row["chosen"] or "", row["rejected"] or ""
    c, r = row["chosen_score"], row["rejected_score"]
    both = c is not None and r is not None
    roles = [m["role"] for m in prompt]
    if any(role not in ROLES for role in roles):
        return "unknown_role", f"roles {','.join(map(str, roles))}"
    if o["drop_empty_turns"]:
        blank = [i for i, m in enumerate(prompt) if not (m["content"] or "").strip()]
        if blank or not chosen.strip() or not rejected.strip():
            return "empty_turn", f"context turn(s) {blank} empty; chosen {not chosen.strip()}; rejected {not rejected.strip()}"
    if o["check_role_order"]:
        body = roles[1:] if roles and roles[0] == "system" else roles
        if not (len(body) % 2 == 1 and all(role == ("user" if i % 2 == 0 else "assistant") for i, role in enumerate(body))):
            return "broken_role_order", f"context roles {roles}"
    if o["drop_identical"] and chosen == rejected:
        return "identical_responses", "chosen and rejected are the same text"
    if o["check_labels"] and both and c < r:
        return "label_contradicts_scores", f"chosen scored {c} < rejected {r}"
    if o["check_labels"] and both and c == r:
        return "equal_scores", f"both scored {c}"
    if o["min_margin"] and both and abs(c - r) < o["min_margin"]:
        return "small_margin", f"|{c} - {r}| < {o['min_margin']}"
    if o["min_score_ratio"] is not None and both and _strength(c, r) <= o["min_score_ratio"]:
        return "small_score_ratio", f"score ratio {_strength(c, r):.3g} <= {o['min_score_ratio']}"
    if o["max_chars"] is not None:
        length = sum(len(m["content"] or "") for m in prompt) + max(len(chosen), len(rejected))
        if length > o["max_chars"]:
            return "over_length", f"{length} characters > {o['max_chars']}"
    return None


def baseline_clean(rows: list[dict], options: dict | None = None) -> tuple[list[dict], list[dict]]:
    """The cleaning rules as a plain loop over rows (what one would write with `datasets.map`/`filter`)."""
    from online_rlhf.data.sources.cleaning import cleaning_options

    o = cleaning_options(options)
    drops: list[dict] = []
    survivors: list[tuple[int, dict]] = []
    seen: set[str] = set()

    def drop(i, row, reason, detail):
        raw = json.dumps({k: row[k] for k in ("prompt", "chosen", "rejected", "chosen_score", "rejected_score", "meta")}, ensure_ascii=False)
        drops.append({"_row": i, "source": row["source"], "origin": row["origin"], "reason": reason, "detail": detail, "whole_row": False, "raw": raw})

    for i, row in enumerate(rows):
        failure = _first_failure(row, o)
        if failure:
            drop(i, row, *failure)
        elif o["drop_duplicates"] and row["id"] in seen:
            drop(i, row, "duplicate", f"same prompt, chosen and rejected as pair {row['id']}")
        else:
            seen.add(row["id"])
            survivors.append((i, row))
    if o["max_pairs_per_prompt"]:
        by_prompt: dict[str, list[tuple[int, dict]]] = {}
        for i, row in survivors:
            by_prompt.setdefault(row["prompt_id"], []).append((i, row))
        keep: set[int] = set()
        for group in by_prompt.values():
            group.sort(key=lambda x: (-_strength(x[1]["chosen_score"], x[1]["rejected_score"]), x[1]["id"]))
            keep.update(i for i, _ in group[: o["max_pairs_per_prompt"]])
        for i, row in survivors:
            if i not in keep:
                drop(i, row, "per_prompt_cap", f"more than {o['max_pairs_per_prompt']} pairs for this prompt")
        survivors = [(i, row) for i, row in survivors if i in keep]
    drops.sort(key=lambda d: d["_row"])
    return [row for _, row in survivors], drops


# ---- synthetic candidates with every kind of defect -------------------------------------------------------------


def synthetic_candidates(n: int, seed: int = 0):
    """n candidate pairs in the canonical schema, with known shares of every defect the rules look for."""
    import numpy as np
    import polars as pl

    from online_rlhf.data.sources.cleaning import CANDIDATE_SCHEMA

    rng = np.random.default_rng(seed)
    n_prompts = max(1, n // 3)
    p = rng.integers(0, n_prompts, n)
    kind = rng.choice(6, n, p=[0.80, 0.10, 0.03, 0.03, 0.02, 0.02])  # plain, multi-turn, system, broken, empty, bad role
    words = np.array(["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"])
    c_len, r_len = rng.integers(1, 40, n), rng.integers(1, 40, n)
    long = rng.random(n) < 0.01
    c_len[long] = 150
    chosen_words, rejected_words = rng.integers(0, len(words), n), rng.integers(0, len(words), n)
    identical = rng.random(n) < 0.03
    rejected_words[identical] = chosen_words[identical]
    r_len[identical] = c_len[identical]
    c_score = rng.integers(10, 101, n) / 10  # ratings 1.0-10.0 in steps of 0.1: ties, small margins and ratios occur
    r_score = rng.integers(10, 101, n) / 10
    no_score = rng.random(n) < 0.2
    df = pl.DataFrame(
        {
            "p": p,
            "kind": kind,
            "chosen": words[chosen_words],
            "rejected": words[rejected_words],
            "c_len": c_len,
            "r_len": r_len,
            "chosen_score": np.where(no_score, np.nan, np.maximum(c_score, r_score)),
            "rejected_score": np.where(no_score, np.nan, np.where(rng.random(n) < 0.05, np.maximum(c_score, r_score) + 1, np.minimum(c_score, r_score))),
        }
    ).with_columns(
        pl.col("chosen_score", "rejected_score").fill_nan(None),
        pl.col("chosen").repeat_by("c_len").list.join(" "),
        pl.col("rejected").repeat_by("r_len").list.join(" "),
    )
    user = pl.format("question {} about {}", pl.col("p"), pl.col("p") % 97)
    turn = lambda role, content: pl.struct(pl.lit(role).alias("role"), content.alias("content"))
    prompt = (
        pl.when(pl.col("kind") == 1).then(pl.concat_list(turn("user", pl.lit("hello")), turn("assistant", pl.lit("hi")), turn("user", user)))
        .when(pl.col("kind") == 2).then(pl.concat_list(turn("system", pl.lit("be brief")), turn("user", user)))
        .when(pl.col("kind") == 3).then(pl.concat_list(turn("user", user), turn("user", user)))
        .when(pl.col("kind") == 4).then(pl.concat_list(turn("user", pl.lit("  ")), turn("assistant", pl.lit("hi")), turn("user", user)))
        .when(pl.col("kind") == 5).then(pl.concat_list(turn("bot", user)))
        .otherwise(pl.concat_list(turn("user", user)))
    )
    df = df.with_columns(prompt.alias("prompt"))
    dup = rng.random(n) < 0.02  # exact duplicates of an earlier row
    src = np.where(dup, rng.integers(0, n, n), np.arange(n))
    src = np.minimum(src, np.arange(n))
    df = df[src]
    return df.select(
        pl.struct("prompt", "chosen", "rejected").hash(seed=0).cast(pl.String).alias("id"),
        pl.lit("bench").alias("source"),
        pl.format("bench.jsonl:{}", pl.int_range(1, pl.len() + 1)).alias("origin"),
        pl.col("prompt").hash(seed=0).cast(pl.String).alias("prompt_id"),
        "prompt",
        "chosen",
        "rejected",
        "chosen_score",
        "rejected_score",
        pl.lit("{}").alias("meta"),
    ).cast(CANDIDATE_SCHEMA)


# ---- one measured run per subprocess --------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    """Peak resident memory of this process. VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over from the
    parent across fork + exec, which would charge the parent's synthesis to both measured paths."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _digest(values) -> str:
    return hashlib.sha256("\n".join(map(str, values)).encode()).hexdigest()[:16]


def measure(path: str, input_file: str) -> dict:
    """Run one path over the file; report time, peak memory, reason counts and a digest of the kept ids."""
    from collections import Counter

    import polars as pl

    from online_rlhf.data.sources.cleaning import clean_pairs

    rss_before = _peak_rss_mb()
    start, cpu_start = time.perf_counter(), time.process_time()
    if path == "polars":
        kept, drops = clean_pairs(pl.scan_parquet(input_file), OPTIONS)
        n_in = kept.height + drops.height
        reasons = dict(drops["reason"].value_counts().rows())
        kept_ids = kept["origin"].to_list()
    else:
        import pyarrow.parquet as pq

        rows = pq.read_table(input_file).to_pylist()
        kept_rows, drop_rows = baseline_clean(rows, OPTIONS)
        n_in = len(rows)
        reasons = dict(Counter(d["reason"] for d in drop_rows))
        kept_ids = [r["origin"] for r in kept_rows]
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    return {
        "path": path,
        "pairs_in": n_in,
        "kept": len(kept_ids),
        "dropped": dict(sorted(reasons.items())),
        "kept_digest": _digest(kept_ids),
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),  # all threads; on a shared machine wall time also counts waiting
        "pairs_per_second": round(n_in / seconds),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "peak_rss_before_mb": round(rss_before, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default=str(ROOT / "benchmarks/results/clean_pairs.json"))
    p.add_argument("--measure", choices=["polars", "python"], help=argparse.SUPPRESS)
    p.add_argument("--input", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.measure:
        print(json.dumps(measure(a.measure, a.input)))
        return

    import polars as pl

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "candidates.parquet"
        t0 = time.perf_counter()
        synthetic_candidates(a.pairs, a.seed).write_parquet(data)
        print(f"synthesised {a.pairs:,} candidate pairs in {time.perf_counter() - t0:.1f} s ({data.stat().st_size / 2**20:.0f} MiB parquet)")
        runs = {}
        for path in ("polars", "python"):
            proc = subprocess.run([sys.executable, __file__, "--measure", path, "--input", str(data)], capture_output=True, text=True, check=True)
            runs[path] = json.loads(proc.stdout.strip().splitlines()[-1])
            r = runs[path]
            print(f"{path:>7}: {r['seconds']:8.2f} s wall {r['cpu_seconds']:8.2f} s CPU  {r['pairs_per_second']:>10,} pairs/s  peak RSS {r['peak_rss_mb']:7.0f} MiB  kept {r['kept']:,}")
    pol, py = runs["polars"], runs["python"]
    agree = (pol["kept"], pol["dropped"], pol["kept_digest"]) == (py["kept"], py["dropped"], py["kept_digest"])
    result = {
        "pairs": a.pairs,
        "options": OPTIONS,
        "polars_version": pl.__version__,
        "runs": runs,
        "speedup": round(py["seconds"] / pol["seconds"], 2),
        "speedup_cpu_time": round(py["cpu_seconds"] / pol["cpu_seconds"], 2),
        "memory_ratio": round(pol["peak_rss_mb"] / py["peak_rss_mb"], 2),
        "same_kept_and_dropped": agree,
    }
    Path(a.output).parent.mkdir(parents=True, exist_ok=True)
    Path(a.output).write_text(json.dumps(result, indent=2) + "\n")
    print(f"dropped by reason: {pol['dropped']}")
    print(f"speed-up polars / per-row Python: {result['speedup']}x wall, {result['speedup_cpu_time']}x CPU time; peak memory ratio {result['memory_ratio']}; same result: {agree}")
    if not agree:
        sys.exit(f"the two paths disagree:\n polars {pol}\n python {py}")


if __name__ == "__main__":
    main()
