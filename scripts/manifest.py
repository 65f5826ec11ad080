"""Write the run manifest: every artifact the targets depend on, with its sha256 (directories: tree hash), the
rule, params, command and input hashes Snakemake recorded for it, wall times, and the run's config, seeds, Hub
revisions, code version, package versions and hardware."""

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import json_arg, logger, parser
from online_rlhf.core.tables import write_json
from online_rlhf.provenance.manifest import build_manifest

log = logger("manifest")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--targets", nargs="+", required=True, help="final artifacts; everything they depend on is included")
    p.add_argument("--config", type=json_arg, required=True, help="the run's effective config (JSON)")
    p.add_argument("--output", required=True)
    a = p.parse_args()
    manifest = build_manifest(".", a.targets, a.config)
    write_json(manifest, a.output)
    made = sum(1 for e in manifest["artifacts"].values() if e.get("rule"))
    log.info("%d artifacts (%d made by jobs), code %s, git %s", len(manifest["artifacts"]), made,
             manifest["code"]["tree_sha256"][:12], manifest["code"]["git"]["commit"])
