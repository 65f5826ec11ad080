"""Concatenate normalised preference sources into a mixture (mix1, mix2, ...) as defined in the config."""

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import json_arg, logger, parser
from online_rlhf.core.tables import read_parquet, write_json, write_parquet
from online_rlhf.data.mixtures import build_mixture, mixture_sources

log = logger("build_mixture")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--name", required=True)
    p.add_argument("--spec", type=json_arg, required=True, help="the mixture's config entry")
    p.add_argument("--pairs", nargs="+", required=True, help="normalised pair tables as NAME=PATH, one per source of the spec")
    p.add_argument("--output", required=True)
    p.add_argument("--stats", required=True)
    a = p.parse_args()
    paths = dict(arg.split("=", 1) for arg in a.pairs)
    names = list(mixture_sources(a.spec))
    if set(names) != set(paths):
        raise SystemExit(f"mixture {a.name}: the spec names sources {sorted(names)} but tables were given for {sorted(paths)}")
    frames = {n: read_parquet(paths[n], ("id", "prompt_id", "prompt", "chosen", "rejected")) for n in names}
    table, stats = build_mixture(frames, a.spec)
    write_parquet(table, a.output)
    write_json({"mixture": a.name, "pairs": table.height, "prompts": table["prompt_id"].n_unique(), "sources": stats}, a.stats)
    log.info("%s: %d pairs from %s", a.name, table.height, stats)
