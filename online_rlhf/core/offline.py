"""Compute nodes are offline: every Hub model and dataset is prefetched on the login node (`snakemake prefetch`, into
resources/models/prefetched/<name>/ and resources/data/hub/<name>/ with a PREFETCH.json naming repo, revision and resolved commit), and a process
inside a SLURM job runs with HF_HUB_OFFLINE=1 so no library can reach for the Hub behind the workflow's back. What
was not prefetched fails early with a message that names it and the command that fetches it."""

from __future__ import annotations

import json
import os
from collections.abc import MutableMapping
from pathlib import Path

PREFETCH_RECORD = "PREFETCH.json"
# rules/data.smk: resources/models/prefetched/<models key> and resources/data/hub/<datasets key>. Model downloads are not
# under models/hub/: resources/models/<source>/base is the adopted base model for every source, hub included.
HUB_FOLDERS = {("models", "prefetched"): "models", ("data", "hub"): "datasets"}
PREFETCH_HINT = "on a node with internet (the login node) run `snakemake prefetch --configfile <your config>`"


def offline_in_slurm_jobs(environ: MutableMapping[str, str] = os.environ) -> str | None:
    """Inside a SLURM job, default HF_HUB_OFFLINE to 1 (an explicit HF_HUB_OFFLINE=0 is kept: a cluster whose
    compute nodes do reach the Hub). Returns a line for the job's log, or None outside SLURM."""
    job = environ.get("SLURM_JOB_ID")
    if not job:
        return None
    environ.setdefault("HF_HUB_OFFLINE", "1")
    return f"SLURM job {job}: HF_HUB_OFFLINE={environ['HF_HUB_OFFLINE']} (compute jobs read only what prefetch stored)"


def hub_offline(environ: MutableMapping[str, str] = os.environ) -> bool:
    return environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_folder_key(path: str | Path) -> str | None:
    """`models.base` for resources/models/prefetched/base, `datasets.hh_rlhf` for resources/data/hub/hh_rlhf; None for a
    folder the workflow builds itself or a local path."""
    parts = Path(path).parts
    for i in range(len(parts) - 3):
        if parts[i] == "resources" and (parts[i + 1], parts[i + 2]) in HUB_FOLDERS:
            return f"{HUB_FOLDERS[parts[i + 1], parts[i + 2]]}.{parts[i + 3]}"
    return None


def prefetch_record(path: str | Path) -> dict | None:
    record = Path(path) / PREFETCH_RECORD
    return json.loads(record.read_text()) if record.is_file() else None


def not_prefetched_message(path: str | Path, what: str) -> str | None:
    """Why `path` (a model or dataset folder) cannot be used offline, or None when it can (or is not a Hub folder)."""
    key = hub_folder_key(path)
    if key is None:
        return None
    record = prefetch_record(path)
    if record is None:
        state = "is missing" if not Path(path).exists() else f"has no {PREFETCH_RECORD} (an interrupted download)"
        return (
            f"{what}: {path} ({key} of the config) was not prefetched: the folder {state}. Compute jobs cannot download "
            f"it (HF_HUB_OFFLINE=1); {PREFETCH_HINT}"
        )
    return None


def describe_prefetched(path: str | Path) -> str:
    """`repo@revision (commit c)` of a prefetched folder, for error messages about its contents."""
    record = prefetch_record(path)
    if not record:
        return str(path)
    return f"{path} = {record['repo_type']} {record['repo']}@{record['revision']} (commit {record.get('commit')})"
