"""The run manifest: every artifact's content hash and the provenance of the job that made it.

Provenance comes from Snakemake's own metadata (`.snakemake/metadata/`, written by Snakemake as each job finishes:
rule, inputs, params, shell command, start and end time), so nothing is hidden from `--summary`,
`--list-changes params` or `--report`; this module adds what Snakemake does not keep: content hashes of outputs
and inputs, the code and package versions, seeds, Hub revisions and the hardware.

Hashing rules (stated once, used everywhere):
- a file's hash is the sha256 of its bytes;
- a directory's hash is the sha256 of the lines `<relative posix path>\\0<file sha256>\\n` of every regular file
  under it, sorted by path (symlinks hash their target text; empty directories and names do not count otherwise);
- logs and benchmark files hold timings and progress bars: they are recorded, never compared ("volatile").
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import time
from base64 import urlsafe_b64decode
from collections import deque
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

MANIFEST_VERSION = 1

# What the audit copies into a fresh folder to rebuild (code and config, never results) and what the code identity
# is hashed over. Config files are copied but not hashed as code: the effective config is recorded in full instead.
CODE_PATHS = (
    "Snakefile", "Experiments.smk", "rules", "scripts", "online_rlhf", "envs", "profiles", "report", "pyproject.toml",
    "config/schema.yaml", "config/accelerate",
)
WORKFLOW_PATHS = CODE_PATHS + ("config", "data")  # data/samples: the real-model config reads them
IGNORED_NAMES = ("__pycache__", "*.pyc", ".pytest_cache", "*.egg-info")

# Fields of the manifest that legitimately change between identical runs: when and how long, and the job logs
# (progress bars with rates). Everything else must match for two runs to count as the same.
VOLATILE_FIELDS = ("created", "started", "finished", "wall_seconds", "logs", "wall_time")

EMBEDDED_JSON_BYTES = 100_000

# Environment variables that can change what a job computes or writes (HF_HUB_OFFLINE, for one, used to end up in
# saved tokenizer configs); recorded, and set the same way for an audit's rebuild.
ENVIRONMENT_VARIABLES = (
    "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "CUBLAS_WORKSPACE_CONFIG", "PYTHONHASHSEED", "OMP_NUM_THREADS",
    "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "TOKENIZERS_PARALLELISM",
)

# Packages whose versions are recorded when pyproject.toml cannot be read (e.g. an installed copy).
FALLBACK_PACKAGES = ("torch", "transformers", "trl", "datasets", "accelerate", "polars", "snakemake", "numpy")


class ManifestError(RuntimeError):
    pass


def is_ignored(rel_path: str) -> bool:
    """Caches and build leftovers inside code folders: neither copied by the audit nor hashed as code."""
    return any(fnmatch.fnmatch(part, pattern) for part in rel_path.split("/") for pattern in IGNORED_NAMES)


# ---- hashing -------------------------------------------------------------------------------------------------

def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_listing(root: str | Path) -> list[tuple[str, str, int]]:
    """(relative path, sha256, bytes) of every file under `root`, sorted by path; symlinks hash their target."""
    root = Path(root)
    rows = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                target = os.readlink(path).encode()
                rows.append((rel, "symlink:" + hashlib.sha256(target).hexdigest(), len(target)))
            else:
                rows.append((rel, sha256_file(path), path.stat().st_size))
    return sorted(rows)


def tree_hash(listing: list[tuple[str, str, int]]) -> str:
    digest = hashlib.sha256()
    for rel, sha, _ in listing:
        digest.update(f"{rel}\0{sha}\n".encode())
    return digest.hexdigest()


def artifact_hash(path: str | Path) -> dict[str, Any]:
    """{type, sha256, bytes[, files]} of a file or a directory (tree hash)."""
    path = Path(path)
    if path.is_dir():
        listing = tree_listing(path)
        return {"type": "directory", "sha256": tree_hash(listing), "bytes": sum(r[2] for r in listing), "files": len(listing)}
    if path.is_file():
        return {"type": "file", "sha256": sha256_file(path), "bytes": path.stat().st_size}
    raise ManifestError(f"{path}: artifact is missing (neither a file nor a directory)")


def canonical_sha256(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# ---- Snakemake's per-output metadata ----------------------------------------------------------------------------

def all_metadata(workdir: str | Path) -> dict[str, dict]:
    """Every record in Snakemake's file persistence, by output path. A record's name is the urlsafe base64 of the
    path, cut into '@'-prefixed folders where longer than a file name may be (snakemake/persistence/file.py)."""
    meta = Path(workdir) / ".snakemake" / "metadata"
    records = {}
    for path in meta.rglob("*") if meta.is_dir() else []:
        if path.is_file() and not path.name.startswith("@"):
            b64 = "".join(part.lstrip("@") for part in path.relative_to(meta).parts)
            try:
                output = urlsafe_b64decode(b64.encode()).decode()
                records[output] = json.loads(path.read_text())
            except (ValueError, json.JSONDecodeError):
                continue  # not a record of Snakemake's (a stray file): nothing to recover
    return records


# ---- the shell command as the record of what ran ---------------------------------------------------------------

def command_tokens(shellcmd: str | None) -> list[str]:
    """The command's words up to its first redirection (the log), which is bookkeeping, not the computation."""
    if not shellcmd:
        return []
    words = []
    for word in shlex.split(shellcmd):
        if word in (">", ">>", "2>&1", "&>") or word.startswith((">", "2>")):
            break
        words.append(word)
    return words


def command_options(shellcmd: str | None) -> dict[str, str]:
    """`--name value...` of a command (a flag without a value maps to '')."""
    words = command_tokens(shellcmd)
    options: dict[str, str] = {}
    i = 0
    while i < len(words):
        if words[i].startswith("--"):
            name, values = words[i], []
            while i + 1 < len(words) and not words[i + 1].startswith("--"):
                i += 1
                values.append(words[i])
            options[name] = " ".join(values)
        i += 1
    return options


def command_script(shellcmd: str | None) -> str | None:
    return next((w for w in command_tokens(shellcmd) if w.startswith("scripts/") and w.endswith(".py")), None)


# ---- code, packages, hardware -----------------------------------------------------------------------------------

def _run(args: list[str], cwd: Path) -> str | None:
    try:
        proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def git_state(root: str | Path) -> dict[str, Any]:
    """HEAD commit and dirty flag; {"commit": None} outside a git checkout (e.g. an audit's rebuild copy)."""
    root = Path(root)
    commit = _run(["git", "rev-parse", "HEAD"], root)
    if commit is None:
        return {"commit": None, "dirty": None, "changes": []}
    status = _run(["git", "status", "--porcelain", "--untracked-files=no"], root) or ""
    changes = sorted(line[3:] for line in status.splitlines() if line.strip())
    return {"commit": commit.strip(), "dirty": bool(changes), "changes": changes}


def copy_workflow(source: str | Path, dest: str | Path) -> list[str]:
    """Copy the workflow's code and config (WORKFLOW_PATHS, never results/, resources/ or .snakemake/) into `dest`."""
    source, dest = Path(source), Path(dest)
    copied = []
    for name in WORKFLOW_PATHS:
        src = source / name
        if not src.exists():
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            # config/ after config/schema.yaml: folders merge
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns(*IGNORED_NAMES), dirs_exist_ok=True)
        else:
            shutil.copy2(src, dest / name)
        copied.append(name)
    if "Snakefile" not in copied:
        raise ManifestError(f"{source}: no Snakefile to copy; run the audit from the workflow's root")
    return copied


def code_files(root: str | Path) -> dict[str, str]:
    """sha256 of every code file (CODE_PATHS), by path relative to the workflow root."""
    root = Path(root)
    files = {}
    for name in CODE_PATHS:
        path = root / name
        if path.is_file():
            files[name] = sha256_file(path)
        elif path.is_dir():
            for rel, sha, _ in tree_listing(path):
                if not is_ignored(rel):
                    files[f"{name}/{rel}"] = sha
    return files


def code_identity(root: str | Path) -> dict[str, Any]:
    files = code_files(root)
    return {"tree_sha256": canonical_sha256(files), "files": files, "git": git_state(root)}


def pinned_package_names(root: str | Path) -> list[str]:
    """Distribution names of pyproject.toml's dependencies and extras: the pinned stack."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        return list(FALLBACK_PACKAGES)
    path = Path(root) / "pyproject.toml"
    if not path.is_file():
        return list(FALLBACK_PACKAGES)
    project = tomllib.loads(path.read_text()).get("project", {})
    specs = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        specs.extend(extra)
    return sorted({re.split(r"[\s\[<>=!~;]", spec, maxsplit=1)[0] for spec in specs})


def package_versions(names: list[str]) -> dict[str, str | None]:
    """Installed version of each package (None: not installed, e.g. vLLM on a CPU machine)."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_model(cpuinfo: str) -> str | None:
    """The CPU's name from /proc/cpuinfo text (x86 'model name'; ARM boards name it 'Model' or 'Hardware')."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "cpu model", "Hardware"):
            return value.strip()
    return None


def memory_bytes(meminfo: str) -> int | None:
    """Total memory from /proc/meminfo text ('MemTotal: <n> kB')."""
    for line in meminfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "MemTotal" and value.split():
            return int(value.split()[0]) * 1024
    return None


def file_text(path: str) -> str:
    """A text file's contents, '' where it cannot be read (no /proc outside Linux)."""
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {
        "machine": platform.machine(),
        "cpu": cpu_model(file_text("/proc/cpuinfo")) or platform.processor() or None,
        "logical_cpus": os.cpu_count(),
        "memory_bytes": memory_bytes(file_text("/proc/meminfo")),
        "gpus": [],
    }
    try:
        import torch
    except ImportError:
        return info
    info["torch_cuda"] = torch.version.cuda
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        info["cudnn"] = torch.backends.cudnn.version()
    return info


def environment(root: str | Path) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(pinned_package_names(root)),
        "variables": {name: os.environ.get(name) for name in ENVIRONMENT_VARIABLES},
    }


# ---- the run's configuration: seeds and Hub sources -------------------------------------------------------------

def seeds(config: Any, prefix: str = "") -> dict[str, int]:
    """Every config key named `seed`, by dotted path (each job's derived seed is in its command, --seed)."""
    found = {}
    if isinstance(config, dict):
        for key, value in config.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key == "seed" and isinstance(value, int):
                found[path] = value
            else:
                found.update(seeds(value, path))
    return found


def hub_sources(config: dict, root: str | Path) -> list[dict[str, Any]]:
    """Hub models and datasets with their pinned revision and, once prefetched, the commit it resolved to."""
    sources = []
    for section, base in (("models", "resources/models/prefetched"), ("datasets", "resources/data/hub")):
        for name, spec in sorted(config.get(section, {}).items()):
            if spec.get("source") != "hub":
                continue
            record = Path(root) / base / name / "PREFETCH.json"
            commit = json.loads(record.read_text()).get("commit") if record.is_file() else None
            sources.append({"kind": section[:-1], "name": name, "repo": spec["repo"], "revision": spec["revision"], "commit": commit})
    return sources


# ---- assembling ---------------------------------------------------------------------------------------------------

def artifact_entry(root: Path, path: str, record: dict | None, hashes: dict[str, dict]) -> dict[str, Any]:
    """One artifact: its hash and, when a job made it, the job's provenance with the hashes of its inputs. Small JSON
    artifacts (metrics, statistics) are embedded, so a tolerance audit can compare numbers after results/ is gone."""
    entry = dict(hashes[path])
    if path.endswith(".json") and entry["type"] == "file" and entry["bytes"] <= EMBEDDED_JSON_BYTES:
        entry["content"] = json.loads((root / path).read_text())
    if record is None:
        entry["rule"] = None  # a source file the workflow reads but no job makes
        return entry
    started, finished = record.get("starttime"), record.get("endtime")
    script = command_script(record.get("shellcmd"))
    entry.update(
        {
            "rule": record.get("rule"),
            "inputs": {i: hashes[i]["sha256"] for i in record.get("input") or []},
            "params": record.get("params"),
            "shellcmd": record.get("shellcmd"),
            "script": script,
            "script_sha256": sha256_file(root / script) if script and (root / script).is_file() else None,
            "seed": command_options(record.get("shellcmd")).get("--seed"),
            "software_stack_hash": record.get("software_stack_hash"),
            "logs": {log: sha256_file(root / log) if (root / log).is_file() else None for log in record.get("log") or []},
            "started": started,
            "finished": finished,
            "wall_seconds": round(finished - started, 3) if started and finished else None,
        }
    )
    return entry


def job_key(record: dict) -> tuple:
    """What the outputs of one job execution share in their records."""
    return (record.get("rule"), record.get("shellcmd"), record.get("job_hash"))


def collect_artifacts(root: str | Path, targets: list[str]) -> dict[str, dict[str, Any]]:
    """Every artifact the targets depend on, walking the inputs Snakemake recorded for each output, plus the other
    outputs of every job met on the way (metrics and drop tables that nothing downstream reads)."""
    root = Path(root)
    metadata = all_metadata(root)
    by_job: dict[tuple, list[str]] = {}
    for output, record in metadata.items():
        by_job.setdefault(job_key(record), []).append(output)
    records: dict[str, dict | None] = {}
    queue = deque(dict.fromkeys(targets))
    while queue:
        path = queue.popleft()
        if path in records:
            continue
        record = metadata.get(path)
        if record is not None and record.get("incomplete"):
            raise ManifestError(f"{path}: Snakemake marks it incomplete; rerun the workflow before writing the manifest")
        if record is None and path in targets:
            raise ManifestError(
                f"{path}: no Snakemake metadata record in {root}/.snakemake/metadata (was it built with --drop-metadata "
                "or another persistence backend than the default 'file'?)"
            )
        records[path] = record
        if record is None:
            continue
        queue.extend(i for i in record.get("input") or [] if i not in records)
        # A sibling whose file is gone is a stale record of an earlier version of the rule, not an output now.
        queue.extend(o for o in by_job[job_key(record)] if o not in records and (root / o).exists())
    hashes = {path: artifact_hash(root / path) for path in records}
    return {path: artifact_entry(root, path, records[path], hashes) for path in sorted(records)}


def job_seconds(artifacts: dict[str, dict]) -> float:
    """Sum of job wall times, each job counted once however many outputs it has."""
    jobs = {(a.get("rule"), a.get("shellcmd")): a.get("wall_seconds") or 0 for a in artifacts.values() if a.get("rule")}
    return round(sum(jobs.values()), 3)


def build_manifest(root: str | Path, targets: list[str], config: dict) -> dict[str, Any]:
    root = Path(root)
    artifacts = collect_artifacts(root, targets)
    starts = [a["started"] for a in artifacts.values() if a.get("started")]
    ends = [a["finished"] for a in artifacts.values() if a.get("finished")]
    return {
        "manifest_version": MANIFEST_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "targets": list(targets),
        "run": {
            "name": config.get("run_name"),
            "config": config,
            "config_sha256": canonical_sha256(config),
            "seeds": seeds(config),
            "hub": hub_sources(config, root),
            "audit": config.get("audit", {}),
        },
        "code": code_identity(root),
        "environment": environment(root),
        "hardware": hardware(),
        "wall_time": {"first_start": min(starts, default=None), "last_end": max(ends, default=None),
                      "job_seconds": job_seconds(artifacts)},
        "artifacts": artifacts,
    }


def strip_volatile(obj: Any) -> Any:
    """The manifest without its timings and logs: what two identical runs must agree on exactly."""
    if isinstance(obj, dict):
        return {k: strip_volatile(v) for k, v in obj.items() if k not in VOLATILE_FIELDS}
    if isinstance(obj, list):
        return [strip_volatile(v) for v in obj]
    return obj


def load_manifest(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: no manifest (build it with `snakemake results/manifest.json`)")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ManifestError(f"{path}:{err.lineno}: not JSON ({err.msg})") from err
    if manifest.get("manifest_version") != MANIFEST_VERSION or "artifacts" not in manifest:
        raise ManifestError(f"{path}: expected manifest_version {MANIFEST_VERSION} with 'artifacts'; got {manifest.get('manifest_version')!r}")
    return manifest
