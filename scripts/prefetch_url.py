"""Download benchmark files published outside the Hub (e.g. FastChat's MT-Bench questions, arena-hard-auto's
questions and baseline answers) on the login node, recording each file's URL and sha256 for the audit."""

import hashlib
import sys
import urllib.request
from pathlib import Path

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import json_arg, logger, parser
from online_rlhf.core.tables import write_json

log = logger("prefetch_url")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--urls", type=json_arg, required=True, help='JSON {"relative/file/name": "https://..."}')
    p.add_argument("--output", required=True)
    a = p.parse_args()
    out = Path(a.output)
    record = {}
    for name, url in sorted(a.urls.items()):
        dest = out / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with urllib.request.urlopen(url, timeout=120) as resp:
                data = resp.read()
        except OSError as err:
            sys.exit(f"download of {url} failed: {type(err).__name__}: {err}")
        dest.write_bytes(data)
        record[name] = {"url": url, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        log.info("%s -> %s (%d bytes)", url, dest, len(data))
    write_json(record, out / "PREFETCH.json")
