"""Read raw dataset files (JSON lines, gzipped or not, JSON arrays, parquet) keeping where every row came from.

A bad line is not fatal and not lost: it comes back as a `Malformed` record with file and line, which the adapters
turn into a drop row, so `rows in = kept + dropped` holds even for files with broken lines.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from online_rlhf.core.offline import not_prefetched_message

SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".parquet")


@dataclass(frozen=True)
class Record:
    origin: str  # "file:line" (1-based line for JSON lines, row number for parquet / JSON arrays)
    data: dict


@dataclass(frozen=True)
class Malformed:
    origin: str
    error: str
    raw: str


def find_files(root: str | Path, pattern: str) -> list[Path]:
    """Files under `root` matching the glob `pattern`, sorted so reading order (and thus ids, shuffles) is stable."""
    root = Path(root)
    if root.is_file():
        return [root]
    missing = not_prefetched_message(root, "dataset")
    if missing:
        raise FileNotFoundError(missing)
    files = sorted(p for p in root.glob(pattern) if p.is_file() and p.name.endswith(SUFFIXES))
    if not files:
        raise FileNotFoundError(f"no data files matching {pattern!r} under {root} (expected one of {', '.join(SUFFIXES)})")
    return files


def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.name.endswith(".gz") else path.open(encoding="utf-8")


def _starts_with_array(path: Path) -> bool:
    """A `.json` file may hold one array or, as in SHP, one object per line: look at the first character."""
    with _open_text(path) as fh:
        for chunk in iter(lambda: fh.read(64), ""):
            stripped = chunk.lstrip()
            if stripped:
                return stripped[0] == "["
    return False


def read_records(files: list[Path]) -> Iterator[Record | Malformed]:
    for path in map(Path, files):
        name = path.name
        if name.endswith(".parquet"):
            import polars as pl

            for i, row in enumerate(pl.read_parquet(path).iter_rows(named=True), start=1):
                yield Record(f"{path}:{i}", row)
        elif name.endswith((".json", ".json.gz")) and _starts_with_array(path):
            with _open_text(path) as fh:
                try:
                    rows = json.load(fh)
                except json.JSONDecodeError as err:
                    yield Malformed(f"{path}:{err.lineno}", f"invalid JSON: {err.msg}", "")
                    continue
            if not isinstance(rows, list):
                yield Malformed(f"{path}:1", "expected a JSON array of objects", "")
                continue
            for i, row in enumerate(rows, start=1):
                yield Record(f"{path}:{i}", row) if isinstance(row, dict) else Malformed(f"{path}:{i}", "row is not a JSON object", json.dumps(row)[:2000])
        else:
            with _open_text(path) as fh:
                for i, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as err:
                        yield Malformed(f"{path}:{i}", f"invalid JSON: {err.msg}", line[:2000])
                        continue
                    yield Record(f"{path}:{i}", row) if isinstance(row, dict) else Malformed(f"{path}:{i}", "line is not a JSON object", line[:2000])


def write_jsonl(rows, path: str | Path) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
            n += 1
    return n
