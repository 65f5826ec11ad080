"""Thin wrappers over TRL's SFT, reward and DPO trainers: map the workflow's config onto TRL configs, nothing more."""

from __future__ import annotations

import functools
import json
import os
import random
from pathlib import Path
from typing import Any

from online_rlhf.train.checkpoints import (
    checkpoint_args,
    checkpoint_root,
    make_stop_on_signal,
    remove_checkpoints,
    run_key,
    train_resumable,
)
from online_rlhf.train.models import chat_token_ids, load_tokenizer, seed_everything, torch_dtype
from online_rlhf.train.packing import PackedPreferenceCollator, padding_free

# Keys every training section of the config shares; the rest are trainer-specific.
COMMON_KEYS = {
    "epochs", "max_steps", "learning_rate", "lr_scheduler", "warmup_ratio", "global_batch_size",
    "per_device_batch_size", "max_length", "precision", "gradient_checkpointing", "logging_steps", "weight_decay",
    "checkpoint_steps", "group_by_length",
}


def world_size() -> int:
    """Processes in this launch (accelerate/torchrun/srun set WORLD_SIZE); 1 for a plain `python` run."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Rank 0 of the launch (torchrun under accelerate sets RANK; a plain `python` run is rank 0): the one process
    that writes the model folder's extra files and the metrics JSON."""
    return int(os.environ.get("RANK", "0")) == 0


def end_launch() -> None:
    """The last call of a training script. In a multi-process launch every rank waits until rank 0 has written the
    metrics, then the process group is torn down; a rank other than 0 then leaves without running C++ destructors.
    Why: under load, rank 1 of a DeepSpeed ZeRO-3 launch on CPU aborted at interpreter exit ("terminate called without
    an active exception", SIGABRT) after a complete, saved run, and the launcher failed the job (paper smoke,
    2026-12-01): a communication thread was still joinable when the process ended."""
    import torch.distributed as dist

    if world_size() == 1 or not (dist.is_available() and dist.is_initialized()):
        return
    dist.barrier()
    dist.destroy_process_group()
    if not is_main_process():
        import logging
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(0)


def threads_per_process(threads: int | None, env=os.environ) -> int | None:
    """The rule's `threads` are the job's; the processes a launch starts on one node share them (at least 1 each)."""
    if not threads:
        return threads
    return max(1, threads // int(env.get("LOCAL_WORLD_SIZE", "1")))


def uses_deepspeed(env=os.environ) -> bool:
    """`accelerate launch` with a DeepSpeed config marks the processes it starts with ACCELERATE_USE_DEEPSPEED."""
    return env.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"


def launch_args(hp: dict, cuda: bool, env=os.environ) -> dict[str, Any]:
    """TrainingArguments that make the Trainer see the launch that started it.

    - The section's `precision` is the one setting; the launcher passes it as `--mixed_precision`
      (online_rlhf/train/launch.py). transformers reads ACCELERATE_MIXED_PRECISION as the default, so a launch that
      disagrees (an accelerate config run by hand with `mixed_precision: bf16` for an fp32 section) would change the
      arithmetic silently: refused.
    - A machine without GPUs (CPU tests, CPU clusters), several processes: under DeepSpeed, accelerate 1.15's
      PartialState finds no GPU backend, initialises DeepSpeed's communication anyway and then counts
      `num_processes = 1` because its own backend is None; the Trainer then computes DeepSpeed's train_batch_size for
      one process and DeepSpeed (which sees all of them) fails "train_batch_size is not equal to micro_batch_per_gpu *
      gradient_acc_step * world_size 16 != 16 * 1 * 2"; without that check every rank would train on the whole data
      and think it is rank 0. Naming the backend (`gloo`, what DeepSpeed's CPU accelerator uses) makes it count the
      processes. Without DeepSpeed, `use_cpu` makes accelerate set up DDP over gloo (MULTI_CPU); the GPU configs'
      MULTI_GPU type would otherwise leave the model unwrapped on CPU. `use_cpu` is also what lets transformers run
      bf16 autocast on CPU ("Your setup doesn't support bf16/gpu" otherwise).
    """
    wanted = "bf16" if hp.get("precision", "fp32") == "bf16" else "no"
    launched = env.get("ACCELERATE_MIXED_PRECISION")
    if launched is not None and launched.lower() != wanted:
        raise ValueError(
            f"precision {hp.get('precision', 'fp32')!r} in the config section, but the launch asks for mixed precision "
            f"{launched!r} (accelerate's --mixed_precision / the accelerate config's mixed_precision): launch with "
            f"--mixed_precision {wanted}, as the workflow's launcher does"
        )
    if cuda:
        return {}
    return {"ddp_backend": "gloo"} if uses_deepspeed(env) else {"use_cpu": True}


def gradient_accumulation(global_batch: int, per_device: int, processes: int) -> int:
    """Steps to accumulate so that per_device x processes x steps equals the recipe's global batch exactly."""
    per_step = per_device * processes
    if global_batch % per_step:
        raise ValueError(
            f"global_batch_size {global_batch} is not a multiple of per_device_batch_size {per_device} x "
            f"{processes} processes = {per_step}; change one of them so the recipe's batch is kept exactly"
        )
    return global_batch // per_step


def common_args(hp: dict[str, Any], output_dir: str | Path, seed: int) -> dict[str, Any]:
    import torch

    accum = gradient_accumulation(hp["global_batch_size"], hp["per_device_batch_size"], world_size())
    # bf16 is autocast over fp32 master weights (see MASTER_DTYPE); under DeepSpeed its bf16 mode does the same.
    bf16 = hp.get("precision", "fp32") == "bf16"
    return {
        "output_dir": str(output_dir),
        "num_train_epochs": hp["epochs"],
        "max_steps": hp.get("max_steps") or -1,
        "learning_rate": hp["learning_rate"],
        "lr_scheduler_type": hp.get("lr_scheduler", "cosine"),
        "warmup_steps": hp.get("warmup_ratio", 0.0),  # a float < 1 is a ratio of total steps in transformers 5
        "weight_decay": hp.get("weight_decay", 0.0),
        "per_device_train_batch_size": hp["per_device_batch_size"],
        "gradient_accumulation_steps": accum,
        "gradient_checkpointing": hp.get("gradient_checkpointing", False),
        "bf16": bf16,
        "fp16": False,
        "logging_steps": hp.get("logging_steps", 10),
        **checkpoint_args(hp),
        "report_to": "none",
        "seed": seed,
        "data_seed": seed,
        "dataloader_num_workers": 0,
        "disable_tqdm": False,
        **launch_args(hp, torch.cuda.is_available()),
    }


# Trained weights are always loaded, updated and saved in fp32; `precision: bf16` is bf16 autocast (Trainer) or
# DeepSpeed's bf16 mode (bf16 compute, fp32 master weights in the optimizer). AdamW on bf16 weights loses every update
# below bf16's resolution: at the paper's lr 5e-7, w - 5e-7 == w in bf16 for |w| >= 2**-14, and the iterate stays its
# init.
MASTER_DTYPE = "float32"


def frozen_dtype(hp: dict):
    """dtype of a model that is only evaluated during training (DPO's reference): the compute precision."""
    return torch_dtype("bfloat16" if hp.get("precision") == "bf16" else "float32")


def checked_args(config_class, **kwargs):
    """The trainer's config, built before any model is loaded: under ZeRO-3 its DeepSpeed plugin registers the config
    transformers' from_pretrained reads, so the weights are partitioned across the ranks as they load
    (`zero3_init_flag`) instead of every rank holding full copies of policy and reference. Fails when the Trainer
    sees another number of processes than the launch started (the gradient accumulation assumed it)."""
    args = config_class(**kwargs)
    if args.world_size != world_size():
        raise RuntimeError(
            f"the Trainer sees {args.world_size} process(es) but the launch started {world_size()} (WORLD_SIZE): "
            "the global batch would be wrong; see online_rlhf.train.trainers.launch_args"
        )
    return args


def length_grouped_order(lengths: list[int], batch_size: int, rng: random.Random, batches_per_group: int = 50) -> list[int]:
    """One epoch's row order in batches of similar length: the rows in random order, cut into groups of
    `batches_per_group` batches, each group sorted by length and cut into batches, the full batches then shuffled.

    Why: a batch is padded to its longest row, and in the default reward model's mixture (rows of 12-38 tokens,
    mean 16.6) random batches of 32 pairs padded to 1.86x the real tokens (measured 2026-12-02; benchmarks/training.py
    prints it). Every row is seen once per epoch as before; only which rows share a batch changes (and with it what is
    learned: docs/world.md, "What was tried"). Unlike transformers' LengthGroupedSampler the batches of a group are not
    consumed longest first (a long-to-short sweep in every group of 50 batches), and a short last batch stays last, so
    each `batch_size` slice of the order is one whole batch.
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    group = batches_per_group * batch_size
    batches = []
    for start in range(0, len(order), group):
        members = sorted(order[start : start + group], key=lambda i: lengths[i])
        batches += [members[i : i + batch_size] for i in range(0, len(members), batch_size)]
    short = [b for b in batches if len(b) < batch_size]  # at most one: the last group's last batch
    full = [b for b in batches if len(b) == batch_size]
    rng.shuffle(full)
    return [i for batch in full + short for i in batch]


class LengthGroupedSampler:
    """Row order of `length_grouped_order`, reseeded each epoch from (seed, epoch) as accelerate's seedable sampler
    is: every rank draws the same order, and a job resumed from a checkpoint redraws the epoch it stopped in.
    `batch_size` is the global batch (per device x processes x accumulation), so one optimizer step takes the same
    rows whatever the launch."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int):
        self.lengths, self.batch_size, self.seed, self.epoch = lengths, batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        return iter(length_grouped_order(self.lengths, self.batch_size, random.Random(f"{self.seed}:{self.epoch}")))


def padded_lengths(dataset) -> list[int]:
    """Tokens each row of a trainer's processed dataset pads to in a batch: `input_ids` (SFT, pairwise model), or the
    prompt plus the longer reply (`chosen_ids`/`rejected_ids`, with `prompt_ids` for DPO; the reward model's rows
    hold the whole conversation per side)."""
    columns = set(dataset.column_names)
    if "input_ids" in columns:
        return [len(ids) for ids in dataset["input_ids"]]
    if {"chosen_ids", "rejected_ids"} <= columns:
        prompts = dataset["prompt_ids"] if "prompt_ids" in columns else [()] * len(dataset)
        return [len(p) + max(len(c), len(r)) for p, c, r in zip(prompts, dataset["chosen_ids"], dataset["rejected_ids"], strict=True)]
    raise ValueError(f"cannot group by length: the processed training rows have neither input_ids nor chosen_ids/rejected_ids (columns: {sorted(columns)})")


@functools.cache
def length_grouped(trainer_class):
    """`trainer_class` with its training batches drawn by LengthGroupedSampler (a section's `group_by_length`)."""

    class LengthGrouped(trainer_class):
        def _get_train_sampler(self, train_dataset=None):
            dataset = self.train_dataset if train_dataset is None else train_dataset
            args = self.args
            batch = args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size
            return LengthGroupedSampler(padded_lengths(dataset), batch, args.data_seed if args.data_seed is not None else args.seed)

    LengthGrouped.__name__ = LengthGrouped.__qualname__ = f"LengthGrouped{trainer_class.__name__}"
    return LengthGrouped


def trainer_class(base, hp: dict):
    """The TRL trainer class a config section asks for: `base`, or `base` drawing length-grouped batches."""
    return length_grouped(base) if hp.get("group_by_length", False) else base


def _dataset(rows: list[dict]):
    from datasets import Dataset

    if not rows:
        raise ValueError("no training rows: the input table is empty")
    return Dataset.from_list(rows)


def is_timing_key(key: str) -> bool:
    """Trainer log keys that measure wall time (train_runtime, train_samples_per_second, eval_runtime, ...)."""
    return key.endswith(("_runtime", "_per_second"))


def _run_dir(hp: dict, output: str, seed: int, rows: list[dict], model_dirs: list[str]) -> Path:
    """This run's checkpoint folder: beside the output (Snakemake deletes a failed job's outputs), keyed by the run."""
    return checkpoint_root(output) / run_key(hp, seed, world_size(), rows, model_dirs)


def parameters_held(model) -> dict[str, int]:
    """Parameter elements this process holds, of the model's total. DeepSpeed's ZeRO-3 init (zero.Init, entered by
    from_pretrained when the trainer's config exists first) leaves each rank about 1/world of them, marked with
    `ds_numel` (full size) and `ds_tensor` (this rank's shard); otherwise every rank holds them all."""
    held = total = 0
    for p in model.parameters():
        total += getattr(p, "ds_numel", p.numel())
        held += p.ds_tensor.numel() if hasattr(p, "ds_tensor") else p.numel()
    return {"held": held, "total": total}


def fit_logprob_tiles_to_vocabulary(model) -> None:
    """Make TRL's fused LM head (SFT and DPO trainers) tile the vocabulary no wider than the model's vocabulary.

    Why: TRL 1.16 computes per-token log-probabilities over vocabulary tiles of a fixed 32,768 columns and allocates a
    [min(tokens, 4096), 32768] scratch buffer on every forward and backward, whatever the vocabulary. For the made-up
    world's 14-token vocabulary that is about 0.3 GB per call, and the allocation was 43% of SFT's and 47% of DPO's
    training time on CPU (cProfile, 2026-12-01). A vocabulary that fits in one tile is computed in one tile either
    way, so the numbers are the same; a vocabulary wider than the tile (every real model) is left as TRL tiles it.
    """
    from trl.trainer import utils

    if not hasattr(utils, "_CHUNKED_LOGPROB_CHUNK_SIZE"):
        raise RuntimeError(
            "trl.trainer.utils._CHUNKED_LOGPROB_CHUNK_SIZE is gone: the installed TRL is not the pinned 1.16; "
            "see fit_logprob_tiles_to_vocabulary in online_rlhf/train/trainers.py"
        )
    head = model.get_output_embeddings().weight
    rows = getattr(head, "ds_shape", head.shape)[0]  # under ZeRO-3 init a rank's tensor is empty; ds_shape is the full one
    utils._CHUNKED_LOGPROB_CHUNK_SIZE = min(trl_logprob_tile(), rows)


@functools.cache
def trl_logprob_tile() -> int:
    """TRL's own tile width, read once before fit_logprob_tiles_to_vocabulary first changes it: a later model of a wider
    vocabulary in the same process (tests) gets TRL's tiles again, not the narrow ones of the model before it."""
    from trl.trainer import utils

    return utils._CHUNKED_LOGPROB_CHUNK_SIZE


def _train_and_save(trainer, stop, run_dir: Path, tokenizer, output: Path, loaded: dict | None = None) -> dict:
    resumed = train_resumable(trainer, stop, run_dir)
    result = _finish(trainer, tokenizer, output)
    if trainer.is_world_process_zero():
        remove_checkpoints(output)  # the model is saved: nothing left to resume
    # `loaded`: parameters_held per model right after loading (rank 0's view), so the metrics show ZeRO-3 init.
    return {**result, **resumed, "parameters_at_load": loaded or {}}


def _finish(trainer, tokenizer, output: Path) -> dict:
    # Every rank takes part in saving (ZeRO-3 gathers the partitioned weights); the Trainer writes from rank 0 only.
    trainer.save_model(str(output))
    history = trainer.state.log_history
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(output))
        # Trainer pickles its arguments next to the weights; a pickle is neither needed to load the model nor safe to
        # open, and the folders stay safetensors-only.
        (output / "training_args.bin").unlink(missing_ok=True)
        # Throughput and runtime entries change from run to run; they stay in the job's log and benchmark file, so
        # the model folder is bit-identical across reruns (the reproducibility audit compares it byte for byte).
        steady = [{k: v for k, v in h.items() if not is_timing_key(k)} for h in history]
        (output / "train_log.json").write_text(json.dumps(steady, indent=1))
    trainer.accelerator.wait_for_everyone()  # the folder is complete before any rank returns
    losses = [h["loss"] for h in history if "loss" in h]
    return {"steps": trainer.state.global_step, "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None}


def train_sft(model_dir: str, rows: list[dict], hp: dict, output: str, seed: int, threads: int | None = None) -> dict:
    """Supervised fine-tuning on chat `messages`, loss on assistant turns only (the public recipe)."""
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    seed_everything(seed, threads_per_process(threads))
    tok = load_tokenizer(model_dir)
    run_dir = _run_dir(hp, output, seed, rows, [model_dir])
    args = checked_args(
        SFTConfig,
        **common_args(hp, run_dir, seed),
        max_length=hp["max_length"],
        packing=hp.get("packing", False),
        assistant_only_loss=hp.get("assistant_only_loss", True),
    )
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch_dtype(MASTER_DTYPE))
    loaded = {"policy": parameters_held(model)}
    fit_logprob_tiles_to_vocabulary(model)
    stop = make_stop_on_signal()
    trainer = trainer_class(SFTTrainer, hp)(model=model, args=args, train_dataset=_dataset(rows), processing_class=tok, callbacks=[stop])
    return _train_and_save(trainer, stop, run_dir, tok, Path(output), loaded)


def train_reward_model(init_dir: str, rows: list[dict], hp: dict, output: str, seed: int, threads: int | None = None) -> dict:
    """Bradley-Terry reward model: the chat model with a scalar head, loss -log sigmoid(r(x, a_w) - r(x, a_l))."""
    from transformers import AutoModelForSequenceClassification
    from trl import RewardConfig, RewardTrainer

    seed_everything(seed, threads_per_process(threads))
    tok = load_tokenizer(init_dir)
    run_dir = _run_dir(hp, output, seed, rows, [init_dir])
    args = checked_args(
        RewardConfig,
        **common_args(hp, run_dir, seed),
        max_length=hp["max_length"],
        center_rewards_coefficient=hp.get("center_rewards_coefficient"),
    )
    model = AutoModelForSequenceClassification.from_pretrained(init_dir, num_labels=1, dtype=torch_dtype(MASTER_DTYPE))
    model.config.pad_token_id = tok.pad_token_id
    loaded = {"reward_model": parameters_held(model)}
    stop = make_stop_on_signal()
    packed = hp.get("padding_free", False)
    trainer = trainer_class(padding_free(RewardTrainer) if packed else RewardTrainer, hp)(
        model=model,
        args=args,
        train_dataset=_dataset(rows),
        processing_class=tok,
        data_collator=PackedPreferenceCollator(tok.pad_token_id) if packed else None,
        callbacks=[stop],
    )
    return _train_and_save(trainer, stop, run_dir, tok, Path(output), loaded)


# In TRL 1.16 label smoothing enters only these losses; `sigmoid` ignores it (the old conservative-DPO form is gone),
# so a smoothing value with another loss would change nothing without a word.
LABEL_SMOOTHED_LOSSES = ("robust", "exo_pair", "aot", "aot_unpaired")


def dpo_loss_types(hp: dict) -> list[str]:
    losses = hp.get("loss_type", "sigmoid")
    return [losses] if isinstance(losses, str) else list(losses)


def label_smoothing_problem(hp: dict) -> str | None:
    """Why the section's label_smoothing would be ignored by TRL, or None."""
    if hp.get("label_smoothing", 0.0) and not set(dpo_loss_types(hp)) & set(LABEL_SMOOTHED_LOSSES):
        return (
            f"label_smoothing {hp['label_smoothing']} has no effect with loss_type {dpo_loss_types(hp)}: TRL 1.16 applies it "
            f"only in {', '.join(LABEL_SMOOTHED_LOSSES)} (for conservative/robust DPO use loss_type robust)"
        )
    return None


def dpo_loss_config(hp: dict) -> dict[str, Any]:
    """TRL loss settings for the recipe's options: loss type(s), an NLL/RPO term, label smoothing."""
    problem = label_smoothing_problem(hp)
    if problem:
        raise ValueError(problem)
    losses = dpo_loss_types(hp)
    weights = list(hp.get("loss_weights") or [1.0] * len(losses))
    if hp.get("rpo_alpha"):
        # RPO / "feel-good" NLL term: TRL's 'sft' loss on the chosen response, weighted by alpha.
        losses.append("sft")
        weights.append(float(hp["rpo_alpha"]))
    return {"loss_type": losses, "loss_weights": weights, "label_smoothing": hp.get("label_smoothing", 0.0), "beta": hp["beta"]}


def train_dpo(init_dir: str, ref_dir: str, rows: list[dict], hp: dict, output: str, seed: int, threads: int | None = None) -> dict:
    """DPO from `init_dir` against the fixed reference policy `ref_dir` (both explicit: the recipe's choice)."""
    from transformers import AutoModelForCausalLM
    from trl import DPOConfig, DPOTrainer

    seed_everything(seed, threads_per_process(threads))
    tok = load_tokenizer(init_dir)
    run_dir = _run_dir(hp, output, seed, rows, [init_dir, ref_dir])
    args = checked_args(
        DPOConfig, **common_args(hp, run_dir, seed), max_length=hp["max_length"],
        precompute_ref_log_probs=hp.get("precompute_ref_log_probs", False), **dpo_loss_config(hp),
    )
    model = AutoModelForCausalLM.from_pretrained(init_dir, dtype=torch_dtype(MASTER_DTYPE))
    ref = AutoModelForCausalLM.from_pretrained(ref_dir, dtype=frozen_dtype(hp))
    loaded = {"policy": parameters_held(model), "reference": parameters_held(ref)}
    fit_logprob_tiles_to_vocabulary(model)
    stop = make_stop_on_signal()
    trainer = trainer_class(DPOTrainer, hp)(model=model, ref_model=ref, args=args, train_dataset=_dataset(rows), processing_class=tok, callbacks=[stop])
    return _train_and_save(trainer, stop, run_dir, tok, Path(output), loaded)


def conversational_pair(row: dict) -> dict:
    """Canonical pair row -> TRL's conversational preference format."""
    return {
        "prompt": row["prompt"],
        "chosen": [{"role": "assistant", "content": row["chosen"]}],
        "rejected": [{"role": "assistant", "content": row["rejected"]}],
    }


def pair_token_ids(tokenizer, rows: list[dict]) -> tuple[list[list[int]], list[list[int]]]:
    """Token ids of prompt + chosen and prompt + rejected for every pair, chat-templated exactly as TRL's
    RewardTrainer tokenizes a conversational pair (apply_chat_template, tokenize=True), one batch call per side."""
    sides = []
    for side in ("chosen", "rejected"):
        conversations = [row["prompt"] + [{"role": "assistant", "content": row[side]}] for row in rows]
        sides.append(chat_token_ids(tokenizer, conversations))
    return sides[0], sides[1]


def trainable_pairs(tokenizer_dir: str, rows: list[dict], max_length: int, tokenized: bool = False) -> tuple[list[dict], dict]:
    """Canonical pairs -> TRL rows that fit, plus the counts for the metrics file.

    `tokenized`: rows of token ids (`chosen_ids`, `rejected_ids`), which TRL's RewardTrainer takes as already
    processed; the pairs are then tokenized once here, not once for the length rule and again by TRL (8 s and 11 s
    of the default reward model's job on 13.5K pairs, 2026-12-01). DPOTrainer tokenizes prompt and replies apart, so
    its rows stay conversational.
    """
    chosen_ids, rejected_ids = pair_token_ids(load_tokenizer(tokenizer_dir), rows)
    # Stated rule: a pair whose longer side exceeds max_length tokens is left out of training and counted (TRL's
    # RewardTrainer would drop it without a word; a truncated DPO pair would compare two clipped replies).
    kept = [
        {"chosen_ids": c, "rejected_ids": r} if tokenized else conversational_pair(row)
        for row, c, r in zip(rows, chosen_ids, rejected_ids, strict=True)
        if max(len(c), len(r)) <= max_length
    ]
    return kept, {"pairs_in": len(rows), "pairs_trained": len(kept), "dropped_over_length": len(rows) - len(kept)}
