"""Where a finished run's time went: per-stage (rule) wall time from Snakemake's job records, the critical path
through the DAG, and the CPU time the benchmark files recorded.

    python benchmarks/run_profile.py [--workdir .] [--cores N] [--json benchmarks/results/run_profile.json] [--top 15]

Job start/end times come from `.snakemake/metadata/` (one record per output file; records of one job share rule,
job hash and end time); the DAG from each record's inputs. The critical path is the chain of jobs, each consuming an output of
the one before, with the largest summed job wall time: no number of cores makes a run shorter than it. Nor can a run
on C cores be shorter than its summed job wall time over C (a job holds at least one core while it runs), so the
larger of the two is the shortest makespan any scheduling of these jobs could reach (`makespan_lower_bound_s`); the
jobs under 10 s (`short_jobs`) are mostly interpreter and import start-up, the part that merging jobs would save. CPU seconds
come from `results/benchmarks/**/*.tsv` (Snakemake's `benchmark:` files: `cpu_time`), summed over the jobs that
write one. On a machine shared with other work wall times inflate; CPU time and the critical path's job count less,
and the run's host record (`results/logs/host/`: busy and stolen CPU shares, loads, speed probes) says how shared it was.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generation import code_commit

from online_rlhf.provenance.host import run_conditions
from online_rlhf.provenance.manifest import all_metadata, job_key
from online_rlhf.provenance.results_doc import host_line


def load_jobs(workdir: Path) -> list[dict]:
    """One dict per job: rule, start, end, outputs, inputs (from the metadata records of its outputs)."""
    if not (workdir / ".snakemake" / "metadata").is_dir():
        raise SystemExit(f"{workdir / '.snakemake' / 'metadata'}: no Snakemake metadata (run the workflow in {workdir} first)")
    jobs: dict[tuple, dict] = {}
    for path, rec in all_metadata(workdir).items():
        if rec.get("incomplete") or rec.get("starttime") is None or rec.get("endtime") is None:
            continue
        # the outputs of one job share its rule, command and hash (manifest.job_key, as docs/results.md counts jobs);
        # their start and end times differ by microseconds
        job = jobs.setdefault(job_key(rec), {"rule": rec["rule"], "start": rec["starttime"], "end": rec["endtime"], "outputs": [], "inputs": set()})
        job["start"] = min(job["start"], rec["starttime"])
        job["end"] = max(job["end"], rec["endtime"])
        job["outputs"].append(path)
        job["inputs"].update(rec.get("input", []))
    return sorted(jobs.values(), key=lambda j: j["start"])


def critical_path(jobs: list[dict]) -> tuple[float, list[dict]]:
    """Longest chain by summed job wall time, following producer -> consumer edges (inputs that a job made)."""
    producer = {}
    for j in jobs:
        for o in j["outputs"]:
            producer[o] = j
    best: dict[int, tuple[float, dict | None]] = {}
    for j in sorted(jobs, key=lambda j: j["end"]):
        dur = j["end"] - j["start"]
        prev = [producer[i] for i in j["inputs"] if i in producer and producer[i] is not j]
        top = max(prev, key=lambda p: best[id(p)][0], default=None) if prev else None
        best[id(j)] = (dur + (best[id(top)][0] if top is not None and id(top) in best else 0.0), top)
    if not best:
        return 0.0, []
    last = max(jobs, key=lambda j: best[id(j)][0])
    length, chain, cur = best[id(last)][0], [], last
    while cur is not None:
        chain.append(cur)
        cur = best[id(cur)][1]
    return length, chain[::-1]


def benchmark_cpu(workdir: Path) -> dict[str, dict]:
    """{benchmark file: {s, cpu_time}} of every benchmark TSV (the last row if a job was benchmarked repeatedly)."""
    out = {}
    for f in sorted((workdir / "results" / "benchmarks").rglob("*.tsv")):
        rows = list(csv.DictReader(f.open(), delimiter="\t"))
        if rows:
            out[str(f.relative_to(workdir))] = {"s": float(rows[-1]["s"]), "cpu_time": float(rows[-1]["cpu_time"])}
    return out


SHORT_JOB_S = 10.0


def profile(jobs: list[dict], cpu: dict[str, dict], cores: int) -> dict:
    """The figures of a run's jobs (load_jobs) and benchmark files (benchmark_cpu) on `cores` cores."""
    if cores < 1:
        raise ValueError(f"cores must be at least 1, got {cores}")
    per_rule: dict[str, dict] = defaultdict(lambda: {"jobs": 0, "wall_s": 0.0})
    for j in jobs:
        per_rule[j["rule"]]["jobs"] += 1
        per_rule[j["rule"]]["wall_s"] += j["end"] - j["start"]
    span = max(j["end"] for j in jobs) - min(j["start"] for j in jobs)
    length, chain = critical_path(jobs)
    summed = sum(r["wall_s"] for r in per_rule.values())
    short = [j["end"] - j["start"] for j in jobs if j["end"] - j["start"] < SHORT_JOB_S]
    return {
        "jobs": len(jobs),
        "cores": cores,
        "makespan_s": span,
        "summed_job_wall_s": summed,
        "critical_path_s": length,
        "makespan_lower_bound_s": max(length, summed / cores),
        "short_jobs": {"under_s": SHORT_JOB_S, "jobs": len(short), "summed_wall_s": sum(short)},
        "critical_path": [{"rule": j["rule"], "wall_s": j["end"] - j["start"], "output": j["outputs"][0]} for j in chain],
        "benchmarked_jobs": len(cpu),
        "benchmarked_cpu_s": sum(v["cpu_time"] for v in cpu.values()),
        "benchmarked_wall_s": sum(v["s"] for v in cpu.values()),
        "per_rule": dict(sorted(per_rule.items(), key=lambda kv: -kv[1]["wall_s"])),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workdir", default=".")
    p.add_argument("--cores", type=int, default=os.cpu_count(), help="cores the run had (make run: all; default: this machine's)")
    p.add_argument("--json", default=None, help="also write the profile here")
    p.add_argument("--top", type=int, default=15, help="rules to list, by summed wall time")
    a = p.parse_args()
    work = Path(a.workdir)
    jobs = load_jobs(work)
    if not jobs:
        raise SystemExit(f"{work}: no finished job records")
    summary = {"run_commit": code_commit(work) or None, **profile(jobs, benchmark_cpu(work), a.cores),
               "host": run_conditions(work)}
    print(f"{summary['jobs']} jobs; first start to last end {summary['makespan_s']:.1f} s; summed job wall time {summary['summed_job_wall_s']:.1f} s")
    print(f"shortest possible on {a.cores} cores: {summary['makespan_lower_bound_s']:.1f} s (the critical path, or the summed job time over the cores)")
    short = summary["short_jobs"]
    print(f"jobs under {short['under_s']:.0f} s: {short['jobs']}, {short['summed_wall_s']:.1f} s together")
    print(f"critical path {summary['critical_path_s']:.1f} s over {len(summary['critical_path'])} jobs:")
    for j in summary["critical_path"]:
        print(f"  {j['wall_s']:7.1f} s  {j['rule']:28s} {j['output']}")
    print(f"benchmark files: {summary['benchmarked_jobs']} jobs, {summary['benchmarked_cpu_s']:.1f} CPU s over {summary['benchmarked_wall_s']:.1f} wall s")
    print(f"{'rule':30s} {'jobs':>5s} {'wall s':>8s}")
    for name, r in list(summary["per_rule"].items())[: a.top]:
        print(f"{name:30s} {r['jobs']:5d} {r['wall_s']:8.1f}")
    print(host_line(summary["host"], {"first_start": jobs[0]["start"]}).removeprefix("- "))
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
