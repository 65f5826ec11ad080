"""Draw iteration t's prompts from the pool: slice t of one seeded permutation, after the validation prompts
(iteration 0), so iterations never overlap each other or the validation set."""

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import logger, parser
from online_rlhf.core.tables import read_parquet, write_parquet
from online_rlhf.data.mixtures import select_iteration_prompts

log = logger("select_prompts")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--pool", required=True)
    p.add_argument("--iteration", type=int, required=True)
    p.add_argument("--per-iteration", type=int, required=True)
    p.add_argument("--validation", type=int, default=0, help="prompts reserved for best-iterate selection")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--output", required=True)
    a = p.parse_args()
    pool = read_parquet(a.pool, ("prompt_id", "prompt"))
    rows = select_iteration_prompts(pool.select("prompt_id", "prompt").to_dicts(), a.iteration, a.per_iteration, a.seed, a.validation)
    write_parquet(rows, a.output, {"prompt_id": pool.schema["prompt_id"], "prompt": pool.schema["prompt"]})
    log.info("%s: %d prompts from a pool of %d", f"iteration {a.iteration}" if a.iteration else "validation", len(rows), pool.height)
