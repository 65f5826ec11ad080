"""What a second torch thread buys each training stage of the default config: SFT, the reward model (as configured,
packed batches included) and DPO, each trained for the same steps on 1 thread and on 2 in one process, same data,
same seed (built as benchmarks/training.py builds them: the default architecture at random init, step time depends on
shapes). For each stage: wall seconds, the process's CPU seconds (every thread's, spinning included), the speedup and
the core-seconds a step costs on 2 threads over 1. A stage whose speedup is near 2 keeps its core-seconds and
shortens the critical path when it runs alone; one near 1 only doubles what it holds.

Run it on an idle machine: with another job on the second core, a second thread waits for it.
Prints the figures and writes benchmarks/results/threads.json.

    python benchmarks/threads.py [--steps 150] [--threads 1 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from generation import code_commit
from training import default_config, mixture_pairs, save_default_base, trainer_hparams, world_pairs

from online_rlhf.train import trainers

RESULTS = ROOT / "benchmarks" / "results" / "threads.json"


def timed_cpu(fn) -> tuple[float, float]:
    """Wall and process CPU seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=150, help="optimizer steps per stage and thread count (fewer time mostly start-up)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts; the first is the baseline")
    ap.add_argument("--output", type=Path, default=RESULTS)
    a = ap.parse_args()
    config = default_config()
    result: dict = {"commit": code_commit(), "machine": platform.processor() or platform.machine(), "steps": a.steps, "threads": a.threads}
    from trl import DPOTrainer, RewardTrainer, SFTTrainer  # noqa: F401  (imports paid before the first timing)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = save_default_base(config, root / "base")
        pairs = world_pairs(32 * a.steps, seed=0)
        sft_hp, dpo_hp, rm_hp = (trainer_hparams(config, s, a.steps) for s in ("sft", "dpo", "reward_model"))
        sft_rows = [{"messages": r["prompt"] + [{"role": "assistant", "content": r["chosen"]}]} for r in pairs]
        dpo_rows, _ = trainers.trainable_pairs(base, pairs, dpo_hp["max_length"])
        rm_rows, _ = trainers.trainable_pairs(base, mixture_pairs(config, root, seed=0), rm_hp["max_length"], tokenized=True)
        stages = {
            "sft": lambda out, n: trainers.train_sft(base, sft_rows, sft_hp, out, seed=1, threads=n),
            "reward_model": lambda out, n: trainers.train_reward_model(base, rm_rows, rm_hp, out, seed=1, threads=n),
            "dpo": lambda out, n: trainers.train_dpo(base, base, dpo_rows, dpo_hp, out, seed=1, threads=n),
        }
        baseline = a.threads[0]
        for stage, train in stages.items():
            runs = {}
            for n in a.threads:
                wall, cpu = timed_cpu(lambda s=stage, t=train, n=n: t(str(root / s / str(n)), n))
                runs[str(n)] = {"seconds": wall, "cpu_seconds": cpu, "steps_per_second": a.steps / wall}
            for n in a.threads[1:]:
                runs[f"speedup_{n}_over_{baseline}"] = runs[str(baseline)]["seconds"] / runs[str(n)]["seconds"]
                # what the stage holds: n cores for its wall time, against the baseline's cores for its own
                runs[f"core_seconds_{n}_over_{baseline}"] = n * runs[str(n)]["seconds"] / (baseline * runs[str(baseline)]["seconds"])
            result[stage] = runs
            print(f"{stage}: " + ", ".join(f"{n} thread(s) {runs[str(n)]['seconds']:.1f} s ({runs[str(n)]['cpu_seconds']:.1f} CPU s)" for n in a.threads)
                  + "".join(f"; {n} against {baseline}: {runs[f'speedup_{n}_over_{baseline}']:.2f}x the speed, "
                            f"{runs[f'core_seconds_{n}_over_{baseline}']:.2f}x the core-seconds" for n in a.threads[1:]))
    a.output.parent.mkdir(parents=True, exist_ok=True)
    a.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
