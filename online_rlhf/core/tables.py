"""Parquet in and out (polars), and JSON artifacts; chats stay nested list[struct{role, content}] columns."""

from __future__ import annotations

import json
import math
from pathlib import Path

import polars as pl

CHAT = pl.List(pl.Struct({"role": pl.String, "content": pl.String}))


def write_parquet(rows: list[dict] | pl.DataFrame, path: str | Path, schema: dict | None = None) -> pl.DataFrame:
    """Write rows (or a frame as it is); an empty table keeps its columns (from `schema`) so readers see the same
    shape either way."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(rows, pl.DataFrame):
        df = rows
    else:
        df = pl.DataFrame(rows, schema=schema, strict=False) if rows or schema else pl.DataFrame()
    df.write_parquet(path, statistics=False)
    return df


def read_parquet(path: str | Path, required: tuple[str, ...] = ()) -> pl.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such table (did the rule that makes it run?)")
    df = pl.read_parquet(path)
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; has {df.columns}")
    return df


def _finite(value):
    """JSON has no NaN/inf: write them as null instead of producing a file other tools reject."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_json(obj, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_finite(obj), indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def read_json(path: str | Path):
    return json.loads(Path(path).read_text())
