"""How busy and how fast the machine was while a run's jobs ran, so that a run's wall time can be read against it.

The same code's default run has taken half again as long in every job an hour after a first timing on the same kind
of machine (docs/world.md): a wall time alone does not say whether the code or the machine changed.
Snakemake's `onstart` and `onsuccess` hooks (Snakefile, Experiments.smk) write a snapshot each, `results/logs/host/start.json` and
`end.json`, on the machine that runs Snakemake (for a local run, the one that runs the jobs; for a cluster run, the
login node, and the snapshots then say nothing about the compute nodes):

- the kernel's CPU time counters (/proc/stat): between the two snapshots, the share of all logical CPUs' time that
  was busy, and the share that the hypervisor *stole* (time a virtual CPU was ready to run while the host ran
  something else: on a shared virtual machine, the direct measure of other tenants' load);
- the load averages (/proc/loadavg) at each end;
- two fixed workloads, each timed as the best of a few repetitions, at both ends: a pure-Python loop (the
  interpreter's speed, which the many short jobs' start-up costs scale with) and float32 matrix products on one BLAS
  thread (the arithmetic the trainers spend their time in: it also sees a slower clock or a core shared with a
  neighbour, which steal does not). Compared between runs, they tell a slower machine from slower code.

`conditions(start, end)` reduces two snapshots to the figures docs/results.md prints. Nothing here is part of any
artifact or of the manifest: the reproducibility audit compares outputs, and these describe only the run's timing.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from online_rlhf.provenance.manifest import file_text

HOST_DIR = "results/logs/host"
PHASES = ("start", "end")
# /proc/stat's aggregate line: cpu user nice system idle iowait irq softirq steal [guest guest_nice]
CPU_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
PROBE_REPEATS = 5
# Sizes of the probes: about 10 ms a repetition each on this project's 2-core machines.
PROBE_LOOPS = 200_000
MATMUL_SIZE = 128
MATMUL_PRODUCTS = 200


def cpu_counters(stat_text: str) -> dict[str, int] | None:
    """The aggregate `cpu` line of /proc/stat as named counters (clock ticks since boot); None without one (no
    /proc: not Linux). guest and guest_nice are left out: the kernel already counts them in user and nice."""
    for line in stat_text.splitlines():
        parts = line.split()
        if parts and parts[0] == "cpu":
            values = [int(v) for v in parts[1 : 1 + len(CPU_FIELDS)]]
            values += [0] * (len(CPU_FIELDS) - len(values))  # kernels older than 2.6.11 have no steal column
            return dict(zip(CPU_FIELDS, values, strict=True))
    return None


def load_averages(loadavg_text: str) -> list[float] | None:
    """The 1-, 5- and 15-minute load averages of /proc/loadavg; None where there is none."""
    parts = loadavg_text.split()
    return [float(v) for v in parts[:3]] if len(parts) >= 3 else None


def _fastest(work, repeats: int) -> float:
    """The fastest of `repeats` timings of `work()`: a slower repetition measures an interruption, not the speed."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - t0)
    return best


def python_probe_seconds(loops: int = PROBE_LOOPS, repeats: int = PROBE_REPEATS) -> float:
    """A fixed pure-Python loop, timed."""

    def work():
        total = 0
        for i in range(loops):
            total += i * i % 7
        return total

    return _fastest(work, repeats)


def matmul_probe_seconds(size: int = MATMUL_SIZE, products: int = MATMUL_PRODUCTS, repeats: int = PROBE_REPEATS) -> float:
    """`products` float32 products of two size x size matrices on one BLAS thread (the jobs' torch runs one thread
    each by default; numpy's BLAS would take every core), timed."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    a = np.full((size, size), 0.5, dtype=np.float32)
    out = np.empty_like(a)

    def work():
        for _ in range(products):
            np.matmul(a, a, out=out)

    with threadpool_limits(limits=1):
        return _fastest(work, repeats)


def snapshot() -> dict[str, Any]:
    """What the machine looks like now: wall-clock time, CPU counters, load averages, logical CPUs and the probes."""
    return {
        "time": time.time(),
        "cpu": cpu_counters(file_text("/proc/stat")),
        "loadavg": load_averages(file_text("/proc/loadavg")),
        "logical_cpus": os.cpu_count(),
        "probes": {"python_loop": python_probe_seconds(), "float32_matmul": matmul_probe_seconds()},
        "probe_sizes": {"python_loop": PROBE_LOOPS, "float32_matmul": [MATMUL_SIZE, MATMUL_PRODUCTS], "repeats": PROBE_REPEATS},
    }


def snapshot_path(workdir: str | Path, phase: str) -> Path:
    """`results/logs/host/<phase>.json` under `workdir` (phase: start or end)."""
    if phase not in PHASES:
        raise ValueError(f"host snapshot phase {phase!r}: expected one of {PHASES}")
    return Path(workdir) / HOST_DIR / f"{phase}.json"


def write_snapshot(phase: str, workdir: str | Path = ".") -> Path:
    """Write the snapshot of `phase` (start or end) under `workdir`; returns its path."""
    path = snapshot_path(workdir, phase)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(snapshot(), indent=2) + "\n")
    return path


def read_snapshots(workdir: str | Path) -> dict[str, dict] | None:
    """Both snapshots of a run folder, or None when either is missing (a run before this record existed, or one whose
    last invocation did not succeed: `onsuccess` never ran)."""
    found = {}
    for phase in PHASES:
        path = snapshot_path(workdir, phase)
        if not path.is_file():
            return None
        found[phase] = json.loads(path.read_text())
    return found


def conditions(start: dict[str, Any], end: dict[str, Any]) -> dict[str, Any]:
    """The machine between two snapshots: seconds, busy and stolen shares of all logical CPUs' time (None without
    counters), the load averages and the probes' timings at both ends."""
    shares: dict[str, float | None] = {"busy_share": None, "steal_share": None, "iowait_share": None}
    a, b = start.get("cpu"), end.get("cpu")
    if a and b:
        delta = {k: b[k] - a[k] for k in CPU_FIELDS}
        total = sum(delta.values())
        if total > 0:
            idle = delta["idle"] + delta["iowait"]
            shares = {
                "busy_share": (total - idle - delta["steal"]) / total,
                "steal_share": delta["steal"] / total,
                "iowait_share": delta["iowait"] / total,
            }
    return {
        "start": start["time"],
        "seconds": end["time"] - start["time"],
        "logical_cpus": end.get("logical_cpus"),
        **shares,
        "loadavg_start": start.get("loadavg"),
        "loadavg_end": end.get("loadavg"),
        "probes_start": start.get("probes"),
        "probes_end": end.get("probes"),
    }


def run_conditions(workdir: str | Path) -> dict[str, Any] | None:
    """The machine while a run folder's last Snakemake invocation ran, None without both snapshots."""
    snapshots = read_snapshots(workdir)
    return conditions(snapshots["start"], snapshots["end"]) if snapshots else None
