"""Tabulate the paper's ordering test over runs of the default world that differ only in seed (`make seeds`)."""

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import logger, parser
from online_rlhf.core.tables import read_json, write_json
from online_rlhf.report.summary import seed_markdown, seed_table

log = logger("seed_table")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--runs", nargs="+", required=True, metavar="SEED=SUMMARY", help="each run's results/report/summary.json")
    p.add_argument("--json", required=True)
    p.add_argument("--markdown", required=True)
    a = p.parse_args()
    summaries = []
    for entry in a.runs:
        seed, sep, path = entry.partition("=")
        if not sep:
            raise SystemExit(f"--runs {entry!r}: expected SEED=SUMMARY")
        summaries.append({"seed": int(seed), "summary": read_json(path), "artifact": path})
    table = seed_table(summaries)
    write_json(table, a.json)
    with open(a.markdown, "w") as f:
        f.write(seed_markdown(table))
    for mode, t in table["tally"].items():
        log.info("%s: ordering holds in %d of %d runs (%d significantly)", mode, t["holds"], t["runs"], t["holds_significantly"])
