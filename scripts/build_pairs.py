"""Best-vs-worst (or another rule's) preference pair per prompt from scored responses; ties and unusable
responses are dropped, counted and written out."""

import statistics
from collections import Counter

import _bootstrap  # noqa: F401
import polars as pl

from online_rlhf.core.cli import logger, parser
from online_rlhf.core.tables import CHAT, read_parquet, write_json, write_parquet
from online_rlhf.data.sources.common import pair_id
from online_rlhf.online.pairing import PAIR_RULES, build_pairs

log = logger("build_pairs")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--rewards", required=True)
    p.add_argument("--iteration", type=int, required=True)
    p.add_argument("--rule", choices=PAIR_RULES, default="best_worst")
    p.add_argument("--length-penalty", type=float, default=0.0)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--drops", required=True)
    p.add_argument("--stats", required=True)
    a = p.parse_args()
    table = read_parquet(
        a.rewards,
        ("prompt_id", "prompt", "sample_index", "response", "reward", "over_length", "comparison_over_length", "num_tokens", "finish_reason"),
    )
    groups = []
    for (pid,), g in table.sort("prompt_id", "sample_index").group_by("prompt_id", maintain_order=True):
        rows = g.to_dicts()
        groups.append((pid, rows[0]["prompt"], rows))
    pairs, drops = build_pairs(groups, a.rule, a.length_penalty, a.seed + a.iteration)
    out = [
        {
            "id": pair_id(r["prompt"], r["chosen"][0]["content"], r["rejected"][0]["content"]),
            "source": f"iter{a.iteration}",
            "origin": f"{a.rewards}:{r['prompt_id']}",
            "prompt_id": r["prompt_id"],
            "prompt": r["prompt"],
            "chosen": r["chosen"][0]["content"],
            "rejected": r["rejected"][0]["content"],
            "chosen_score": r["chosen_score"],
            "rejected_score": r["rejected_score"],
            "chosen_reward": r["chosen_reward"],
            "rejected_reward": r["rejected_reward"],
            "chosen_sample": r["chosen_sample"],
            "rejected_sample": r["rejected_sample"],
        }
        for r in pairs
    ]
    schema = {"id": str, "source": str, "origin": str, "prompt_id": str, "prompt": CHAT, "chosen": str, "rejected": str,
              "chosen_score": float, "rejected_score": float, "chosen_reward": float, "rejected_reward": float,
              "chosen_sample": int, "rejected_sample": int}
    write_parquet(out, a.output, schema)
    write_parquet(drops, a.drops, {"prompt_id": str, "sample_index": int, "reason": str})
    # Unscored responses (NaN: e.g. the pairwise judge's over-length comparisons) are counted in `dropped`, not averaged.
    scored = table.filter(pl.col("reward").is_finite())
    rewards = scored["reward"].to_list()
    prompts = table["prompt_id"].n_unique()
    best = scored.group_by("prompt_id").max()["reward"].to_list()
    stats = {
        "iteration": a.iteration,
        "rule": a.rule,
        "length_penalty": a.length_penalty,
        "prompts": prompts,
        "responses": table.height,
        "pairs": len(out),
        "dropped": dict(sorted(Counter(d["reason"] for d in drops).items())),
        "mean_reward": statistics.fmean(rewards) if rewards else None,
        "mean_top1_reward": statistics.fmean(best) if best else None,
        "mean_chosen_reward": statistics.fmean(r["chosen_reward"] for r in out) if out else None,
        "mean_rejected_reward": statistics.fmean(r["rejected_reward"] for r in out) if out else None,
        "mean_chosen_chars": statistics.fmean(len(r["chosen"]) for r in out) if out else None,
        "mean_rejected_chars": statistics.fmean(len(r["rejected"]) for r in out) if out else None,
        "mean_response_chars": statistics.fmean(len(x) for x in table["response"].to_list()) if table.height else None,
        "mean_response_tokens": statistics.fmean(table["num_tokens"].to_list()) if table.height else None,
        # "length" = cut at max_new_tokens: many of these mean the budget is too small for the task.
        "finish_reasons": dict(sorted(Counter(table["finish_reason"].to_list()).items())),
    }
    write_json(stats, a.stats)
    if prompts and not out:
        raise SystemExit(f"iteration {a.iteration}: no pair from {prompts} prompts (dropped: {stats['dropped']}); nothing to train on")
    log.info("iteration %d: %d pairs from %d prompts; dropped %s", a.iteration, len(out), prompts, stats["dropped"])
