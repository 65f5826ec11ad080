"""The machine's record beside a run's wall time (online_rlhf/provenance/host.py) and how docs/results.md prints it."""

import json

import pytest

from online_rlhf.provenance import host
from online_rlhf.provenance import results_doc as rd

STAT = """cpu  1000 10 200 5000 50 5 5 40 7 0
cpu0 500 5 100 2500 25 3 3 20 7 0
intr 12345
"""


def test_cpu_counters_read_the_aggregate_line_with_its_steal_column():
    assert host.cpu_counters(STAT) == {"user": 1000, "nice": 10, "system": 200, "idle": 5000, "iowait": 50, "irq": 5,
                                       "softirq": 5, "steal": 40}
    # a kernel without the steal column (before 2.6.11) reads as no steal; no /proc (not Linux) as nothing
    assert host.cpu_counters("cpu  1 2 3 4 5 6 7\n")["steal"] == 0
    assert host.cpu_counters("") is None


def test_load_averages():
    assert host.load_averages("2.10 1.50 0.75 3/149 4189\n") == [2.1, 1.5, 0.75]
    assert host.load_averages("") is None


def counters(**kw):
    return {k: kw.get(k, 0) for k in host.CPU_FIELDS}


def test_conditions_split_the_cpu_time_between_two_snapshots_into_busy_stolen_and_idle():
    start = {"time": 100.0, "cpu": counters(user=1000, idle=1000, steal=10), "loadavg": [0.1, 0.2, 0.3], "logical_cpus": 2,
             "probes": {"python_loop": 0.010, "float32_matmul": 0.020}}
    end = {"time": 340.0, "cpu": counters(user=1700, system=100, idle=1150, iowait=20, steal=40), "loadavg": [2.0, 1.5, 0.9],
           "logical_cpus": 2, "probes": {"python_loop": 0.012, "float32_matmul": 0.021}}
    c = host.conditions(start, end)
    # 1000 ticks in all: 800 busy (user + system), 170 idle (idle + iowait), 30 stolen
    assert c["seconds"] == 240.0 and c["logical_cpus"] == 2
    assert c["busy_share"] == pytest.approx(0.8) and c["steal_share"] == pytest.approx(0.03)
    assert c["iowait_share"] == pytest.approx(0.02)
    assert c["loadavg_end"] == [2.0, 1.5, 0.9] and c["probes_start"]["python_loop"] == 0.010
    assert c["probes_end"] == {"python_loop": 0.012, "float32_matmul": 0.021}
    # no counters (not Linux): the shares are unknown, not zero
    assert host.conditions({**start, "cpu": None}, end)["steal_share"] is None


def test_snapshots_are_written_and_read_back_per_phase(tmp_path):
    assert host.read_snapshots(tmp_path) is None
    path = host.write_snapshot("start", tmp_path)
    assert path == tmp_path / "results/logs/host/start.json"
    assert host.read_snapshots(tmp_path) is None  # the end is missing: a run whose last invocation failed
    host.write_snapshot("end", tmp_path)
    snaps = host.read_snapshots(tmp_path)
    assert snaps["start"]["time"] <= snaps["end"]["time"]
    assert snaps["end"]["probes"]["python_loop"] > 0 and snaps["end"]["probes"]["float32_matmul"] > 0
    assert snaps["end"]["probe_sizes"]["python_loop"] == host.PROBE_LOOPS
    with pytest.raises(ValueError, match="phase 'middle'"):
        host.write_snapshot("middle", tmp_path)


def test_probes_time_their_fastest_repetition():
    calls = []
    assert host._fastest(lambda: calls.append(1), repeats=3) < 1 and len(calls) == 3
    assert 0 < host.python_probe_seconds(loops=1000, repeats=2) < 1
    assert 0 < host.matmul_probe_seconds(size=16, products=4, repeats=2) < 1


CONDITIONS = {"start": 1_000.5, "seconds": 548.0, "logical_cpus": 2, "busy_share": 0.934, "steal_share": 0.021,
              "iowait_share": 0.0, "loadavg_start": [0.1, 0.2, 0.3], "loadavg_end": [2.0, 1.9, 1.1],
              "probes_start": {"python_loop": 0.0101, "float32_matmul": 0.0203},
              "probes_end": {"python_loop": 0.0108, "float32_matmul": 0.0201}}
TIMING = {"first_start": 1_000.0}


def test_the_doc_line_names_busy_stolen_load_and_probe():
    line = rd.host_line(CONDITIONS, TIMING)
    assert line.startswith("- the machine during the run (`results/logs/host/`, 9 min 08 s): CPUs busy 93.4 %")
    assert "stolen by the hypervisor 2.1 %" in line and "2.00 / 1.90 / 1.10 at the end" in line
    assert ("fixed probes, start → end (lower is a faster machine; compare runs by them): a pure-Python loop 10.1 → 10.8 ms, "
            "float32 matrix products on one thread 20.3 → 20.1 ms") in line


def test_the_doc_line_says_when_the_record_covers_only_a_resumed_invocation_or_is_missing():
    resumed = rd.host_line({**CONDITIONS, "start": 2_000.0}, TIMING)
    assert "during only the last Snakemake invocation (from " in resumed and "the run was resumed" in resumed
    assert rd.host_line(None, TIMING).startswith("- the machine during the run: not recorded")


def test_a_run_folder_with_snapshots_has_them_on_its_section(tmp_path):
    from .test_results_doc import make_run

    run_dir = make_run(tmp_path / "run")
    for phase, t in (("start", 1_000.2), ("end", 1_548.0)):
        (run_dir / host.HOST_DIR).mkdir(parents=True, exist_ok=True)
        snap = {"time": t, "cpu": counters(user=int(t), idle=100), "loadavg": [1.0, 1.0, 1.0], "logical_cpus": 2,
                "probes": {"python_loop": 0.01, "float32_matmul": 0.02}}
        (run_dir / host.HOST_DIR / f"{phase}.json").write_text(json.dumps(snap))
    text = rd.run_section("default", rd.load_run("default", run_dir))
    assert "- the machine during the run (`results/logs/host/`, 9 min 08 s): CPUs busy 100.0 %" in text
