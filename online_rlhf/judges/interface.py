"""One interface over the three judges: a Bradley-Terry reward model, the pairwise preference model, the oracle.

Two questions are asked of a judge: which side of a preference pair it prefers (held-out and RewardBench-style
accuracy), and a scalar per response for pair building and the length-bias study.
"""

from __future__ import annotations

import math

from online_rlhf.judges.scoring import reward_model_scores, score_with_oracle, score_with_reward_model

JUDGE_KINDS = ("reward_model", "preference_model", "oracle")


def pair_margins(
    kind: str, model_dir: str | None, prompts: list[list[dict]], chosen: list[str], rejected: list[str], batch_size: int, max_length: int,
    dtype: str = "float32",
) -> list[float]:
    """How much the judge prefers `chosen` over `rejected` per pair: > 0 right, 0 a tie, < 0 wrong.

    reward_model: r(chosen) - r(rejected); preference_model: P(chosen > rejected) - 1/2, averaged over both orders;
    oracle: the difference of oracle rewards (the made-up world's ground truth). A pairwise comparison longer than
    max_length never scores: its margin is NaN, which `outcome` counts as wrong and the callers count as over_length.
    """
    if kind == "reward_model":
        rc = score_with_reward_model(model_dir, prompts, chosen, batch_size, max_length, dtype, desc="chosen")
        rr = score_with_reward_model(model_dir, prompts, rejected, batch_size, max_length, dtype, desc="rejected")
        return [c - r for c, r in zip(rc, rr)]
    if kind == "preference_model":
        from online_rlhf.train.preference_model import prefer_first_probabilities

        probs, _ = prefer_first_probabilities(model_dir, list(zip(prompts, chosen, rejected)), batch_size, max_length, dtype)
        return [p - 0.5 for p in probs]
    if kind == "oracle":
        return [c - r for c, r in zip(score_with_oracle(prompts, chosen), score_with_oracle(prompts, rejected))]
    raise ValueError(f"unknown judge kind {kind!r}; expected one of {JUDGE_KINDS}")


def outcome(margin: float) -> float:
    """1 right, 1/2 a tie (RewardBench's rule), 0 wrong; a non-finite margin counts as wrong (and is counted)."""
    if not math.isfinite(margin):
        return 0.0
    return 1.0 if margin > 0 else 0.5 if margin == 0 else 0.0


def accuracy(margins: list[float]) -> float:
    if not margins:
        raise ValueError("accuracy of no pairs is undefined")
    return sum(outcome(m) for m in margins) / len(margins)


# A judge whose held-out accuracy is within this many standard errors of 1/2 is reported as not distinguishable from
# a judge without information (the pairwise model of the default world, docs/world.md).
CHANCE_Z = 2.0


def against_chance(acc: float, pairs: int, z: float = CHANCE_Z) -> dict:
    """Held-out pair accuracy against a judge without information (accuracy 1/2): z = (acc - 1/2) / sqrt(1/4 / pairs),
    the binomial standard error under chance; `above_chance` when z exceeds `z`. Ties count half in the accuracy,
    which only narrows its spread under chance, so the test errs towards calling a judge uninformative."""
    if pairs <= 0:
        raise ValueError(f"accuracy against chance needs pairs, got {pairs}")
    stderr = math.sqrt(0.25 / pairs)
    score = (acc - 0.5) / stderr
    return {"stderr": stderr, "z": score, "threshold": z, "above_chance": score > z}


def score_responses(
    kind: str, model_dir: str | None, prompt_ids: list[str], prompts: list[list[dict]], responses: list[str],
    batch_size: int, max_length: int, dtype: str = "float32",
) -> tuple[list[float], list[bool], list[int] | None]:
    """A scalar per response: the RM's reward, the oracle's, or the pairwise model's P(response > pivot) (each prompt's
    first response is its pivot, see preference_model.pivot_comparisons); per response, whether the pairwise
    comparison that would score it was longer than max_length (then it has no score: NaN; the other judges: never);
    and the reward model's count of each conversation's tokens, measured while scoring (None for the other judges:
    over_length measures those)."""
    if kind == "reward_model":
        scores, token_counts = reward_model_scores(model_dir, prompts, responses, batch_size, max_length, dtype)
        return scores, [False] * len(scores), token_counts
    if kind == "preference_model":
        from online_rlhf.train.preference_model import score_with_preference_model

        return *score_with_preference_model(model_dir, prompt_ids, prompts, responses, batch_size, max_length, dtype), None
    if kind == "oracle":
        scores = score_with_oracle(prompts, responses)
        return scores, [False] * len(scores), None
    raise ValueError(f"unknown judge kind {kind!r}; expected one of {JUDGE_KINDS}")


def over_length(tokenizer_dir: str | None, prompts: list[list[dict]], responses: list[str], max_length: int) -> list[bool]:
    """Whether each chat-templated conversation (prompt + response) is longer than max_length tokens of the judge's
    tokenizer. Stated rule: such responses are still scored by the Bradley-Terry model (left-truncated) but never enter
    a preference pair; the pairwise judge does not score over-length comparisons at all (score_responses)."""
    if tokenizer_dir is None:
        return [False] * len(responses)
    from online_rlhf.train.models import chat_token_ids, load_tokenizer

    tok = load_tokenizer(tokenizer_dir, training=False)
    conversations = [p + [{"role": "assistant", "content": r}] for p, r in zip(prompts, responses, strict=True)]
    return [len(ids) > max_length for ids in chat_token_ids(tok, conversations)]
