"""Reward-model scoring at scale: length-bucketed batches against naive fixed-order batches, same responses, same
batch size, same run.

Builds a reward model of the default config's shape (random init; throughput depends on tokens, not on what the
weights learned) with room for long inputs, and responses whose lengths spread like real samples (log-normal, from a
few to a few hundred tokens; the made-up world's own replies are all about 10 characters, where ordering cannot
matter). Reports responses/second and padding waste (pad tokens / all tokens in the batches) for both orders, and
the ratios against the fixed-order baseline. Writes benchmarks/results/scoring.json.

    python benchmarks/scoring.py [--responses 2048] [--batch-size 64] [--mean-chars 120]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from generation import timed

from online_rlhf.core.batching import make_batches, padding_share
from online_rlhf.judges.scoring import score_with_reward_model
from online_rlhf.train.models import build_base_model, build_tokenizer, load_tokenizer, seed_everything
from online_rlhf.world.task import WorldSpec, draw_queries

RESULTS = ROOT / "benchmarks" / "results" / "scoring.json"


def build_reward_model(folder: Path, max_positions: int) -> str:
    from transformers import AutoModelForSequenceClassification

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    tok = build_tokenizer([config["world"]["alphabet"]])
    arch = {**config["models"]["base"]["architecture"], "max_position_embeddings": max_positions}
    base = folder / "base"
    build_base_model(tok, arch, seed=0).save_pretrained(base)
    tok.save_pretrained(base)
    rm = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
    rm.config.pad_token_id = tok.pad_token_id
    rm.save_pretrained(folder / "rm")
    tok.save_pretrained(folder / "rm")
    return str(folder / "rm")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--responses", type=int, default=2048)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--mean-chars", type=float, default=120.0, help="median response length (log-normal, sigma 0.8)")
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="timings are the median of this many runs")
    ap.add_argument("--output", type=Path, default=RESULTS)
    a = ap.parse_args()
    seed_everything(0, a.threads)
    rng = random.Random(0)
    spec = WorldSpec()
    queries = draw_queries(rng, spec, "heldout", a.responses, unique=False)
    prompts = [[{"role": "user", "content": q}] for q in queries]
    lengths = [max(1, min(a.max_length - 16, round(rng.lognormvariate(math.log(a.mean_chars), 0.8)))) for _ in queries]
    responses = ["".join(rng.choice(spec.alphabet) for _ in range(n)) for n in lengths]
    result: dict = {"machine": platform.processor() or platform.machine(), "threads": a.threads, "responses": a.responses,
                    "batch_size": a.batch_size, "median_chars": a.mean_chars, "max_length": a.max_length, "repeats": a.repeats}
    with tempfile.TemporaryDirectory() as tmp:
        rm = build_reward_model(Path(tmp), a.max_length)
        tok = load_tokenizer(rm)
        texts = [tok.apply_chat_template(p + [{"role": "assistant", "content": r}], tokenize=False) for p, r in zip(prompts, responses)]
        tokens = [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]]
        runs = {}
        scores = {}
        for name, by_length in (("fixed_order", False), ("length_bucketed", True)):
            out, seconds = timed(lambda b=by_length, n=name: score_with_reward_model(rm, prompts, responses, a.batch_size, a.max_length, desc=n, by_length=b), a.repeats)
            scores[name] = out
            # The scorer buckets by characters; the waste is counted in the tokens the model actually processes.
            waste = padding_share(tokens, make_batches([len(t) for t in texts], a.batch_size, by_length))
            runs[name] = {"seconds": seconds, "responses_per_second": a.responses / seconds, "padding_waste": waste}
            print(f"{name:>16}: {a.responses} responses in {seconds:.2f} s = {a.responses / seconds:,.0f} responses/s; padding {waste:.1%} of tokens")
        same = max(abs(x - y) for x, y in zip(scores["fixed_order"], scores["length_bucketed"]))
        runs["speedup"] = runs["length_bucketed"]["responses_per_second"] / runs["fixed_order"]["responses_per_second"]
        runs["padding_reduction"] = runs["fixed_order"]["padding_waste"] - runs["length_bucketed"]["padding_waste"]
        runs["max_score_difference"] = same
        result["scoring"] = runs
        result["mean_tokens"] = sum(tokens) / len(tokens)
        print(f"length bucketing: {runs['speedup']:.2f}x the fixed order's responses/s; padding {runs['fixed_order']['padding_waste']:.1%} -> "
              f"{runs['length_bucketed']['padding_waste']:.1%}; same scores up to {same:.1e}")
    a.output.parent.mkdir(parents=True, exist_ok=True)
    a.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
