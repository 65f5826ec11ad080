"""Convert one raw dataset from its native schema to the canonical table; every dropped row goes to the drops table
with its file:line and reason, and rows in = kept + dropped is checked."""

import itertools

import _bootstrap  # noqa: F401

from online_rlhf.cli import json_arg, logger, parser
from online_rlhf.records import find_files, read_records
from online_rlhf.sources import KIND, convert_messages, convert_pairs, convert_prompts
from online_rlhf.tables import CHAT, write_json, write_parquet

log = logger("normalize_dataset")

DROP_SCHEMA = {"source": str, "origin": str, "reason": str, "detail": str, "whole_row": bool, "raw": str}

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--name", required=True)
    p.add_argument("--format", required=True, choices=sorted(KIND))
    p.add_argument("--input", required=True, help="file or folder of raw data")
    p.add_argument("--files", default="**/*", help="glob of data files under --input")
    p.add_argument("--field", default=None, help="chat column for formats messages/prompts")
    p.add_argument("--options", type=json_arg, default={})
    p.add_argument("--max-rows", type=int, default=None, help="read only the first N rows (a documented subset)")
    p.add_argument("--output", required=True)
    p.add_argument("--drops", required=True)
    p.add_argument("--summary", required=True)
    a = p.parse_args()

    files = find_files(a.input, a.files)
    records = read_records(files)
    if a.max_rows:
        records = itertools.islice(records, a.max_rows)
    kind = KIND[a.format]
    if kind == "pairs":
        out = convert_pairs(records, a.format, a.name, a.options)
        schema = {"id": str, "source": str, "origin": str, "prompt_id": str, "prompt": CHAT, "chosen": str, "rejected": str, "chosen_score": float, "rejected_score": float, "meta": str}
    elif kind == "sft":
        out = convert_messages(records, a.name, a.field or "messages")
        schema = {"id": str, "source": str, "origin": str, "messages": CHAT}
    else:
        out = convert_prompts(records, a.name, a.field or "context_messages")
        schema = {"prompt_id": str, "source": str, "origin": str, "prompt": CHAT}
    write_parquet(out.rows, a.output, schema)
    write_parquet(out.drops, a.drops, DROP_SCHEMA)
    summary = {"dataset": a.name, "format": a.format, "files": [str(f) for f in files], "max_rows": a.max_rows, **out.summary()}
    write_json(summary, a.summary)
    log.info("%s: %d rows in, %d out, dropped %s", a.name, out.rows_in, len(out.rows), summary["dropped"])
