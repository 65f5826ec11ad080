"""Preemption-safe training: periodic checkpoints beside the model folder, resumption from the last complete one, and
a SIGTERM (SLURM's preemption/time-limit signal) that saves a checkpoint at the end of the current step.

Snakemake deletes a failed job's declared outputs before it runs the job again, so checkpoints live in
`<output>.checkpoints/<run key>/checkpoint-<step>/`, which no rule declares. The run key is a hash of everything the
result depends on (hyperparameters, seed, process count, training rows, the input model files), so a checkpoint is
only ever resumed by the same run; once the final model is saved, the whole folder is removed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import signal
from pathlib import Path
from typing import Any

log = logging.getLogger("checkpoints")

DEFAULT_CHECKPOINT_STEPS = 500  # config: <section>.checkpoint_steps
COMPLETE_MARKER = "trainer_state.json"  # transformers writes it last, after weights, optimizer and RNG states
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_root(output: str | Path) -> Path:
    return Path(f"{Path(output)}.checkpoints")


def run_key(hparams: dict, seed: int, processes: int, rows: list[dict], model_dirs: list[str | Path]) -> str:
    """Hash of what a training run's result depends on: a checkpoint of another run (changed config, data or input
    model) is never resumed."""
    h = hashlib.sha256()
    h.update(json.dumps({"hparams": hparams, "seed": seed, "processes": processes}, sort_keys=True).encode())
    for row in rows:
        h.update(json.dumps(row, sort_keys=True, default=str).encode())
    for d in model_dirs:
        for f in sorted(Path(d).rglob("*")):
            if f.is_file():
                st = f.stat()
                h.update(f"{f.relative_to(d)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def last_complete_checkpoint(folder: str | Path) -> Path | None:
    """Highest-step checkpoint that was written to the end (a job killed while saving leaves a partial one)."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    done = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _CHECKPOINT.match(p.name)) and (p / COMPLETE_MARKER).is_file()]
    return max(done)[1] if done else None


def checkpoint_args(hp: dict) -> dict[str, Any]:
    """TrainingArguments for periodic checkpoints (`checkpoint_steps: null` turns them off)."""
    steps = hp.get("checkpoint_steps", DEFAULT_CHECKPOINT_STEPS)
    if steps is None:
        return {"save_strategy": "no"}
    # One kept checkpoint is enough: transformers removes the older one only after the new one is complete.
    return {"save_strategy": "steps", "save_steps": steps, "save_total_limit": 1}


def make_stop_on_signal():
    """A TrainerCallback that turns SIGTERM into 'save a checkpoint after this step, then stop'."""
    from transformers import TrainerCallback

    class StopOnSignal(TrainerCallback):
        def __init__(self):
            self.received: str | None = None
            self._previous = None

        def _handle(self, signum, frame):
            self.received = signal.Signals(signum).name
            log.warning("%s received: saving a checkpoint at the end of this step, then stopping", self.received)

        def on_train_begin(self, args, state, control, **kwargs):
            self._previous = signal.signal(signal.SIGTERM, self._handle)

        def on_step_end(self, args, state, control, **kwargs):
            if self.received:
                control.should_save = True
                control.should_training_stop = True

        def on_train_end(self, args, state, control, **kwargs):
            if self._previous is not None:
                signal.signal(signal.SIGTERM, self._previous)

    return StopOnSignal()


class TrainingInterrupted(SystemExit):
    """Training stopped on a signal after saving a checkpoint: the job fails so Snakemake/SLURM run it again."""


def train_resumable(trainer, stop, run_dir: Path) -> dict:
    """trainer.train(), resumed from the last complete checkpoint in `run_dir` if there is one. Raises
    TrainingInterrupted when `stop` (the StopOnSignal callback) saw a signal."""
    resume = last_complete_checkpoint(run_dir)
    if resume:
        log.info("resuming from %s (step %s)", resume, resume.name.split("-")[1])
    else:
        log.info("no checkpoint in %s: training from step 0", run_dir)
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    if stop.received:
        raise TrainingInterrupted(
            f"training stopped by {stop.received} at step {trainer.state.global_step}; checkpoint saved in {run_dir}: "
            "run the job again to resume from it"
        )
    return {"resumed_from_step": int(resume.name.split("-")[1]) if resume else 0}


def remove_checkpoints(output: str | Path) -> None:
    shutil.rmtree(checkpoint_root(output), ignore_errors=True)
