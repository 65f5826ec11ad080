"""A finished run's reward model trained again, and scored the two ways the loop cares about: shared by
reward_model_batches.py (ways of batching) and reward_model_settings.py (hyperparameter settings).

Held-out accuracy is on the run's held-out pairs (written by the preference data's writers); on-policy accuracy is on
the first iteration's generations (drawn from SFT, labelled by the oracle), which is what the online loop depends on.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from generation import timed
from training import sha, trainer_hparams

from online_rlhf.core.tables import read_parquet
from online_rlhf.judges.interface import accuracy, pair_margins
from online_rlhf.judges.onpolicy import onpolicy_accuracy
from online_rlhf.judges.scoring import score_with_reward_model
from online_rlhf.train import trainers


@dataclass
class RunInputs:
    """What a run's reward-model job read, loaded once for every arm."""

    workdir: Path
    config: dict
    section: dict  # the run's reward_model section
    hp: dict  # that section as its rule hands it to the trainer
    init: str  # the run's SFT model
    pairs: list[dict]  # the mixture's trainable pairs, tokenized as the job tokenizes them
    counts: dict
    heldout: list[dict]
    samples: list[dict]  # iteration 1's generations

    @property
    def run_model(self) -> Path:
        return self.workdir / "results" / "rm" / self.section["name"] / "model"


def run_inputs(workdir: Path) -> RunInputs:
    manifest = workdir / "results" / "manifest.json"
    if not manifest.is_file():
        raise SystemExit(f"{manifest} does not exist: --workdir must be a finished run")
    config = json.loads(manifest.read_text())["run"]["config"]
    section = config["reward_model"]
    hp = trainer_hparams(config, "reward_model", steps=None)
    hp["logging_steps"] = section["logging_steps"]
    init = str(workdir / "results" / "sft" / "model")
    rows = read_parquet(workdir / "results" / "data" / "mixtures" / f"{section['mixture']}.parquet", ("prompt", "chosen", "rejected")).to_dicts()
    heldout = read_parquet(workdir / "results" / "data" / "pairs" / f"{section['heldout']}.parquet", ("prompt", "chosen", "rejected")).to_dicts()
    pairs, counts = trainers.trainable_pairs(init, rows, hp["max_length"], tokenized=True)
    samples = read_parquet(workdir / "results" / "iter1" / "generations.parquet", ("prompt_id", "prompt", "response")).to_dicts()
    return RunInputs(workdir, config, section, hp, init, pairs, counts, heldout, samples)


def train_and_score(run: RunInputs, hp: dict, out: Path, threads: int) -> dict:
    """Train the reward model with `hp` into `out` under the run's seed; time it and score it held-out and on-policy."""
    metrics, seconds = timed(lambda: trainers.train_reward_model(run.init, run.pairs, hp, str(out), run.config["seed"], threads))
    scoring, max_length = run.config["online"]["scoring"]["batch_size"], hp["max_length"]
    held = run.heldout
    margins = pair_margins("reward_model", str(out), [r["prompt"] for r in held], [r["chosen"] for r in held], [r["rejected"] for r in held], scoring, max_length)
    rewards = score_with_reward_model(str(out), [r["prompt"] for r in run.samples], [r["response"] for r in run.samples], scoring, max_length)
    onpolicy = onpolicy_accuracy([{**r, "reward": w} for r, w in zip(run.samples, rewards, strict=True)])
    losses = [h["loss"] for h in json.loads((out / "train_log.json").read_text()) if "loss" in h]
    return {"seconds": seconds, "steps": metrics["steps"], "last_loss": metrics["last_loss"], "logged_losses": losses,
            "heldout_accuracy": accuracy(margins), "onpolicy_accuracy": onpolicy["accuracy"], "onpolicy_stderr": onpolicy["stderr"],
            "weights_sha256": sha(out)}


def add_changes_against(arm: dict, baseline: dict) -> None:
    """The arm's accuracies less the baseline arm's, in the arm's own record."""
    for key in ("heldout_accuracy", "onpolicy_accuracy"):
        arm[f"{key}_change"] = arm[key] - baseline[key]


def print_and_save(report: list[str], result: dict, output: Path) -> None:
    print("\n".join(report))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
