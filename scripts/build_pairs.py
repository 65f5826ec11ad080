"""Best-vs-worst (or another rule's) preference pair per prompt from scored responses; ties and unusable
responses are dropped, counted and written out."""

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import logger, parser
from online_rlhf.core.tables import read_parquet, write_json, write_parquet
from online_rlhf.online.pairing import (
    DROP_SCHEMA,
    PAIR_RULES,
    PAIR_SCHEMA,
    build_pairs,
    pair_rows,
    pair_stats,
    prompt_groups,
)

log = logger("build_pairs")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--rewards", required=True)
    p.add_argument("--iteration", type=int, required=True)
    p.add_argument("--rule", choices=PAIR_RULES, required=True)
    p.add_argument("--length-penalty", type=float, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--drops", required=True)
    p.add_argument("--stats", required=True)
    a = p.parse_args()
    table = read_parquet(
        a.rewards,
        ("prompt_id", "prompt", "sample_index", "response", "reward", "over_length", "comparison_over_length", "num_tokens", "finish_reason"),
    )
    pairs, drops = build_pairs(prompt_groups(table), a.rule, a.length_penalty, a.seed + a.iteration)
    out = pair_rows(pairs, a.iteration, a.rewards)
    write_parquet(out, a.output, PAIR_SCHEMA)
    write_parquet(drops, a.drops, DROP_SCHEMA)
    stats = pair_stats(table, out, drops, a.iteration, a.rule, a.length_penalty)
    write_json(stats, a.stats)
    if stats["prompts"] and not out:
        raise SystemExit(f"iteration {a.iteration}: no pair from {stats['prompts']} prompts (dropped: {stats['dropped']}); nothing to train on")
    log.info("iteration %d: %d pairs from %d prompts; dropped %s", a.iteration, len(out), stats["prompts"], stats["dropped"])
