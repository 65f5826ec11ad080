"""The reward model of a finished run trained again under named settings of its `reward_model` section (learning
rate, epochs, ...), same SFT model, mixture and seed, in one process; each is timed and scored on the run's held-out
pairs and on the policy's own samples (rm_retrain.py). It answers whether a setting makes the reward model leave its
loss plateau near log 2 sooner and end more accurate, on the same data and host as the run's own setting.

    python benchmarks/reward_model_settings.py --workdir RUN --setting previous='{"learning_rate": 1e-3, "epochs": 2}' \
        [--setting NAME=JSON ...] [--threads 1] [--output FILE]

The run's own setting always trains first, as `run` (its model must reproduce the run's byte for byte); every other
setting is the run's section with the JSON's keys replaced. Writes benchmarks/results/reward_model_settings.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from generation import code_commit
from rm_retrain import add_changes_against, print_and_save, run_inputs, train_and_score
from training import sha

RESULTS = ROOT / "benchmarks" / "results" / "reward_model_settings.json"
# Under this loss a reward model has left the plateau at log 2 = 0.693 (replies it cannot tell apart).
PLATEAU_EXIT_LOSS = 0.6


def parse_setting(text: str, section: dict) -> tuple[str, dict]:
    """NAME=JSON -> (name, overrides); each key must be one of the reward_model section's."""
    name, sep, body = text.partition("=")
    if not sep or not name:
        raise SystemExit(f"--setting {text!r}: expected NAME=JSON, e.g. previous='{{\"learning_rate\": 1e-3}}'")
    if name == "run":
        raise SystemExit("--setting: the name 'run' is the run's own setting, which always trains; pick another")
    try:
        overrides = json.loads(body)
    except json.JSONDecodeError as e:
        raise SystemExit(f"--setting {name}: {body!r} is not JSON ({e})") from e
    if not isinstance(overrides, dict) or not overrides:
        raise SystemExit(f"--setting {name}: expected a non-empty JSON object of reward_model keys, got {body!r}")
    unknown = sorted(set(overrides) - set(section))
    if unknown:
        raise SystemExit(f"--setting {name}: {unknown} are not keys of the run's reward_model section ({sorted(section)})")
    return name, overrides


def plateau_exit_step(losses: list[float], logging_steps: int, below: float = PLATEAU_EXIT_LOSS) -> int | None:
    """The first logged step whose loss is under `below` (log 2 = 0.693 is the loss of a reward model that
    cannot tell the two replies apart): when the model left the plateau, or None if it never did."""
    for i, loss in enumerate(losses):
        if loss < below:
            return (i + 1) * logging_steps
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, required=True, help="a finished run")
    ap.add_argument("--setting", action="append", default=[], metavar="NAME=JSON", help="a setting to compare with the run's own")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--output", type=Path, default=RESULTS)
    a = ap.parse_args()
    run = run_inputs(a.workdir)
    settings = {"run": {}} | dict(parse_setting(text, run.section) for text in a.setting)
    result: dict = {"commit": code_commit(), "machine": platform.processor() or platform.machine(), "threads": a.threads,
                    "run": str(a.workdir), "seed": run.config["seed"], "pairs": run.counts["pairs_trained"],
                    "heldout_pairs": len(run.heldout), "onpolicy_samples": len(run.samples),
                    "runs_setting": {k: run.section[k] for k in sorted({k for o in settings.values() for k in o})}, "settings": {}}
    logging = run.hp["logging_steps"]
    with tempfile.TemporaryDirectory() as tmp:
        for name, overrides in settings.items():
            arm = train_and_score(run, {**run.hp, **overrides}, Path(tmp) / name, a.threads)
            arm["overrides"] = overrides
            arm["plateau_exit_step"] = plateau_exit_step(arm["logged_losses"], logging)
            result["settings"][name] = arm
    own = result["settings"]["run"]
    own["reproduces_the_runs_model"] = own["weights_sha256"] == sha(run.run_model)
    report = [f"reward model of {a.workdir} (seed {run.config['seed']}) on {run.counts['pairs_trained']} pairs:"]
    for name, arm in result["settings"].items():
        if name != "run":
            add_changes_against(arm, own)
            arm["time_ratio"] = arm["seconds"] / own["seconds"]
        exit_step, changed = arm["plateau_exit_step"], arm["overrides"] or "(the run's own setting)"
        report.append(f"  {name} {changed}: {arm['steps']} steps, {arm['seconds']:.0f} s, loss under {PLATEAU_EXIT_LOSS} "
                      f"from step {exit_step if exit_step is not None else 'never'}, held-out {arm['heldout_accuracy']:.3f}, "
                      f"on-policy {arm['onpolicy_accuracy']:.3f} +- {arm['onpolicy_stderr']:.3f}")
    report.append(f"  the run's own setting reproduces the run's reward model: {own['reproduces_the_runs_model']}")
    print_and_save(report, result, a.output)


if __name__ == "__main__":
    main()
