"""Judge one model's answers to a chat benchmark and compute its score: AlpacaEval-2 win rate and length-controlled
win rate, MT-Bench mean score (1-10; per turn and per category, reference-guided for math / reasoning / coding),
Arena-Hard win rate against the baseline. Writes every judgment (with the judge's raw output) next to the metrics,
and the judge, its settings, the GLM (AlpacaEval) and the benchmark version with every number."""

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import json_arg, logger, parser
from online_rlhf.core.records import write_jsonl
from online_rlhf.core.tables import write_json
from online_rlhf.evaluate.chat_benchmarks import (
    ARENA_LAYOUTS,
    arena_summary,
    check_arena_layout,
    judge_alpaca,
    judge_arena,
    judge_mt_bench,
    length_controlled_win_rate,
    mt_bench_summary,
    read_answers,
    read_questions,
)
from online_rlhf.evaluate.chat_judges import judge_settings, make_judge

log = logger("judge_benchmark")


def alpaca_outputs(path, questions):
    outputs = read_questions("alpaca_eval", path)
    if [o["turns"][0] for o in outputs] != [q["turns"][0] for q in questions]:
        raise ValueError(f"{path}: the model outputs do not follow the instructions of the question file in order")
    return {o["id"]: [o["reference"]] for o in outputs}


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--benchmark", required=True, choices=["alpaca_eval", "mt_bench", "arena_hard"])
    p.add_argument("--benchmark-version", required=True, help="where the benchmark's files come from (a label kept with the numbers)")
    p.add_argument("--model-name", required=True)
    p.add_argument("--questions", required=True)
    p.add_argument("--answers", required=True)
    p.add_argument("--baseline", default=None, help="Arena-Hard: the baseline model's answers")
    p.add_argument("--layout", choices=ARENA_LAYOUTS, default=None, help="Arena-Hard: the configured arena-hard-auto layout (its parser and judge settings)")
    p.add_argument("--references", default=None, help="MT-Bench: reference answers (FastChat reference_answer/gpt-4.jsonl)")
    p.add_argument("--judge", type=json_arg, required=True, help="the config's benchmarks.judge section (JSON; holds no key)")
    p.add_argument("--judge-model", default=None, help="local judge: model folder")
    p.add_argument("--gamed", default=None, help="AlpacaEval: df_gamed.csv for the leaderboard's LC GLM (else the minimal GLM)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--annotations", required=True, help="every judgment, JSON lines")
    p.add_argument("--output", required=True)
    a = p.parse_args()
    judge = make_judge(a.judge, a.judge_model)
    questions = read_questions(a.benchmark, a.questions)
    label = {}
    if a.benchmark == "alpaca_eval":
        import pandas as pd

        settings = judge_settings("alpaca_eval")
        rows = judge_alpaca(judge, questions, alpaca_outputs(a.answers, questions), a.model_name, a.seed)
        valid = [r for r in rows if r["preference"] is not None]
        metrics = length_controlled_win_rate(valid, pd.read_csv(a.gamed) if a.gamed else None)
        metrics.update(instructions=len(rows), unparsed=len(rows) - len(valid))
        metrics["mean_length_chars"] = sum(len(r["output_2"]) for r in rows) / len(rows)
        headline = {"metric": "length_controlled_winrate", "value": metrics["length_controlled_winrate"]}
        label["glm"] = metrics["glm"]
    elif a.benchmark == "mt_bench":
        settings = judge_settings("mt_bench")
        answers = read_answers(a.answers)
        rows = judge_mt_bench(judge, questions, answers, read_answers(a.references) if a.references else None)
        metrics = mt_bench_summary(rows)
        metrics["mean_length_chars"] = sum(len(t) for v in answers.values() for t in v) / sum(len(v) for v in answers.values())
        headline = {"metric": "score", "value": metrics["score"]}
    else:
        if not a.baseline or not a.layout:
            raise SystemExit("--baseline and --layout are required for arena_hard")
        settings = judge_settings("arena_hard", a.layout)
        for path, kind in ((a.questions, "questions"), (a.baseline, "answers"), (a.answers, "answers")):
            check_arena_layout(path, kind, a.layout)
        answers = read_answers(a.answers)
        rows = judge_arena(judge, questions, answers, read_answers(a.baseline), a.layout)
        metrics = arena_summary(rows, a.layout, seed=a.seed)
        metrics["mean_length_chars"] = sum(len(v[-1]) for v in answers.values()) / len(answers)
        headline = {"metric": "win_rate", "value": metrics["win_rate"]}
        label["layout"] = a.layout
    write_jsonl(rows, a.annotations)
    write_json({
        "model": a.model_name, "benchmark": a.benchmark, "benchmark_version": a.benchmark_version, "judge": judge.name,
        "judge_settings": settings, **label, **headline, "metrics": metrics, "annotations": a.annotations,
    }, a.output)
    log.info("%s %s (%s) judged by %s: %s = %.3f (%d judgments, %d unparsed)", a.model_name, a.benchmark, a.benchmark_version,
             judge.name, headline["metric"], headline["value"], len(rows), metrics["unparsed"])
