"""Experiments side by side (Experiments.smk): comparison.json, comparison.md and comparison.png from each
experiment's results/experiments/<name>/report/summary.json."""

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import json_arg, logger, parser
from online_rlhf.core.tables import read_json, write_json
from online_rlhf.report.compare import compare, markdown, plot

log = logger("compare_experiments")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--names", nargs="+", required=True, help="experiment names, in the order of --summaries")
    p.add_argument("--summaries", nargs="+", required=True, help="each experiment's report/summary.json")
    p.add_argument("--groups", type=json_arg, default={}, help='JSON {group: [experiment, ...]} pooled across runs')
    p.add_argument("--json", required=True)
    p.add_argument("--markdown", required=True)
    p.add_argument("--plot", required=True)
    a = p.parse_args()
    result = compare(a.names, [read_json(s) for s in a.summaries], a.summaries, a.groups)
    write_json(result, a.json)
    with open(a.markdown, "w") as f:
        f.write(markdown(result))
    plot(result, a.plot)
    log.info("%d experiments, %d groups -> %s", len(result["experiments"]), len(result["groups"]), a.json)
