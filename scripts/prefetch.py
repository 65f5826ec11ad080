"""Download a Hub model or dataset at a pinned revision into resources/ (run on the login node: compute nodes are
offline and run with HF_HUB_OFFLINE=1)."""

import sys

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import logger, parser
from online_rlhf.core.offline import PREFETCH_RECORD, hub_offline
from online_rlhf.core.tables import write_json

log = logger("prefetch")

MODEL_FILES = ["*.json", "*.safetensors", "tokenizer*", "*.model", "*.jinja", "*.txt"]

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--repo-type", choices=["model", "dataset"], required=True)
    p.add_argument("--repo", required=True)
    p.add_argument("--revision", required=True)
    p.add_argument("--files", nargs="+", default=None, help="globs of the files to fetch (datasets); models fetch safetensors + configs")
    p.add_argument("--output", required=True)
    a = p.parse_args()
    if hub_offline():
        sys.exit(
            f"prefetch of {a.repo_type} {a.repo}@{a.revision} needs the Hub, but HF_HUB_OFFLINE is set here "
            "(a compute job?): run `snakemake prefetch` on the login node (the prefetch rules are localrules)"
        )
    from huggingface_hub import snapshot_download

    patterns = MODEL_FILES if a.repo_type == "model" else (a.files or ["*"])
    try:
        path = snapshot_download(repo_id=a.repo, repo_type=a.repo_type, revision=a.revision, local_dir=a.output, allow_patterns=patterns)
    except Exception as err:  # noqa: BLE001 -- network, auth (gated models need HF_TOKEN), unknown revision: all end the job
        sys.exit(f"prefetch of {a.repo_type} {a.repo}@{a.revision} failed: {type(err).__name__}: {err}")
    from huggingface_hub import HfApi

    # Record the commit the revision resolved to, so a branch name still pins exact bytes for the audit.
    info = HfApi().repo_info(a.repo, repo_type=a.repo_type, revision=a.revision)
    write_json({"repo": a.repo, "repo_type": a.repo_type, "revision": a.revision, "commit": info.sha, "patterns": patterns}, f"{a.output}/{PREFETCH_RECORD}")
    log.info("%s %s@%s (commit %s) -> %s", a.repo_type, a.repo, a.revision, info.sha, path)
