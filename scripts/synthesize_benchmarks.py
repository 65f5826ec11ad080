"""Write the made-up world's benchmark files (AlpacaEval, MT-Bench, Arena-Hard, lm-eval tasks), each in the native
format of the benchmark it stands for."""

import json
import random
from pathlib import Path

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import json_arg, logger, parser
from online_rlhf.core.records import write_jsonl
from online_rlhf.evaluate.chat_benchmarks import ARENA_LAYOUTS, arena_files
from online_rlhf.world.benchmarks import (
    REFERENCE_GENERATOR,
    alpaca_eval_rows,
    arena_hard_items,
    lm_eval_rows,
    mt_bench_rows,
)
from online_rlhf.world.task import WorldSpec

log = logger("synthesize_benchmarks")

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--world", type=json_arg, required=True)
    p.add_argument("--sizes", type=json_arg, required=True, help='{"alpaca_eval": n, "mt_bench": n, "arena_hard": n, "lm_eval": n}')
    p.add_argument("--accuracy", type=float, required=True, help="accuracy of the reference / baseline answers")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--output", required=True, help="folder")
    a = p.parse_args()
    spec, out = WorldSpec(**a.world), Path(a.output)
    # One stream per benchmark so resizing one never changes another's items.
    rng = {name: random.Random(f"{a.seed}:{name}") for name in ("alpaca_eval", "mt_bench", "arena_hard", "lm_eval")}
    alpaca = alpaca_eval_rows(rng["alpaca_eval"], spec, a.sizes["alpaca_eval"], a.accuracy)
    (out / "alpaca_eval").mkdir(parents=True, exist_ok=True)
    (out / "alpaca_eval/alpaca_eval.json").write_text(json.dumps(alpaca, indent=1) + "\n")
    mt_questions, mt_refs = mt_bench_rows(rng["mt_bench"], spec, a.sizes["mt_bench"])
    write_jsonl(mt_questions, out / "mt_bench/question.jsonl")
    write_jsonl(mt_refs, out / f"mt_bench/reference_answer/{REFERENCE_GENERATOR}.jsonl")
    items = arena_hard_items(rng["arena_hard"], spec, a.sizes["arena_hard"], a.accuracy)
    for layout in ARENA_LAYOUTS:  # the same items in both arena-hard-auto layouts
        questions, answers = arena_files(items, REFERENCE_GENERATOR, layout)
        write_jsonl(questions, out / f"arena_hard/{layout}/question.jsonl")
        write_jsonl(answers, out / f"arena_hard/{layout}/model_answer/{REFERENCE_GENERATOR}.jsonl")
    reverse, choice = lm_eval_rows(rng["lm_eval"], spec, a.sizes["lm_eval"])
    write_jsonl(reverse, out / "lm_eval/world_reverse/test.jsonl")
    write_jsonl(choice, out / "lm_eval/world_choice/test.jsonl")
    log.info(
        "alpaca_eval %d, mt_bench %d (with references), arena_hard %d (layouts %s), world_reverse %d, world_choice %d"
        " (%d queries left out: too few distinct wrong answers) -> %s",
        len(alpaca), len(mt_questions), len(items), "/".join(ARENA_LAYOUTS), len(reverse), len(choice), len(reverse) - len(choice), out,
    )
