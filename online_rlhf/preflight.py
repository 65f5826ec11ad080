"""Preflight: what would fail hours into a cluster run, checked in seconds on the login node (`snakemake preflight`).

For every configured model and tokenizer: the pad token and chat template adopt_base_model would apply (the same
checks, train.models.tokenizer_problems), the configured max lengths against the model's positions, each training
section's launcher (pure bf16 weights are refused: AdamW on them rounds the paper's 5e-7 updates away; the trainers
keep fp32 master weights), and that every Hub download is complete and at the configured revision.
Every problem names the config key that fixes it; notes (a branch name where a commit would pin bytes) do not fail."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from online_rlhf.core.offline import PREFETCH_HINT, PREFETCH_RECORD, prefetch_record
from online_rlhf.train.models import apply_tokenizer_spec, package_dir, tokenizer_problems

TRAINING_SECTIONS = ("sft", "reward_model", "preference_model", "dpo", "offline_dpo")
COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def model_location(name: str, spec: dict, root: Path) -> tuple[Path | None, str | None, str]:
    """(folder, gguf file, what) a models.<name> entry is read from before adoption; folder None for synthetic."""
    source = spec["source"]
    if source == "synthetic":
        return None, None, "built by the workflow"
    if source == "hub":
        return root / "resources/models/prefetched" / name, None, f"{spec['repo']}@{spec['revision']}"
    if source == "local":
        return root / spec["path"], None, "local folder"
    return package_dir(spec["package"]), spec.get("file"), f"package {spec['package']}"


def check_prefetch(key: str, spec: dict, folder: Path, findings: Findings) -> bool:
    """A Hub download exists, finished (PREFETCH.json) and is the configured revision; True when usable."""
    record = prefetch_record(folder)
    if record is None:
        state = "is missing" if not folder.exists() else f"has no {PREFETCH_RECORD} (an interrupted download)"
        findings.problems.append(f"{key}: {spec['repo']}@{spec['revision']} is not prefetched: {folder} {state}; {PREFETCH_HINT}")
        return False
    if record.get("revision") != spec["revision"] or record.get("repo") != spec["repo"]:
        findings.problems.append(
            f"{key}.revision: {folder} holds {record.get('repo')}@{record.get('revision')}, the config names "
            f"{spec['repo']}@{spec['revision']}; delete the folder and prefetch again"
        )
        return False
    if not COMMIT.match(spec["revision"]):
        findings.notes.append(f"{key}.revision: {spec['revision']!r} is a branch or tag (prefetched as commit {record.get('commit')}); pin the commit to freeze it")
    return True


def positions(config_json: dict) -> int | None:
    return config_json.get("max_position_embeddings") or config_json.get("n_positions")


def check_model(name: str, spec: dict, root: Path, findings: Findings, adopted: Path | None = None) -> int | None:
    """Tokenizer and config of models.<name>; returns its number of positions when known."""
    from transformers import AutoConfig, AutoTokenizer

    key = f"models.{name}"
    if spec["source"] == "synthetic":
        return spec["architecture"]["max_position_embeddings"]
    try:
        folder, gguf_file, what = model_location(name, spec, root)
    except FileNotFoundError as err:
        findings.problems.append(f"{key}.package: {err}")
        return None
    if spec["source"] == "hub" and not check_prefetch(key, spec, folder, findings):
        return None
    if adopted is not None and (adopted / "ADOPTED.json").is_file():
        # Already adopted: check what training reads (faster than converting a GGUF file again).
        folder, gguf_file, what = adopted, None, f"adopted {adopted}"
    elif gguf_file:
        if not (folder / gguf_file).is_file():
            findings.problems.append(f"{key}.file: {gguf_file!r} is not in {folder}")
            return None
    elif not (folder / "config.json").is_file():
        findings.problems.append(f"{key}: {folder} ({what}) is not a save_pretrained model folder (no config.json)")
        return None
    elif not list(folder.glob("*.safetensors")):
        findings.problems.append(f"{key}: {folder} ({what}) has no *.safetensors weights (the workflow reads safetensors only)")
    kwargs = {"gguf_file": gguf_file} if gguf_file else {}
    try:
        tok = AutoTokenizer.from_pretrained(str(folder), **kwargs)
        apply_tokenizer_spec(tok, spec.get("pad_token"), spec.get("chat_template"), key)
        # only the base model is trained here (SFT, RM, DPO inherit its tokenizer); a judge or external RM is only run
        findings.problems += tokenizer_problems(tok, key, training=name == "base")
    except (ValueError, OSError) as err:
        findings.problems.append(f"{key}: tokenizer of {folder} ({what}): {err}")
    if gguf_file:
        return positions(AutoConfig.from_pretrained(str(folder), gguf_file=gguf_file).to_dict())
    return positions(json.loads((folder / "config.json").read_text()))


def accelerate_is_deepspeed(name: str, root: Path) -> bool:
    spec = yaml.safe_load((root / "config" / "accelerate" / name).read_text()) or {}
    return spec.get("distributed_type") == "DEEPSPEED" or "deepspeed_config" in spec


def check_lengths(config: dict, max_positions: int, findings: Findings) -> None:
    # A made-up world's model is trained from scratch: a length beyond its positions is a note (rotary positions
    # extrapolate), for a pretrained model it is an error (text beyond its trained context).
    synthetic = config["models"]["base"]["source"] == "synthetic"
    for section in TRAINING_SECTIONS:
        hp = config.get(section)
        if hp and hp["max_length"] > max_positions:
            line = f"{section}.max_length: {hp['max_length']} tokens exceed models.base's {max_positions} positions"
            (findings.notes if synthetic else findings.problems).append(line)
    for key, value in (
        ("online.generation.max_new_tokens", config["online"]["generation"]["max_new_tokens"]),
        ("evaluation.max_new_tokens", config["evaluation"]["max_new_tokens"]),
        ("selection.max_new_tokens", (config.get("selection") or {}).get("max_new_tokens")),
        ("benchmarks.generation.max_new_tokens", ((config.get("benchmarks") or {}).get("generation") or {}).get("max_new_tokens")),
    ):
        if value is not None and value >= max_positions:
            findings.problems.append(f"{key}: {value} new tokens leave no room for a prompt in models.base's {max_positions} positions")
    dpo = config["dpo"]
    if config["online"]["generation"]["max_new_tokens"] > dpo["max_length"]:
        findings.notes.append(
            f"online.generation.max_new_tokens ({config['online']['generation']['max_new_tokens']}) exceeds dpo.max_length "
            f"({dpo['max_length']}): long pairs will be dropped as over-length"
        )


def check_precision(config: dict, root: Path, findings: Findings) -> None:
    """Each section's launcher exists. Pure bf16 weights cannot happen any more: the trainers load, update and save
    fp32 master weights and `precision: bf16` is autocast (or DeepSpeed's bf16 mode), online_rlhf/train/trainers.py
    MASTER_DTYPE; a section whose weights dtype is not fp32 is refused, should that ever change."""
    from online_rlhf.train.trainers import MASTER_DTYPE

    if MASTER_DTYPE != "float32":
        findings.problems.append(f"precision: trainers keep {MASTER_DTYPE} master weights; AdamW would round small updates away")
    for section in TRAINING_SECTIONS:
        hp = config.get(section)
        if not hp:
            continue
        launcher = hp.get("accelerate_config")
        if launcher and not (root / "config" / "accelerate" / launcher).is_file():
            findings.problems.append(f"{section}.accelerate_config: config/accelerate/{launcher} does not exist")
        elif hp.get("precision") == "bf16" and not (launcher and accelerate_is_deepspeed(launcher, root)):
            findings.notes.append(f"{section}.precision: bf16 without DeepSpeed is bf16 autocast over fp32 master weights")


def check_datasets(config: dict, root: Path, findings: Findings) -> None:
    for name, spec in config["datasets"].items():
        key = f"datasets.{name}"
        if spec["source"] == "hub":
            check_prefetch(key, spec, root / "resources/data/hub" / name, findings)
        elif spec["source"] == "local":
            path = root / spec["path"]
            if not path.exists():
                findings.problems.append(f"{key}.path: {path} does not exist")
            elif path.is_dir() and not any(p.is_file() for p in path.glob(spec.get("files", "**/*"))):
                findings.problems.append(f"{key}.files: no file under {path} matches {spec.get('files', '**/*')!r}")


def check_downloads(downloads: list[str], root: Path, findings: Findings) -> None:
    """Benchmark snapshots and URL downloads `snakemake prefetch` makes (models and datasets are checked above)."""
    for folder in downloads:
        if folder.startswith(("resources/models/prefetched/", "resources/data/hub/")):
            continue
        if prefetch_record(root / folder) is None:
            findings.problems.append(f"{folder}: not prefetched (missing, or no {PREFETCH_RECORD}); {PREFETCH_HINT}")


def preflight(config: dict, root: str | Path, downloads: list[str] = ()) -> Findings:
    """Every check above, for a validated config, against the workflow folder `root`; `downloads` are the folders
    the prefetch target makes (rules/data.smk)."""
    root = Path(root)
    findings = Findings()
    check_downloads(list(downloads), root, findings)
    models = config["models"]
    adopted = root / f"resources/models/{models['base']['source']}/base"
    max_positions = check_model("base", models["base"], root, findings, adopted)
    for name in sorted(set(models) - {"base"}):
        check_model(name, models[name], root, findings)
    if max_positions:
        check_lengths(config, max_positions, findings)
    check_precision(config, root, findings)
    check_datasets(config, root, findings)
    return findings
