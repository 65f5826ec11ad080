"""Reproducibility audit: rebuild the whole DAG from scratch in a separate folder (a copy of the workflow's code
and config, no results) and compare every artifact with a recorded manifest. Prints a table of identical and
differing artifacts with the first point of divergence in the DAG, and writes it as JSON.

Exit status: 0 reproduced (byte-identical, or within tolerance in tolerance mode); 1 unexplained differences (same
inputs, same code, different results); 3 differences, each explained by a change of config, code, packages or
hardware; 4 the rebuild itself failed.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _bootstrap  # noqa: F401
import yaml

from online_rlhf.core.cli import logger, parser
from online_rlhf.core.tables import write_json
from online_rlhf.experiments.plan import experiment_manifest, experiment_of_manifest
from online_rlhf.provenance.audit import MODES, Tolerances, compare, format_audit
from online_rlhf.provenance.manifest import ManifestError, copy_workflow, load_manifest

log = logger("audit")
ROOT = Path(__file__).resolve().parents[1]
MANIFEST = "results/manifest.json"


def snakemake_command() -> str:
    beside = Path(sys.executable).with_name("snakemake")
    found = str(beside) if beside.exists() else shutil.which("snakemake")
    if not found:
        sys.exit("audit: no snakemake executable next to this Python or on PATH")
    return found


def rebuild(workdir: Path, recorded: dict, configfiles: list[str], cores: str | None, extra: list[str],
            manifest: str = MANIFEST) -> Path:
    """Copy the workflow into `workdir`, build the manifest there from scratch; return its path. An experiment's
    manifest (results/experiments/<name>/manifest.json) is rebuilt by Experiments.smk as a set of that one
    experiment: its shared stages keep their folders (same config, same fingerprints), and it builds them itself."""
    experiment = experiment_of_manifest(manifest)
    target = experiment_manifest(experiment) if experiment else MANIFEST
    if workdir.exists() and any(workdir.iterdir()):
        sys.exit(f"audit: {workdir} is not empty; a rebuild starts from an empty folder")
    workdir.mkdir(parents=True, exist_ok=True)
    copy_workflow(ROOT, workdir)
    if configfiles:
        used = []
        for cf in configfiles:
            src = Path(cf).resolve()
            rel = src.relative_to(ROOT) if src.is_relative_to(ROOT) else Path("config/audit") / src.name
            if not (workdir / rel).exists():
                (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, workdir / rel)
            used.append(str(rel))
    else:
        # The recorded effective config, so overlays and --config overrides of the recorded run are rebuilt too.
        (workdir / "config/audit").mkdir(parents=True, exist_ok=True)
        (workdir / "config/audit/recorded.yaml").write_text(yaml.safe_dump(recorded["run"]["config"], sort_keys=False))
        used = ["config/audit/recorded.yaml"]
        if experiment:
            one = {"base": used[0], "experiments": {experiment: {}}}
            (workdir / "config/audit/experiment.yaml").write_text(yaml.safe_dump(one, sort_keys=False))
            used = ["config/audit/experiment.yaml"]
    snakefile = ["-s", "Experiments.smk"] if experiment else []
    cmd = [snakemake_command(), *snakefile, "--configfile", *used, *(["--cores", cores] if cores else []), *extra, target]
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    # The recorded run's environment variables (set or unset alike): they can change what jobs write.
    for name, value in recorded.get("environment", {}).get("variables", {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    log_path = workdir / "audit_rebuild.log"
    log.info("rebuilding from scratch in %s: %s (log: %s)", workdir, " ".join(cmd[1:]), log_path)
    start = time.monotonic()
    with open(log_path, "w") as fh:
        proc = subprocess.run(cmd, cwd=workdir, stdout=fh, stderr=subprocess.STDOUT, env=env, check=False)
    if proc.returncode != 0:
        tail = log_path.read_text()[-3000:]
        print(tail, file=sys.stderr)
        log.error("rebuild failed (snakemake exit %d); full log: %s", proc.returncode, log_path)
        sys.exit(4)
    log.info("rebuild took %.0f s", time.monotonic() - start)
    return workdir / target


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--manifest", default=MANIFEST, help="the recorded manifest to reproduce")
    p.add_argument("--rebuilt", default=None, help="compare with this manifest instead of rebuilding")
    p.add_argument("--workdir", default=None, help="empty folder for the rebuild (default: a new temporary folder)")
    p.add_argument("--configfile", nargs="+", default=[], help="rebuild with these configs instead of the recorded one")
    p.add_argument("--cores", default=None, help="snakemake --cores for the rebuild (default: the workflow profile's)")
    p.add_argument("--mode", choices=MODES, default=None, help="override the recorded config's audit.mode")
    p.add_argument("--json", default=None, help="also write the audit table here (always written into the workdir)")
    p.add_argument("--snakemake-args", default="", help="extra snakemake arguments for the rebuild, one string")
    a = p.parse_args()
    try:
        recorded = load_manifest(a.manifest)
        if a.rebuilt:
            rebuilt_path, workdir = Path(a.rebuilt), None
        else:
            workdir = Path(a.workdir) if a.workdir else Path(tempfile.mkdtemp(prefix="online-rlhf-audit-"))
            rebuilt_path = rebuild(workdir.resolve(), recorded, a.configfile, a.cores, a.snakemake_args.split(), a.manifest)
        rebuilt = load_manifest(rebuilt_path)
    except ManifestError as err:
        sys.exit(f"audit: {err}")
    settings = recorded["run"].get("audit") or {}
    audit = compare(recorded, rebuilt, a.mode or settings.get("mode", "exact"), Tolerances.from_config(settings))
    print(format_audit(audit, a.manifest, str(rebuilt_path)))
    report = {"recorded": a.manifest, "rebuilt": str(rebuilt_path), **audit.to_json()}
    for out in filter(None, [a.json, workdir and workdir / "audit.json"]):
        write_json(report, out)
    sys.exit(audit.exit_code)
