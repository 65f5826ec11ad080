"""Pairwise preference model (stage 4 of the paper): an LM that reads two answers and names the better one.

Input: the instruction `[CONTEXT] {context} [RESPONSE A] {a} [RESPONSE B] {b}` as the user turn of the chat template;
target: the single label token `A` or `B` (the answer order is randomised in training so that position carries no
signal). At inference P(a1 > a2) is p_A / (p_A + p_B) at the label position, averaged over both orders.
"""

from __future__ import annotations

import random
from pathlib import Path

from tqdm.auto import tqdm

CONTEXT, RESPONSE_A, RESPONSE_B = "[CONTEXT]", "[RESPONSE A]", "[RESPONSE B]"
LABELS = ("A", "B")
# Pieces of text the instruction always contains; a tokenizer that cannot encode one of them (the made-up world's
# character-level vocabulary) gets it as a new token, a real one (Llama-3) already has them.
FIXED_PIECES = (CONTEXT, RESPONSE_A, RESPONSE_B, "[USER]", "[ASSISTANT]", " ", "\n", *LABELS)


def render_context(prompt: list[dict]) -> str:
    """The conversation so far as text: a single user turn as is, longer ones with a role marker per turn."""
    if len(prompt) == 1 and prompt[0]["role"] == "user":
        return prompt[0]["content"]
    return "\n".join(f"[{m['role'].upper()}] {m['content']}" for m in prompt)


def instruction(prompt: list[dict], response_a: str, response_b: str) -> list[dict]:
    """The chat the model reads: one user turn holding the whole comparison."""
    text = f"{CONTEXT} {render_context(prompt)} {RESPONSE_A} {response_a} {RESPONSE_B} {response_b}"
    return [{"role": "user", "content": text}]


def training_row(pair: dict, rng: random.Random) -> dict:
    """A canonical pair as TRL's conversational prompt/completion row, the two answers in a random order."""
    swap = rng.random() < 0.5
    a, b = (pair["rejected"], pair["chosen"]) if swap else (pair["chosen"], pair["rejected"])
    return {"prompt": instruction(pair["prompt"], a, b), "completion": [{"role": "assistant", "content": LABELS[1 if swap else 0]}]}


def missing_pieces(tokenizer) -> list[str]:
    """Fixed pieces the tokenizer cannot encode faithfully (an unknown token, or a label that is not one token)."""
    missing = []
    for piece in FIXED_PIECES:
        ids = tokenizer.encode(piece, add_special_tokens=False)
        if tokenizer.unk_token_id is not None and tokenizer.unk_token_id in ids or piece in LABELS and len(ids) != 1:
            missing.append(piece)
    return missing


def label_token_ids(tokenizer) -> tuple[int, int]:
    ids = [tokenizer.encode(label, add_special_tokens=False) for label in LABELS]
    if any(len(i) != 1 for i in ids):
        raise ValueError(f"preference model tokenizer: labels {LABELS} must each be one token, got {ids}")
    return ids[0][0], ids[1][0]


def prepare_tokenizer(init_dir: str):
    """The SFT model's tokenizer with the instruction's pieces added as tokens where the vocabulary lacks them."""
    from online_rlhf.train.models import load_tokenizer

    tok = load_tokenizer(init_dir)
    added = missing_pieces(tok)
    if added:
        tok.add_tokens(added)
    if missing_pieces(tok):
        raise ValueError(f"tokenizer of {init_dir} still cannot encode {missing_pieces(tok)} after adding them")
    return tok, added


def prepare_model(init_dir: str, tok, dtype):
    """The SFT model with new embedding rows for the tokens `prepare_tokenizer` added (the base model is left as it
    is)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(init_dir, dtype=dtype)
    if len(tok) != model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tok), mean_resizing=False)
    return model


def prepare_tokenizer_and_model(init_dir: str, dtype):
    tok, added = prepare_tokenizer(init_dir)
    return tok, prepare_model(init_dir, tok, dtype), added


def split_over_length(tokenizer, rows: list[dict], max_length: int) -> tuple[list[dict], list[dict]]:
    """Rows whose templated prompt + label fit in max_length tokens, and those that do not (left out and counted:
    a clipped comparison would hide one of the answers)."""
    from online_rlhf.train.models import chat_token_ids

    fits, over = [], []
    for row, ids in zip(rows, chat_token_ids(tokenizer, [row["prompt"] + row["completion"] for row in rows]), strict=True):
        (fits if len(ids) <= max_length else over).append(row)
    return fits, over


def train_preference_model(init_dir: str, pairs: list[dict], hp: dict, output: str, seed: int, threads: int | None = None) -> dict:
    """SFT of the label token on randomly ordered comparisons (TRL SFTTrainer, loss on the completion only)."""
    from trl import SFTConfig, SFTTrainer

    from online_rlhf.train.checkpoints import make_stop_on_signal
    from online_rlhf.train.models import seed_everything, torch_dtype
    from online_rlhf.train.trainers import (
        MASTER_DTYPE,
        _dataset,
        _run_dir,
        _train_and_save,
        checked_args,
        common_args,
        fit_logprob_tiles_to_vocabulary,
        parameters_held,
        threads_per_process,
        trainer_class,
    )

    seed_everything(seed, threads_per_process(threads))
    tok, added = prepare_tokenizer(init_dir)
    rng = random.Random(seed)
    rows = [training_row(p, rng) for p in pairs]
    fits, over = split_over_length(tok, rows, hp["max_length"])
    # Checkpoints (and TRL's model card) go to the run's checkpoint folder beside the output, as for the other
    # trainers: a preempted job resumes, and the model folder holds only what a rerun reproduces bit for bit.
    run_dir = _run_dir(hp, output, seed, fits, [init_dir])
    args = checked_args(SFTConfig, **common_args(hp, run_dir, seed), max_length=hp["max_length"],
                        packing=hp.get("packing", False), completion_only_loss=True)
    # After the trainer's config: under ZeRO-3 the weights are partitioned as they load (online_rlhf.train.trainers).
    model = prepare_model(init_dir, tok, torch_dtype(MASTER_DTYPE))
    loaded = {"policy": parameters_held(model)}
    fit_logprob_tiles_to_vocabulary(model)
    stop = make_stop_on_signal()
    trainer = trainer_class(SFTTrainer, hp)(model=model, args=args, train_dataset=_dataset(fits), processing_class=tok, callbacks=[stop])
    result = _train_and_save(trainer, stop, run_dir, tok, Path(output), loaded)
    labels_b = sum(r["completion"][0]["content"] == LABELS[1] for r in fits)
    return {**result, "pairs_in": len(pairs), "pairs_trained": len(fits), "dropped_over_length": len(over),
            "label_b_share": labels_b / len(fits) if fits else None, "added_tokens": added}


def prefer_first_probabilities(
    pm_dir: str, comparisons: list[tuple[list[dict], str, str]], batch_size: int, max_length: int, dtype: str = "float32", desc: str = "compare"
) -> tuple[list[float], list[bool]]:
    """P(a1 > a2) for each (prompt, a1, a2), averaged over both orders: (P_A(x, a1, a2) + P_B(x, a2, a1)) / 2.

    Returns the probabilities and, per comparison, whether it was longer than max_length tokens in either order.
    Such a comparison never scores (its probability is NaN, and it is not run): cut to fit, it would lose the
    instruction's start ([CONTEXT] and answer A from the left, the label position from the right), and the number
    would mean nothing. Callers count them (pair building drops the response with its own reason).
    """
    import math

    import torch

    from online_rlhf.core.batching import make_batches
    from online_rlhf.train.models import default_device, load_policy, load_tokenizer

    device = default_device()
    tok = load_tokenizer(pm_dir, training=False)
    id_a, id_b = label_token_ids(tok)
    model = load_policy(pm_dir, dtype=dtype, device=device)
    texts = []
    for prompt, a1, a2 in comparisons:
        for first, second in ((a1, a2), (a2, a1)):
            texts.append(tok.apply_chat_template(instruction(prompt, first, second), tokenize=False, add_generation_prompt=True))
    lengths = [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]] if texts else []
    over = [lengths[2 * k] > max_length or lengths[2 * k + 1] > max_length for k in range(len(comparisons))]
    run = [i for i in range(len(texts)) if not over[i // 2]]
    p_first = [math.nan] * len(texts)  # probability of the label naming the first-shown answer
    with torch.no_grad():
        for batch in tqdm(make_batches([lengths[i] for i in run], batch_size), desc=desc, unit="batch"):
            idx = [run[j] for j in batch]
            enc = tok([texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            # Left padding: the label position (the next token after the prompt) is the last one of every row.
            logits = model(**enc).logits[:, -1, [id_a, id_b]].float()
            probs = torch.softmax(logits, dim=-1)[:, 0].cpu().tolist()
            for i, p in zip(idx, probs):
                p_first[i] = p
    # Text 2k shows (a1, a2): a1 wins with P_A; text 2k+1 shows (a2, a1): a1 wins with P_B = 1 - P_A.
    return [(p_first[2 * k] + 1.0 - p_first[2 * k + 1]) / 2 for k in range(len(comparisons))], over


def pivot_comparisons(groups: list[list[int]]) -> tuple[list[tuple[int, int]], list[int]]:
    """The pivot ranking scheme: in every group of response indices the first one is the pivot and each other
    response is compared with it. Returns the (response, pivot) comparisons and the pivot indices.

    Cost: n - 1 comparisons per prompt of n responses, 2(n - 1) forward passes with both orders, against n(n - 1)
    for all ordered pairs; every response gets a scalar, its probability of beating the pivot (the pivot: 0.5).
    """
    comparisons, pivots = [], []
    for group in groups:
        if not group:
            continue
        pivots.append(group[0])
        comparisons.extend((i, group[0]) for i in group[1:])
    return comparisons, pivots


def score_with_preference_model(
    pm_dir: str, prompt_ids: list[str], prompts: list[list[dict]], responses: list[str], batch_size: int, max_length: int,
    dtype: str = "float32", desc: str = "pivot",
) -> tuple[list[float], list[bool]]:
    """A scalar per response for pair building: P(response > pivot), the pivot being each prompt's first response.

    Also returns, per response, whether it has no score because its comparison was longer than max_length tokens
    (score NaN). The pivot scores 1/2 only when at least one comparison with it scored: a pivot whose every
    comparison was over length was compared with nothing, and is flagged as well.
    """
    import math

    groups: dict[str, list[int]] = {}
    for i, pid in enumerate(prompt_ids):
        groups.setdefault(pid, []).append(i)
    comparisons, pivots = pivot_comparisons(list(groups.values()))
    probs, over = prefer_first_probabilities(
        pm_dir, [(prompts[i], responses[i], responses[j]) for i, j in comparisons], batch_size, max_length, dtype, desc
    )
    scores = [0.0] * len(responses)
    unscored = [False] * len(responses)
    compared: dict[int, list[bool]] = {}
    for (i, j), p, o in zip(comparisons, probs, over):
        scores[i], unscored[i] = (math.nan, True) if o else (p, False)
        compared.setdefault(j, []).append(o)
    for p in pivots:
        flags = compared.get(p, [])
        unscored[p] = bool(flags) and all(flags)
        scores[p] = math.nan if unscored[p] else 0.5
    return scores, unscored
