"""Score (prompt, response) pairs with a Bradley-Terry reward model, or with the made-up world's oracle."""

from __future__ import annotations

import math

from tqdm.auto import tqdm

from online_rlhf.core.batching import make_batches
from online_rlhf.world.task import oracle_reward


def last_user_turn(prompt: list[dict]) -> str:
    for message in reversed(prompt):
        if message["role"] == "user":
            return message["content"]
    raise ValueError(f"prompt has no user turn: {prompt!r}")


def score_with_oracle(prompts: list[list[dict]], responses: list[str]) -> list[float]:
    """The synthetic task's ground truth: the query is the last user turn."""
    return [oracle_reward(last_user_turn(p), r) for p, r in zip(prompts, responses, strict=True)]


def score_with_reward_model(
    rm_dir: str, prompts: list[list[dict]], responses: list[str], batch_size: int, max_length: int, dtype: str = "float32", desc: str = "score",
    by_length: bool = True,
) -> list[float]:
    """Scalar reward of each chat-templated conversation (reward_model_scores without the token counts)."""
    return reward_model_scores(rm_dir, prompts, responses, batch_size, max_length, dtype, desc, by_length)[0]


def reward_model_scores(
    rm_dir: str, prompts: list[list[dict]], responses: list[str], batch_size: int, max_length: int, dtype: str = "float32", desc: str = "score",
    by_length: bool = True,
) -> tuple[list[float], list[int]]:
    """Scalar reward of each chat-templated conversation, and its length in the judge's tokens before truncation;
    length-bucketed batches keep padding small (`by_length` False: batches in the given order, the naive baseline of
    benchmarks/scoring.py).

    Conversations longer than `max_length` tokens keep their end (left truncation: the reply being judged is at the
    end of the text, the oldest context goes first). Every conversation is rendered and encoded once; the counts are
    what over_length would measure, so a scoring job need not load the tokenizer and render everything again.
    """
    import torch

    from online_rlhf.train.models import default_device, load_reward_model, load_tokenizer

    device = default_device()
    tok = load_tokenizer(rm_dir, training=False)
    model = load_reward_model(rm_dir, dtype=dtype, device=device)
    texts = [
        tok.apply_chat_template(p + [{"role": "assistant", "content": r}], tokenize=False)
        for p, r in zip(prompts, responses, strict=True)
    ]
    ids = tok(texts, add_special_tokens=False)["input_ids"] if texts else []
    scores = [math.nan] * len(texts)
    with torch.no_grad():
        for idx in tqdm(make_batches([len(t) for t in texts], batch_size, by_length), desc=desc, unit="batch"):
            # left truncation as the tokenizer's truncation_side="left" would cut, then padding on the tokenizer's side
            enc = tok.pad({"input_ids": [ids[i][-max_length:] for i in idx]}, return_tensors="pt").to(device)
            logits = model(**enc).logits[:, 0].float().cpu().tolist()
            for i, v in zip(idx, logits):
                scores[i] = v
    return scores, [len(x) for x in ids]
