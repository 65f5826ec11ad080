"""The reward model of a finished run trained again with random batches (the run's own setting) and with
length-grouped batches (`group_by_length`), same SFT model, mixture, hyperparameters and seed, in one process; each
is timed and scored on the run's held-out pairs. It answers whether grouping the reward model's batches alone (its
random batches compute 1.86x their real tokens on the default world) buys time without costing accuracy.

The default run measured with `group_by_length: true` on every trainer lost accuracy everywhere (docs/world.md);
this isolates the reward model, whose batches pad most. Writes benchmarks/results/reward_model_batches.json.

    python benchmarks/reward_model_batches.py --workdir RUN [--threads 1]

RUN is a finished default-config run folder (results/sft/model, results/data/mixtures/<mix>.parquet,
results/data/pairs/<heldout>.parquet and results/manifest.json with its config).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from generation import timed
from training import padding_ratio, trainer_hparams

from online_rlhf.core.tables import read_parquet
from online_rlhf.judges.interface import accuracy, pair_margins
from online_rlhf.train import trainers

RESULTS = ROOT / "benchmarks" / "results" / "reward_model_batches.json"


def sha(folder: Path) -> str:
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


def run_config(workdir: Path) -> dict:
    manifest = workdir / "results" / "manifest.json"
    if not manifest.is_file():
        raise SystemExit(f"{manifest} does not exist: --workdir must be a finished run")
    return json.loads(manifest.read_text())["run"]["config"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, required=True, help="a finished run of the default config")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--output", type=Path, default=RESULTS)
    a = ap.parse_args()
    config = run_config(a.workdir)
    section = config["reward_model"]
    hp = trainer_hparams(config, "reward_model", steps=None)
    hp["logging_steps"] = section["logging_steps"]
    init = str(a.workdir / "results" / "sft" / "model")
    rows = read_parquet(a.workdir / "results" / "data" / "mixtures" / f"{section['mixture']}.parquet", ("prompt", "chosen", "rejected")).to_dicts()
    heldout = read_parquet(a.workdir / "results" / "data" / "pairs" / f"{section['heldout']}.parquet", ("prompt", "chosen", "rejected")).to_dicts()
    pairs, counts = trainers.trainable_pairs(init, rows, hp["max_length"], tokenized=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()
    result: dict = {"commit": commit, "machine": platform.processor() or platform.machine(), "threads": a.threads,
                    "run": str(a.workdir), "pairs": counts["pairs_trained"], "heldout_pairs": len(heldout)}
    lengths = [max(len(r["chosen_ids"]), len(r["rejected_ids"])) for r in pairs]
    with tempfile.TemporaryDirectory() as tmp:
        for name, grouped in (("random", False), ("length_grouped", True)):
            out = Path(tmp) / name
            metrics, seconds = timed(lambda o=out, g=grouped: trainers.train_reward_model(
                init, pairs, {**hp, "group_by_length": g}, str(o), config["seed"], a.threads))
            margins = pair_margins("reward_model", str(out), [r["prompt"] for r in heldout], [r["chosen"] for r in heldout],
                                   [r["rejected"] for r in heldout], config["online"]["scoring"]["batch_size"], hp["max_length"])
            result[name] = {"seconds": seconds, "steps": metrics["steps"], "last_loss": metrics["last_loss"], "heldout_accuracy": accuracy(margins),
                            "weights_sha256": sha(out)}
    # the random arm is the run's own reward model job again: the same bytes say the comparison starts from the run
    result["random"]["reproduces_the_runs_model"] = result["random"]["weights_sha256"] == sha(a.workdir / "results" / "rm" / section["name"] / "model")
    batch, shuffled = hp["global_batch_size"], list(range(len(lengths)))
    random.Random(0).shuffle(shuffled)
    result["random"]["padded_over_real_tokens"] = padding_ratio(lengths, shuffled, batch)  # a random order like the trainer's
    result["length_grouped"]["padded_over_real_tokens"] = padding_ratio(lengths, trainers.length_grouped_order(lengths, batch, random.Random(0)), batch)
    result["speedup"] = result["random"]["seconds"] / result["length_grouped"]["seconds"]
    result["heldout_accuracy_change"] = result["length_grouped"]["heldout_accuracy"] - result["random"]["heldout_accuracy"]
    print(f"reward model on {counts['pairs_trained']} pairs, {result['random']['steps']} steps: random batches {result['random']['seconds']:.0f} s, "
          f"held-out {result['random']['heldout_accuracy']:.3f}; length-grouped {result['length_grouped']['seconds']:.0f} s, "
          f"held-out {result['length_grouped']['heldout_accuracy']:.3f} ({result['speedup']:.2f}x)")
    a.output.parent.mkdir(parents=True, exist_ok=True)
    a.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
