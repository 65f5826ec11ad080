"""Convert one raw dataset from its native schema to the canonical table; every dropped row goes to the drops table
with its file:line and reason, and rows in = kept + dropped is checked. Preference pairs also go through the cleaning
rules (online_rlhf/data/sources/cleaning.py); the options used are recorded in the summary."""

import itertools

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import json_arg, logger, parser
from online_rlhf.core.records import find_files, read_records
from online_rlhf.core.tables import write_json, write_parquet
from online_rlhf.data.sources import KIND, convert_gsm8k, convert_messages, convert_pairs, convert_prompts

log = logger("normalize_dataset")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--name", required=True)
    p.add_argument("--format", required=True, choices=sorted(KIND))
    p.add_argument("--input", required=True, help="file or folder of raw data")
    p.add_argument("--files", default="**/*", help="glob of data files under --input")
    p.add_argument("--field", default=None, help="chat column for formats messages/prompts")
    p.add_argument("--options", type=json_arg, default={}, help="adapter and cleaning options of the format (JSON)")
    p.add_argument("--skip-rows", type=int, default=0, help="start after the first N rows (disjoint slices of one file)")
    p.add_argument("--max-rows", type=int, default=None, help="read only the first N rows (a documented subset)")
    p.add_argument("--output", required=True)
    p.add_argument("--drops", required=True)
    p.add_argument("--summary", required=True)
    a = p.parse_args()

    files = find_files(a.input, a.files)
    records = read_records(files)
    if a.skip_rows or a.max_rows:
        records = itertools.islice(records, a.skip_rows, a.skip_rows + a.max_rows if a.max_rows else None)
    kind = KIND[a.format]
    if kind == "pairs":
        out = convert_pairs(records, a.format, a.name, a.options)
    elif a.format == "gsm8k":
        out = convert_gsm8k(records, a.name)
    elif kind == "sft":
        out = convert_messages(records, a.name, a.field or "messages")
    else:
        out = convert_prompts(records, a.name, a.field or "context_messages")
    write_parquet(out.table, a.output)
    write_parquet(out.drops, a.drops)
    summary = {"dataset": a.name, "format": a.format, "files": [str(f) for f in files], "skip_rows": a.skip_rows, "max_rows": a.max_rows, **out.summary()}
    write_json(summary, a.summary)
    log.info("%s: %d rows in, %d out, dropped %s", a.name, out.rows_in, out.table.height, summary["dropped"])
