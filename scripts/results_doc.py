"""Write docs/results.md from finished runs: each run folder's results/report/summary.json, results/manifest.json
(commit, machine) and Snakemake's job records in .snakemake/metadata/ (date, wall time). Sections whose runs are
absent say "not run". `--check` only verifies that the page is unedited since it was generated. `--records DIR` also
writes what was read from each run as a JSON record, which `--run LABEL=<record>` and `--experiments <record>` read
in place of the folder once it is gone; `--carry KEY` keeps sections of the current page whose runs are gone.

    python scripts/results_doc.py --run default=. [--run smollm2=<folder or record>]
        [--benchmarks benchmarks/results/*.json] [--records docs/runs] --output docs/results.md
"""

import shlex
import sys
from pathlib import Path

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import logger, parser
from online_rlhf.provenance.results_doc import (
    KNOWN_RUNS,
    ResultsDocError,
    carried_sections,
    default_run_config,
    document,
    experiment_set_provenance,
    load_benchmark_file,
    load_experiment_set,
    load_run,
    save_record,
    stamp,
    verify,
)
from online_rlhf.report.compare import results_section

log = logger("results_doc")


def run_arg(text: str) -> tuple[str, str]:
    label, sep, folder = text.partition("=")
    if not sep or not label or not folder:
        raise SystemExit(f"--run {text!r}: expected LABEL=FOLDER, e.g. default=.")
    return label, folder


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--run", action="append", default=[], type=run_arg, metavar="LABEL=FOLDER",
                   help="a run folder (the workflow's working directory) under a label: default, smollm2, or any other")
    p.add_argument("--benchmarks", nargs="*", default=[], metavar="FILE", help="benchmarks/results/*.json")
    p.add_argument("--experiments", nargs="*", default=[], metavar="FILE",
                   help="results/experiments/_comparison/comparison.json of experiment sets (Experiments.smk): "
                        "ablations, seeds (their groups carry the ordering test per seed)")
    p.add_argument("--records", metavar="DIR", help="also write what each --run and --experiments gave as DIR/<label>.json "
                   "(DIR/experiments_<folder>.json): the page can be regenerated from those files after the runs are gone")
    p.add_argument("--carry", nargs="*", default=[], metavar="KEY",
                   help="copy the sections of the current --output page whose heading contains KEY (a run label, an experiment "
                        "set's path) unchanged: runs whose folders and records are gone")
    p.add_argument("--output", default="docs/results.md")
    p.add_argument("--check", action="store_true", help="only verify that --output is unedited since it was generated")
    a = p.parse_args()
    try:
        if a.check:
            verify(Path(a.output).read_text(), a.output)
            log.info("%s: unedited since it was generated", a.output)
            sys.exit(0)
        labels = [label for label, _ in a.run]
        if len(set(labels)) != len(labels):
            raise ResultsDocError(f"--run: a label appears twice in {labels}")
        runs = {label: load_run(label, folder) for label, folder in a.run}
        for label, run in runs.items():
            if run["summary"] is None:
                log.warning("run %s: %s; its section says not run", label, run["missing"])
        files = [load_benchmark_file(f) for f in a.benchmarks]
        command = "python scripts/results_doc.py " + " ".join(
            [f"--run {shlex.quote(f'{label}={folder}')}" for label, folder in a.run]
            + ([f"--benchmarks {' '.join(map(shlex.quote, a.benchmarks))}"] if a.benchmarks else [])
            + ([f"--experiments {' '.join(map(shlex.quote, a.experiments))}"] if a.experiments else [])
            + ([f"--carry {' '.join(map(shlex.quote, a.carry))}"] if a.carry else [])
            + [f"--output {shlex.quote(a.output)}"]
        )
        carried = carried_sections(Path(a.output).read_text(), a.carry, a.output) if a.carry else ""
        Path(a.output).parent.mkdir(parents=True, exist_ok=True)
        sets = [load_experiment_set(f) for f in a.experiments]
        if a.records:
            for label, run in runs.items():
                save_record(run, Path(a.records) / f"{label}.json")
            for s in sets:
                save_record(s, Path(a.records) / f"experiments_{Path(s['path']).parents[3].name}.json")
        comparisons = [(s["path"], s["comparison"]) for s in sets]
        body = document(runs, files, command, carried=tuple(label for label in KNOWN_RUNS if any(f"(`{label}`)" in key for key in a.carry)))
        base = default_run_config(runs)
        body += ("\n" + results_section(comparisons, {s["path"]: experiment_set_provenance(s, base) for s in sets})) if comparisons else ""
        body += ("\n" + carried) if carried else ""
        Path(a.output).write_text(stamp(body))
    except ResultsDocError as err:
        sys.exit(f"results_doc: {err}")
    log.info("wrote %s", a.output)
