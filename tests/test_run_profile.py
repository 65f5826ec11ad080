"""benchmarks/run_profile.py: the critical path and the shortest makespan a run's jobs allow."""

import importlib.util

import pytest

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("run_profile", ROOT / "benchmarks" / "run_profile.py")
run_profile = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_profile)


def job(rule, start, end, outputs, inputs=()):
    return {"rule": rule, "start": start, "end": end, "outputs": list(outputs), "inputs": set(inputs)}


def diamond():
    """a (10 s) feeds b (30 s) and c (5 s); d (2 s) needs both; e (20 s) and f (3 s) hang off nothing."""
    return [
        job("a", 0, 10, ["a.out"]),
        job("b", 10, 40, ["b.out"], ["a.out"]),
        job("c", 10, 15, ["c.out"], ["a.out", "raw.txt"]),
        job("e", 15, 35, ["e.out"]),
        job("f", 35, 38, ["f.out"]),
        job("d", 40, 42, ["d.out"], ["b.out", "c.out"]),
    ]


def test_the_critical_path_follows_the_longest_chain_of_producers():
    length, chain = run_profile.critical_path(diamond())
    assert length == 42
    assert [j["rule"] for j in chain] == ["a", "b", "d"]


def test_the_lower_bound_is_the_critical_path_or_the_work_over_the_cores():
    jobs = diamond()  # 70 s of job time, critical path 42 s
    assert run_profile.profile(jobs, {}, cores=2)["makespan_lower_bound_s"] == 42
    one_core = run_profile.profile(jobs, {}, cores=1)
    assert one_core["makespan_lower_bound_s"] == 70 == one_core["summed_job_wall_s"]
    assert one_core["makespan_s"] == 42


def test_short_jobs_and_rules_are_counted():
    summary = run_profile.profile(diamond(), {"x.tsv": {"s": 2.0, "cpu_time": 1.5}}, cores=2)
    assert summary["short_jobs"] == {"under_s": 10.0, "jobs": 3, "summed_wall_s": 10}
    assert list(summary["per_rule"]) == ["b", "e", "a", "c", "f", "d"]
    assert summary["benchmarked_cpu_s"] == 1.5


def test_cores_below_one_are_refused():
    with pytest.raises(ValueError, match="cores must be at least 1"):
        run_profile.profile(diamond(), {}, cores=0)
