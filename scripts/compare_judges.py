"""Every judge side by side (JSON + markdown): held-out pair accuracy (and whether it is above a judge without
information's), RewardBench-style sections and score, and the mean per-prompt correlation of reward with length."""

from pathlib import Path

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import logger, parser
from online_rlhf.core.tables import read_json, write_json
from online_rlhf.judges.interface import against_chance

log = logger("compare_judges")


def judge_name(path: str, parent: bool) -> str:
    p = Path(path)
    return p.parent.name if parent else p.stem


def fmt(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "–"


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--heldout", nargs="*", default=[], help="results/rm/<judge>/heldout.json")
    p.add_argument("--reward-bench", nargs="*", default=[], help="results/rm/<judge>/rewardbench.json")
    p.add_argument("--length-bias", nargs="*", default=[], help="results/rm/length_bias/<judge>.json")
    p.add_argument("--output", required=True)
    p.add_argument("--table", required=True)
    a = p.parse_args()
    judges: dict[str, dict] = {}
    for f in a.heldout:
        h = read_json(f)
        judges.setdefault(judge_name(f, True), {})["heldout"] = {
            "accuracy": h["accuracy"], "pairs": h["pairs"], "against_chance": against_chance(h["accuracy"], h["pairs"]), "source": f}
    sections: list[str] = []
    for f in a.reward_bench:
        rb = read_json(f)
        sections += [s for s in rb["sections"] if s not in sections]
        judges.setdefault(judge_name(f, True), {})["reward_bench"] = {
            "benchmark": rb["benchmark"], "score": rb["score"], "sections": {s: v["accuracy"] for s, v in rb["sections"].items()}, "source": f}
    for f in a.length_bias:
        lb = read_json(f)
        judges.setdefault(judge_name(f, False), {})["length_bias"] = {
            "mean_r": lb["mean_r"], "prompts": lb["prompts"], "undefined": lb["undefined"], "source": f}
    write_json({"judges": judges, "sections": sections}, a.output)
    head = ["judge", "held-out accuracy", *sections, "RewardBench-style score", "mean r(reward, length)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, j in judges.items():
        rb = j.get("reward_bench", {})
        cells = [name, fmt(j.get("heldout", {}).get("accuracy")), *(fmt(rb.get("sections", {}).get(s)) for s in sections),
                 fmt(rb.get("score")), fmt(j.get("length_bias", {}).get("mean_r"))]
        lines.append("| " + " | ".join(cells) + " |")
    Path(a.table).write_text("\n".join(lines) + "\n")
    log.info("\n%s", "\n".join(lines))
