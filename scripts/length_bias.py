"""Length bias of one judge (Figure 3 of the paper) from its scores of k SFT samples per prompt: per-prompt Pearson
correlation of reward with length, a heatmap grouped by mean length, and the mean coefficient."""

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import logger, parser
from online_rlhf.core.tables import read_parquet, write_json
from online_rlhf.judges.length_bias import plot_heatmap, summarise

log = logger("length_bias")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--scored", required=True, help="scored samples (prompt_id, response, reward)")
    p.add_argument("--judge", required=True)
    p.add_argument("--groups", type=int, default=5)
    p.add_argument("--output", required=True)
    p.add_argument("--heatmap", required=True)
    a = p.parse_args()
    rows = read_parquet(a.scored, ("prompt_id", "response", "reward")).select("prompt_id", "response", "reward").to_dicts()
    if not rows:
        raise SystemExit(f"{a.scored}: no scored samples")
    summary = {"judge": a.judge, **summarise(rows, a.groups)}
    write_json(summary, a.output)
    plot_heatmap(summary, a.judge, a.heatmap)
    log.info("%s: mean r %s over %d prompts (%d undefined)", a.judge, summary["mean_r"], summary["prompts"], summary["undefined"])
