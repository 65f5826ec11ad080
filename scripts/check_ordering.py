"""The paper's claim as a test: SFT < offline DPO < iter1 < ... < iterT in held-out judge reward, per decoding mode,
each step a paired difference over the same prompts with its standard error (online_rlhf.evaluate.heldout.ordering_chain)."""

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import logger, parser
from online_rlhf.core.tables import read_parquet, write_json
from online_rlhf.evaluate.heldout import ordering_chain, prompt_means

log = logger("check_ordering")

COLS = ("prompt_id", "temperature", "reward")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--scored", nargs="+", required=True, metavar="MODEL=PATH", help="each model's judged held-out samples")
    p.add_argument("--chain", nargs="+", required=True, help="models in the order the claim ranks them, lowest first")
    p.add_argument("--judge", required=True)
    p.add_argument("--z", type=float, default=2.0, help="a step is significant when its difference exceeds z standard errors")
    p.add_argument("--output", required=True)
    a = p.parse_args()
    per_model = {}
    for entry in a.scored:
        model, sep, path = entry.partition("=")
        if not sep:
            raise SystemExit(f"--scored {entry!r}: expected MODEL=PATH")
        per_model[model] = prompt_means(read_parquet(path, COLS).select(COLS).to_dicts())
    result = ordering_chain(per_model, a.chain, a.z)
    write_json({"judge": a.judge, **result}, a.output)
    for mode, r in result["modes"].items():
        log.info("%s: %s holds=%s significantly=%s failed=%s", mode, " < ".join(a.chain), r["holds"], r["holds_significantly"], r["failed_steps"])
