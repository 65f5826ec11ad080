"""Training overheads: TRL's fused LM head with its own vocabulary tiles against tiles fitted to the vocabulary
(SFT and DPO), the reward model's pair preparation done twice (a length check, then TRL's tokenization) against
once, and the reward model's batches drawn at random against length-grouped. Same data, same seed, same run; the
first two comparisons also check the trained weights are byte-identical (grouping changes which rows share a batch,
so its weights differ by design; it reports the padding each order costs instead).

Builds the default config's model (its architecture and the made-up world's tokenizer, random init: step time depends
on shapes, not on what the weights learned) and world rows, then times:
- SFT and DPO with `fit_logprob_tiles_to_vocabulary` off (TRL 1.16's 32,768-column tiles) and on;
- turning preference pairs into the RM's training rows the old way (one apply_chat_template call per side for the
  length rule, then TRL's own per-row tokenization) and with `trainable_pairs(..., tokenized=True)`;
- the reward model on the default config's mix2 sources (the world's own datasets, synthesised and normalised as the
  workflow does; multi-turn rows included) with random batches, length-grouped ones (`group_by_length`) and random
  ones packed (`padding_free`).
Prints the figures and writes benchmarks/results/training.json.

    python benchmarks/training.py [--steps 60] [--pairs 4000] [--threads 1]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import random
import sys
import tempfile
from pathlib import Path

import yaml
from datasets import Dataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from generation import code_commit, timed

from online_rlhf.config import validate_config
from online_rlhf.core.records import read_records, write_jsonl
from online_rlhf.data.sources import convert_pairs
from online_rlhf.train import trainers
from online_rlhf.train.models import build_base_model, build_tokenizer, load_tokenizer
from online_rlhf.train.packing import packed_layout
from online_rlhf.world.datasets import synthesise
from online_rlhf.world.task import ERROR_KINDS, WorldSpec, corrupt, draw_queries, target_response

RESULTS = ROOT / "benchmarks" / "results" / "training.json"
# The reward model's ways of batching the same rows, each setting both options so none inherits the config's own (a
# config that packs would otherwise make the padded arm packed too); the first is the baseline.
RM_BATCH_ARMS = {
    "random": {"group_by_length": False, "padding_free": False},
    "length_grouped": {"group_by_length": True, "padding_free": False},
    "padding_free": {"group_by_length": False, "padding_free": True},
}


def default_config() -> dict:
    """config/config.yaml with the schema's defaults filled in, as the workflow reads it."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    validate_config(config)
    return config


def trainer_hparams(config: dict, section: str, steps: int) -> dict:
    """A training section as its rule hands it to the trainer (rules/common.smk, training_hparams), cut to `steps`."""
    skip = {"dataset", "mixture", "heldout", "name", "enabled", "accelerate_config"}
    return {**{k: v for k, v in config[section].items() if k not in skip}, "max_steps": steps, "logging_steps": 10}


def save_default_base(config: dict, folder: Path) -> str:
    """The config's base model (its architecture, the world's character tokenizer, random init) saved in `folder`."""
    tok = build_tokenizer([config["world"]["alphabet"]])
    build_base_model(tok, config["models"]["base"]["architecture"], seed=0).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def world_pairs(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    spec = WorldSpec()
    return [
        {"prompt": [{"role": "user", "content": q}], "chosen": target_response(q), "rejected": corrupt(q, rng.choice(ERROR_KINDS), rng, spec)}
        for q in draw_queries(rng, spec, "preference", n, unique=False)
    ]


def sha(folder: Path) -> str:
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


def with_tiles(fitted: bool, train):
    """Run `train` with TRL's own tiles (fitted False) or with tiles fitted to the vocabulary."""
    from trl.trainer import utils

    fit = trainers.fit_logprob_tiles_to_vocabulary
    if not fitted:
        trainers.fit_logprob_tiles_to_vocabulary = lambda model: None
        utils._CHUNKED_LOGPROB_CHUNK_SIZE = trainers.trl_logprob_tile()
    try:
        return train()
    finally:
        trainers.fit_logprob_tiles_to_vocabulary = fit


def two_pass_pair_rows(model_dir: str, rows: list[dict], max_length: int) -> int:
    """The RM's row preparation before tokenizing once: a per-conversation length check, then TRL's per-row
    tokenization of the rows that fit (trl.data_utils._tokenize, what RewardTrainer maps over the dataset)."""
    from trl.data_utils import _tokenize

    tok = load_tokenizer(model_dir)

    def conversation(row, side):
        return row["prompt"] + [{"role": "assistant", "content": row[side]}]

    fits = [r for r in rows if max(len(_tokenize(tok, conversation(r, s))["input_ids"]) for s in ("chosen", "rejected")) <= max_length]
    tokenized = [{s + "_ids": _tokenize(tok, conversation(r, s))["input_ids"] for s in ("chosen", "rejected")} for r in fits]
    return len(tokenized)


def mixture_pairs(config: dict, folder: Path, seed: int) -> list[dict]:
    """The reward model's mixture sources of `config` as canonical pairs: each synthesised in its native format at
    the config's size and normalised by its adapter, as rules/data.smk does (the mixture's sampling left out)."""
    spec = WorldSpec(**config["world"])
    pairs = []
    for name in config["mixtures"][config["reward_model"]["mixture"]]["sources"]:
        dataset = config["datasets"][name]
        path = folder / f"{name}.jsonl"
        write_jsonl(synthesise(dataset["format"], spec, dataset["synthetic"]["rows"], seed), path)
        pairs += convert_pairs(read_records([path]), dataset["format"], name, dataset.get("options")).table.to_dicts()
    return pairs


def padding_ratio(rows: list[dict], order: list[int], batch: int, packed: bool = False) -> float:
    """Tokens computed over real tokens for the RM's rows taken in `order`, both sides of every pair: each batch padded
    to its longest conversation (TRL's collator), or `packed` end to end (online_rlhf.train.packing)."""
    computed = real = 0
    for s in range(0, len(order), batch):
        sequences = [rows[i][side] for side in ("chosen_ids", "rejected_ids") for i in order[s : s + batch]]
        real += sum(len(q) for q in sequences)
        if packed:
            layout = packed_layout(sequences, pad_token_id=0)
            computed += len(layout["input_ids"]) * len(layout["input_ids"][0])
        else:
            computed += len(sequences) * max(len(q) for q in sequences)
    return computed / real


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=60, help="optimizer steps per SFT / DPO timing")
    ap.add_argument("--pairs", type=int, default=4000, help="preference pairs for the RM row preparation")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--output", type=Path, default=RESULTS)
    a = ap.parse_args()
    commit = code_commit()
    result: dict = {"commit": commit, "machine": platform.processor() or platform.machine(), "threads": a.threads, "steps": a.steps}
    config = default_config()
    # Imported before any timing, so the first timed run does not pay TRL's and the trainers' imports.
    from trl import DPOTrainer, SFTTrainer  # noqa: F401

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = save_default_base(config, root / "base")
        pairs = world_pairs(max(a.pairs, 32 * a.steps), seed=0)
        result["vocabulary"] = len(load_tokenizer(base))

        sft_hp = trainer_hparams(config, "sft", a.steps)
        dpo_hp = trainer_hparams(config, "dpo", a.steps)
        sft_rows = [{"messages": r["prompt"] + [{"role": "assistant", "content": r["chosen"]}]} for r in pairs[: 32 * a.steps]]
        dpo_rows, _ = trainers.trainable_pairs(base, pairs[: 32 * a.steps], dpo_hp["max_length"])
        for stage, train in (
            ("sft", lambda out: trainers.train_sft(base, sft_rows, sft_hp, out, seed=1, threads=a.threads)),
            ("dpo", lambda out: trainers.train_dpo(base, base, dpo_rows, dpo_hp, out, seed=1, threads=a.threads)),
        ):
            runs = {}
            for name, fitted in (("trl_tiles", False), ("fitted_tiles", True)):
                out = root / stage / name
                _, seconds = timed(lambda o=out, f=fitted, t=train: with_tiles(f, lambda: t(str(o))))
                runs[name] = {"seconds": seconds, "steps_per_second": a.steps / seconds, "weights_sha256": sha(out)}
            runs["speedup"] = runs["trl_tiles"]["seconds"] / runs["fitted_tiles"]["seconds"]
            runs["identical_weights"] = runs["trl_tiles"]["weights_sha256"] == runs["fitted_tiles"]["weights_sha256"]
            result[stage] = runs
            print(f"{stage}: {a.steps} steps with TRL's tiles {runs['trl_tiles']['seconds']:.1f} s, fitted {runs['fitted_tiles']['seconds']:.1f} s "
                  f"({runs['speedup']:.2f}x); identical weights: {runs['identical_weights']}")

        rm_rows = pairs[: a.pairs]
        max_length = config["reward_model"]["max_length"]
        kept_twice, twice = timed(lambda: two_pass_pair_rows(base, rm_rows, max_length))
        (kept_once, _), once = timed(lambda: trainers.trainable_pairs(base, rm_rows, max_length, tokenized=True))
        result["rm_pair_rows"] = {"pairs": a.pairs, "two_pass_seconds": twice, "once_seconds": once, "speedup": twice / once,
                                  "same_rows_kept": kept_twice == len(kept_once)}
        print(f"RM rows for {a.pairs} pairs: two passes {twice:.2f} s, once {once:.2f} s ({twice / once:.2f}x)")

        rm_hp = trainer_hparams(config, "reward_model", a.steps)
        batch = rm_hp["global_batch_size"]
        mix_rows, _ = trainers.trainable_pairs(base, mixture_pairs(config, root, seed=0), max_length, tokenized=True)
        lengths = trainers.padded_lengths(Dataset.from_list(mix_rows))
        shuffled = list(range(len(lengths)))
        random.Random(0).shuffle(shuffled)
        grouped = trainers.length_grouped_order(lengths, batch, random.Random(0))
        runs = {"pairs": len(mix_rows), "mean_tokens": sum(lengths) / len(lengths), "max_tokens": max(lengths)}
        orders = {"random": shuffled, "length_grouped": grouped, "padding_free": shuffled}
        arms = [(name, option, orders[name], option["padding_free"]) for name, option in RM_BATCH_ARMS.items()]
        for name, option, order, packed in arms:
            out = root / "rm" / name
            _, seconds = timed(lambda o=option, d=out: trainers.train_reward_model(base, mix_rows, {**rm_hp, **o}, str(d), seed=1, threads=a.threads))
            runs[name] = {"seconds": seconds, "steps_per_second": a.steps / seconds, "padded_over_real_tokens": padding_ratio(mix_rows, order, batch, packed),
                          "losses": [h["loss"] for h in json.loads((out / "train_log.json").read_text()) if "loss" in h]}
        for name in ("length_grouped", "padding_free"):
            runs[f"{name}_speedup"] = runs["random"]["seconds"] / runs[name]["seconds"]
        # Packing keeps the random batches, so its loss curve follows the padded one up to float rounding.
        runs["padding_free_max_loss_change"] = max(abs(x - y) for x, y in zip(runs["random"]["losses"], runs["padding_free"]["losses"], strict=True))
        result["rm_batches"] = runs
        print(f"RM {a.steps} steps on mix2's {len(mix_rows)} pairs: random batches {runs['random']['seconds']:.1f} s "
              f"(padding {runs['random']['padded_over_real_tokens']:.2f}x), length-grouped {runs['length_grouped']['seconds']:.1f} s "
              f"(padding {runs['length_grouped']['padded_over_real_tokens']:.2f}x; {runs['length_grouped_speedup']:.2f}x), "
              f"padding-free {runs['padding_free']['seconds']:.1f} s (padding {runs['padding_free']['padded_over_real_tokens']:.2f}x; "
              f"{runs['padding_free_speedup']:.2f}x, largest change of a logged loss {runs['padding_free_max_loss_change']:.2g})")
    a.output.parent.mkdir(parents=True, exist_ok=True)
    a.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
