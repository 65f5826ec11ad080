"""Write one dataset of the made-up world in the native schema of the real source it stands for."""

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import json_arg, logger, parser
from online_rlhf.core.records import write_jsonl
from online_rlhf.world.datasets import synthesise
from online_rlhf.world.task import WorldSpec

log = logger("synthesize_dataset")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--format", required=True)
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--role", default=None, help="slice of query space (default: the format's usual role)")
    p.add_argument("--accuracy", type=float, default=None, help="behaviour policy accuracy (default: world.demo_accuracy)")
    p.add_argument("--world", type=json_arg, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--output", required=True, help="JSON-lines file")
    a = p.parse_args()
    rows = synthesise(a.format, WorldSpec(**a.world), a.rows, a.seed, a.role, a.accuracy)
    n = write_jsonl(rows, a.output)
    log.info("%d %s rows -> %s", n, a.format, a.output)
