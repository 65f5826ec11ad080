"""Check our chat-benchmark judges against the originals' own files (an auditor's command, not a rule): the judge
prompts are the same texts, and our rating / verdict parsers give what the originals' parsing code gives on the
edge cases. Needs git clones of lm-sys/FastChat and lmarena/arena-hard-auto (any clone that has the commits; bare is
fine). The originals' parsing functions are read from those clones and run here, side by side with ours.

  python scripts/check_benchmark_originals.py --fastchat ../FastChat --arena-hard-auto ../arena-hard-auto
"""

import ast
import json
import re
import subprocess
import sys

import _bootstrap  # noqa: F401
import yaml

from online_rlhf.core.cli import parser
from online_rlhf.evaluate import chat_judges as bj

FASTCHAT_REV = "0e6d3e4beaab66f4d3f93db72541a4abab8af28d"
ARENA_2024_REV = "3071ef95d913bb5cd632641db336a3b6c7fe4bdd"
ARENA_2025_REV = "196f6b826783b3da7310e361a805fa36f0be83f3"
VERDICT_CASES = [
    "My final verdict is tie: [[A=B]]", "[[A>B]] then [[B>A]]", "[[A>B]] and again [[A>B]]", "[[a>b]]", "[[A > B]]",
    "[[B<A]]", "[A>B]", "no verdict", "[[A>>B]] [B>A]", "[b>>a] final", "[[A=B]]\n[[B<<A]]", "[[]]", "[[AB]]",
]
RATING_CASES = ["Rating: [[8]]", "[[7]] later [[3]]", "[[0]]", "[[11]]", "Rating: [7.5]", "[5] then [[9]]", "none",
                "[[8.5]]", "[[ 8 ]]", "[[10.]]"]


def show(repo: str, rev: str, path: str) -> str:
    return subprocess.run(["git", "-C", repo, "show", f"{rev}:{path}"], capture_output=True, text=True, check=True).stdout


def function(source: str, name: str, namespace: dict):
    """One top-level function of a Python file, compiled on its own (the file's imports are not needed)."""
    tree = ast.parse(source)
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    exec(compile(ast.Module(body=[node], type_ignores=[]), name, "exec"), namespace)  # noqa: S102 -- the auditor's own clone
    return namespace[name]


def main() -> int:
    p = parser(__doc__)
    p.add_argument("--fastchat", required=True)
    p.add_argument("--arena-hard-auto", required=True)
    a = p.parse_args()
    checks = []
    prompts = {json.loads(line)["name"]: json.loads(line) for line in show(a.fastchat, FASTCHAT_REV, "fastchat/llm_judge/data/judge_prompts.jsonl").splitlines() if line.strip()}
    ours = {"single-v1": (bj.MT_BENCH_SYSTEM, bj.MT_BENCH_SINGLE), "single-math-v1": (bj.MT_BENCH_SYSTEM, bj.MT_BENCH_MATH),
            "single-v1-multi-turn": (bj.MT_BENCH_MULTI_SYSTEM, bj.MT_BENCH_MULTI),
            "single-math-v1-multi-turn": (bj.MT_BENCH_MATH_MULTI_SYSTEM, bj.MT_BENCH_MATH_MULTI)}
    for name, (system, template) in ours.items():
        checks.append((f"FastChat prompt {name}", prompts[name]["system_prompt"] == system and prompts[name]["prompt_template"] == template))
    old_cfg = yaml.safe_load(show(a.arena_hard_auto, ARENA_2024_REV, "config/judge_config.yaml"))
    checks.append(("arena-hard-auto 2024 system prompt", old_cfg["system_prompt"] == bj.ARENA_SYSTEM))
    user = old_cfg["prompt_template"][0].replace("{question_1}", "{question}").replace("{answer_1}", "{answer_a}").replace("{answer_2}", "{answer_b}")
    checks.append(("arena-hard-auto 2024 user template", user == bj.ARENA_USER))
    checks.append(("arena-hard-auto 2024 max_tokens / attempts", (old_cfg["max_tokens"], old_cfg["number_of_judgment_attempts"])
                   == (bj.JUDGE_SETTINGS["arena_hard:2024"]["max_tokens"], bj.JUDGE_SETTINGS["arena_hard:2024"]["attempts"])))
    new_cfg = yaml.safe_load(show(a.arena_hard_auto, ARENA_2025_REV, "config/arena-hard-v0.1.yaml"))
    checks.append(("arena-hard-auto 2025 max_tokens", new_cfg["max_tokens"] == bj.JUDGE_SETTINGS["arena_hard:2025"]["max_tokens"]))
    old_score = function(show(a.arena_hard_auto, ARENA_2024_REV, "gen_judgment.py"), "get_score", {"re": re})
    new_score = function(show(a.arena_hard_auto, ARENA_2025_REV, "gen_judgment.py"), "get_score", {})
    pattern = re.compile(old_cfg["regex_pattern"])
    for text in VERDICT_CASES:
        checks.append((f"verdict 2024 {text!r}", old_score(text, pattern) == bj.parse_verdict(text, "2024")))
        checks.append((f"verdict 2025 {text!r}", new_score(text, new_cfg["regex_patterns"]) == bj.parse_verdict(text, "2025")[0]))
    common = show(a.fastchat, FASTCHAT_REV, "fastchat/llm_judge/common.py")
    one = re.compile(re.search(r'one_score_pattern = re.compile\("(.*)"\)', common).group(1))
    backup = re.compile(re.search(r'one_score_pattern_backup = re.compile\("(.*)"\)', common).group(1))
    for text in RATING_CASES:
        # run_judge_single's rating step: re.search with the pattern, then the backup; -1 when neither matches.
        m = re.search(one, text) or re.search(backup, text)
        theirs = ast.literal_eval(m.groups()[0]) if m else -1
        checks.append((f"rating {text!r}", (theirs == -1 and bj.parse_rating(text) is None) or theirs == bj.parse_rating(text)))
    for name, ok in checks:
        print(f"{'ok ' if ok else 'DIFF'} {name}")
    failed = sum(not ok for _, ok in checks)
    print(f"{len(checks) - failed} of {len(checks)} checks agree with the originals")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
