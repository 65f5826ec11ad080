"""Concatenate normalised preference sources into a mixture (mix1, mix2, ...) as defined in the config."""

import _bootstrap  # noqa: F401

from online_rlhf.cli import json_arg, logger, parser
from online_rlhf.mixtures import build_mixture, mixture_sources
from online_rlhf.tables import read_parquet, write_json, write_parquet

log = logger("build_mixture")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--name", required=True)
    p.add_argument("--spec", type=json_arg, required=True, help="the mixture's config entry")
    p.add_argument("--pairs", nargs="+", required=True, help="normalised pair tables, in the order of spec.sources")
    p.add_argument("--output", required=True)
    p.add_argument("--stats", required=True)
    a = p.parse_args()
    names = list(mixture_sources(a.spec))
    if len(names) != len(a.pairs):
        raise SystemExit(f"mixture {a.name}: {len(names)} sources in the spec but {len(a.pairs)} tables given")
    frames = {n: read_parquet(path, ("id", "prompt", "chosen", "rejected")) for n, path in zip(names, a.pairs)}
    rows, stats = build_mixture({n: f.to_dicts() for n, f in frames.items()}, a.spec)
    schema = next(iter(frames.values())).schema
    write_parquet(rows, a.output, schema)
    write_json({"mixture": a.name, "pairs": len(rows), "prompts": len({r["prompt_id"] for r in rows}), "sources": stats}, a.stats)
    log.info("%s: %d pairs from %s", a.name, len(rows), stats)
