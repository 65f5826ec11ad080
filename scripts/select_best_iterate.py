"""The recipe's output: rank the candidate policies by mean judge reward on the validation prompts, write the
ranking, and make results/final/policy a model folder holding the winner."""

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import logger, parser
from online_rlhf.core.tables import read_parquet, write_json
from online_rlhf.online.selection import link_model, rank_candidates

log = logger("select_best_iterate")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--names", nargs="+", required=True, help="candidate names, in training order")
    p.add_argument("--scored", nargs="+", required=True, help="each candidate's judged validation samples, same order")
    p.add_argument("--models", nargs="+", required=True, help="each candidate's model folder, same order")
    p.add_argument("--judge", required=True)
    p.add_argument("--output", required=True, help="folder that receives the winner's files")
    p.add_argument("--ranking", required=True)
    a = p.parse_args()
    if not len(a.names) == len(a.scored) == len(a.models):
        raise SystemExit(f"--names ({len(a.names)}), --scored ({len(a.scored)}) and --models ({len(a.models)}) must pair up")
    rewards = {name: read_parquet(path, ("reward",))["reward"].to_list() for name, path in zip(a.names, a.scored)}
    ranking = rank_candidates(rewards)
    source = dict(zip(a.names, a.models))[ranking["best"]]
    files = link_model(source, a.output)
    write_json({"judge": a.judge, **ranking, "model_dir": a.output, "selected_from": source,
                "scored": dict(zip(a.names, a.scored))}, a.ranking)
    log.info("best on validation: %s (%s); %d files in %s", ranking["best"],
             {c["model"]: round(c["mean_reward"], 4) for c in ranking["candidates"]}, files, a.output)
