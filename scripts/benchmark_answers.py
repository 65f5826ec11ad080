"""Answer chat benchmarks' questions with one policy (greedy), turn by turn, and write the answers in each
benchmark's native format (AlpacaEval model outputs JSON, MT-Bench / Arena-Hard model_answer JSON lines; Arena-Hard in
the layout of the configured arena-hard-auto version)."""

import json
from pathlib import Path

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import add_generation_args, json_arg, logger, parser, vllm_settings
from online_rlhf.core.records import write_jsonl
from online_rlhf.evaluate.chat_benchmarks import answer_rows, answer_turns, check_arena_layout, read_questions
from online_rlhf.online.generation import SamplingGroup, generate_transformers, generate_vllm
from online_rlhf.train.models import seed_everything

log = logger("benchmark_answers")
GREEDY = [SamplingGroup(0.0, 1)]

if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--benchmarks", type=json_arg, required=True, help='JSON list of {"benchmark", "questions", "output", "layout" (Arena-Hard)}')
    p.add_argument("--model", required=True)
    p.add_argument("--model-name", required=True)
    add_generation_args(p)
    a = p.parse_args()
    seed_everything(a.seed, a.threads)
    for job in a.benchmarks:
        benchmark, output = job["benchmark"], job["output"]

        def generate(chats, turn, benchmark=benchmark):
            if a.backend == "vllm":
                out = generate_vllm(a.model, chats, GREEDY, a.max_new_tokens, a.seed, vllm_settings(a), a.stop_token_ids)
            else:
                out = generate_transformers(
                    a.model, chats, GREEDY, a.max_new_tokens, a.batch_size, a.seed, a.dtype, desc=f"{benchmark} turn {turn + 1}",
                    stop_token_ids=a.stop_token_ids, max_model_len=a.max_model_len,
                )
            return [(r["response"], r["num_tokens"]) for r in out]

        layout = job.get("layout")  # Arena-Hard only
        if benchmark == "arena_hard":
            check_arena_layout(job["questions"], "questions", layout)
        questions = read_questions(benchmark, job["questions"])
        answers, tokens = answer_turns(questions, generate)
        rows = answer_rows(benchmark, a.model_name, questions, answers, tokens, layout)
        if benchmark == "alpaca_eval":  # AlpacaEval reads one JSON array, the others JSON lines
            Path(output).parent.mkdir(parents=True, exist_ok=True)
            Path(output).write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
        else:
            write_jsonl(rows, output)
        log.info("%s: %d questions, %d answers by %s -> %s", benchmark, len(questions), sum(map(len, answers)), a.model_name, output)
