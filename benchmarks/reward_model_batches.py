"""The reward model of a finished run trained again with random batches (the run's own setting), with length-grouped
batches (`group_by_length`) and with the random batches packed (`padding_free`), same SFT model, mixture,
hyperparameters and seed, in one process. Each is timed and scored on the run's held-out pairs and on the policy's
own samples (the first iteration's generations, drawn from SFT, labelled by the oracle): the accuracy the online loop
depends on. It answers whether either way of cutting the reward model's padding (its random batches compute about
1.8x their real tokens on the default world) buys time without costing accuracy.

Grouping changes which rows share a batch (and measured on the default world it lost accuracy: docs/world.md);
packing keeps the batches and only lays them out differently, so its model should match the random arm's up to float
rounding. Writes benchmarks/results/reward_model_batches.json.

    python benchmarks/reward_model_batches.py --workdir RUN [--threads 1] [--arms random padding_free]

RUN is a finished default-config run folder (results/sft/model, results/data/mixtures/<mix>.parquet,
results/data/pairs/<heldout>.parquet, results/iter1/generations.parquet and results/manifest.json with its config).
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from datasets import Dataset
from generation import code_commit
from rm_retrain import add_changes_against, print_and_save, run_inputs, train_and_score
from training import RM_BATCH_ARMS, padding_ratio, sha

from online_rlhf.train import trainers

RESULTS = ROOT / "benchmarks" / "results" / "reward_model_batches.json"


def own_arm(section: dict) -> str:
    """The arm that repeats the run's own reward-model job (its section's batch setting)."""
    return "padding_free" if section.get("padding_free") else "length_grouped" if section.get("group_by_length") else "random"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, required=True, help="a finished run of the default config")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--arms", nargs="+", choices=list(RM_BATCH_ARMS), default=list(RM_BATCH_ARMS), help="which ways to train (random is the baseline and always runs)")
    ap.add_argument("--output", type=Path, default=RESULTS)
    a = ap.parse_args()
    run = run_inputs(a.workdir)
    section, hp, pairs, counts = run.section, run.hp, run.pairs, run.counts
    commit = code_commit()
    result: dict = {"commit": commit, "machine": platform.processor() or platform.machine(), "threads": a.threads,
                    "run": str(a.workdir), "pairs": counts["pairs_trained"], "heldout_pairs": len(run.heldout),
                    "onpolicy_samples": len(run.samples)}
    lengths = trainers.padded_lengths(Dataset.from_list(pairs))
    batch, shuffled = hp["global_batch_size"], list(range(len(lengths)))
    random.Random(0).shuffle(shuffled)  # a random order like the trainer's, for the padding figures
    orders = {"random": shuffled, "length_grouped": trainers.length_grouped_order(lengths, batch, random.Random(0)), "padding_free": shuffled}
    arms = [(name, option, orders[name], option["padding_free"]) for name, option in RM_BATCH_ARMS.items() if name == "random" or name in a.arms]
    with tempfile.TemporaryDirectory() as tmp:
        for name, option, order, packed in arms:
            result[name] = train_and_score(run, {**hp, **option}, Path(tmp) / name, a.threads)
            result[name]["padded_over_real_tokens"] = padding_ratio(pairs, order, batch, packed)
    # one arm is the run's own reward model job again: the same bytes say the comparison starts from the run
    result["runs_own_arm"] = own = own_arm(section)
    if own in result:
        result[own]["reproduces_the_runs_model"] = result[own]["weights_sha256"] == sha(run.run_model)
    # Packing computes the padded batches' numbers up to float rounding; how long the two runs stay together, and how
    # far apart they end, says how much of the reward model's outcome is decided by rounding alone.
    logged = [(i + 1) * hp["logging_steps"] for i in range(len(result["random"]["logged_losses"]))]
    if "padding_free" in result:
        apart = [step for step, x, y in zip(logged, result["random"]["logged_losses"], result["padding_free"]["logged_losses"], strict=True) if abs(x - y) > 1e-3]
        result["padding_free"]["first_logged_step_apart_from_random"] = apart[0] if apart else None
    report = [f"reward model on {counts['pairs_trained']} pairs, {result['random']['steps']} steps:"]
    for name, _, _, _ in arms:
        arm = result[name]
        if name != "random":
            arm["speedup"] = result["random"]["seconds"] / arm["seconds"]
            add_changes_against(arm, result["random"])
        speedup = f" ({arm['speedup']:.2f}x)" if name != "random" else ""
        report.append(f"  {name}: {arm['seconds']:.0f} s{speedup}, padding {arm['padded_over_real_tokens']:.2f}x, held-out "
                      f"{arm['heldout_accuracy']:.3f}, on-policy {arm['onpolicy_accuracy']:.3f} +- {arm['onpolicy_stderr']:.3f}")
    if "padding_free" in result:
        report.append(f"  padding-free and random losses first more than 1e-3 apart at logged step {result['padding_free']['first_logged_step_apart_from_random']}")
    if own in result:
        report.append(f"  {own} (the run's own setting) reproduces the run's reward model: {result[own]['reproduces_the_runs_model']}")
    print_and_save(report, result, a.output)


if __name__ == "__main__":
    main()
