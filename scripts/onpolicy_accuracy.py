"""The online judge's accuracy on the policy's own samples (oracle-labelled pairs of the loop's and the selection's
samples), one row per sampling policy and file; see online_rlhf/judges/onpolicy.py."""

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import logger, parser
from online_rlhf.core.tables import read_parquet, write_json
from online_rlhf.judges.onpolicy import onpolicy_accuracy

log = logger("onpolicy_accuracy")

COLS = ("prompt_id", "prompt", "sample_index", "response", "reward", "judge")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--samples", nargs="+", required=True, metavar="POLICY=PATH",
                   help="judged samples of a policy: the loop's rewards.parquet (sampled from pi_{t-1}) or a selection scored.parquet")
    p.add_argument("--output", required=True)
    a = p.parse_args()
    rows = []
    for entry in a.samples:
        policy, sep, path = entry.partition("=")
        if not sep or not policy or not path:
            raise SystemExit(f"--samples {entry!r}: expected POLICY=PATH")
        table = read_parquet(path, COLS)
        judges = table["judge"].unique().to_list()
        if len(judges) != 1:
            raise SystemExit(f"{path}: expected one judge in column 'judge', found {judges}")
        cols = [*COLS, *(["over_length"] if "over_length" in table.columns else [])]
        result = onpolicy_accuracy(table.select(cols).to_dicts())
        rows.append({"policy": policy, "samples": path, "judge": judges[0], **result})
        log.info("%s (%s, judged by %s): %d pairs, accuracy %.3f; best-worst pairs right %.3f",
                 policy, path, judges[0], result["pairs"], result["accuracy"], result["best_worst"]["accuracy"])
    write_json({"rows": rows}, a.output)
