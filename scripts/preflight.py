"""Check, in seconds and before any job, what would fail hours into a run: pad token, chat template, max lengths vs
positions, precision vs launcher, prefetch completeness and revisions (online_rlhf/preflight.py). Exit 1 with every
problem, each naming the config key that fixes it."""

import sys

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import json_arg, logger, parser
from online_rlhf.preflight import preflight

log = logger("preflight")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--config", type=json_arg, required=True, help="the validated workflow config (JSON)")
    p.add_argument("--downloads", nargs="*", default=[], help="folders `snakemake prefetch` makes")
    p.add_argument("--root", default=".")
    a = p.parse_args()
    findings = preflight(a.config, a.root, a.downloads)
    for note in findings.notes:
        print(f"preflight note: {note}")
    if findings.problems:
        print(f"preflight: {len(findings.problems)} problem(s):\n  - " + "\n  - ".join(findings.problems), file=sys.stderr)
        sys.exit(1)
    print("preflight: ok")
