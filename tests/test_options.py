"""Each option of the online loop changes what it should, on the made-up world with a tiny real model: DPO loss
types, the NLL/RPO term, label smoothing and the reference model change the trained policy (an unchanged
config reproduces it bit for bit), extra stop tokens end generation, length-grouped batches pad less while taking every row
once, and the reward model's packed (padding-free) batches give the padded batches' rewards, gradients and losses."""

import hashlib
import random

import pytest

from online_rlhf.online.generation import SamplingGroup, cut_at_stop, generate_transformers, stop_ids
from online_rlhf.train.models import build_base_model, build_tokenizer, load_tokenizer
from online_rlhf.train.packing import PackedPreferenceCollator, pack_first_fit, packed_layout, sequence_rewards
from online_rlhf.train.trainers import (
    LengthGroupedSampler,
    length_grouped_order,
    padded_lengths,
    train_dpo,
    train_reward_model,
    trainable_pairs,
    trainer_class,
)
from online_rlhf.world.task import ERROR_KINDS, WorldSpec, corrupt, draw_queries, target_response

SPEC = WorldSpec()
TINY = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
        "num_key_value_heads": 2, "max_position_embeddings": 64}
HP = {"beta": 0.1, "loss_type": "sigmoid", "epochs": 1, "max_steps": 4, "learning_rate": 1e-2, "lr_scheduler": "constant",
      "global_batch_size": 8, "per_device_batch_size": 8, "max_length": 48, "precision": "fp32", "logging_steps": 1}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("options")
    tok = build_tokenizer([SPEC.alphabet])
    for name, seed in (("policy", 1), ("other_reference", 2)):
        build_base_model(tok, TINY, seed).save_pretrained(root / name)
        tok.save_pretrained(root / name)
    rng = random.Random(0)
    rows = []
    for q in draw_queries(rng, SPEC, "preference", 32, unique=True):
        rows.append({"prompt": [{"role": "user", "content": q}], "chosen": target_response(q),
                     "rejected": corrupt(q, rng.choice(ERROR_KINDS), rng, SPEC)})
    pairs, counts = trainable_pairs(str(root / "policy"), rows, HP["max_length"])
    assert counts["dropped_over_length"] == 0
    return root, pairs


def trained(world, name, ref="policy", **changes) -> str:
    root, pairs = world
    out = root / "runs" / name
    train_dpo(str(root / "policy"), str(root / ref), pairs, {**HP, **changes}, str(out), seed=3, threads=1)
    return hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def baseline(world):
    return trained(world, "sigmoid")


def test_an_unchanged_config_reproduces_the_policy_bit_for_bit(world, baseline):
    assert trained(world, "sigmoid_again") == baseline


@pytest.mark.parametrize(
    "name, changes",
    [
        ("hinge", {"loss_type": "hinge"}),
        ("ipo", {"loss_type": "ipo"}),
        ("rpo", {"rpo_alpha": 1.0}),
        ("robust_smoothed", {"loss_type": "robust", "label_smoothing": 0.2}),
        ("beta", {"beta": 0.5}),
    ],
)
def test_each_dpo_option_changes_the_policy(world, baseline, name, changes):
    assert trained(world, name, **changes) != baseline


def test_label_smoothing_that_trl_would_ignore_is_refused(world):
    with pytest.raises(ValueError, match="no effect with loss_type"):
        trained(world, "smoothed_sigmoid", label_smoothing=0.2)


def test_the_reference_model_changes_the_policy(world, baseline):
    # reference = SFT (the paper) vs the previous iterate: a different pi_ref gives a different DPO gradient
    assert trained(world, "other_reference", ref="other_reference") != baseline


def test_stop_ids_and_cut():
    assert stop_ids(2, [7, 2, 5]) == [2, 5, 7]
    assert cut_at_stop([4, 5, 7, 9], [7], pad_token_id=0) == ([4, 5], "stop")
    assert cut_at_stop([4, 5, 0, 0], [7], pad_token_id=0) == ([4, 5], "length")


def test_extra_stop_tokens_end_generation(world):
    root, _ = world
    model = str(root / "policy")
    tok = load_tokenizer(model)
    prompts = [[{"role": "user", "content": q}] for q in ("abcd", "hgfed", "cabde")]
    groups = [SamplingGroup(1.0, 4)]
    free = generate_transformers(model, prompts, groups, max_new_tokens=16, batch_size=8, seed=0)
    # Stop on the letters the random-init model emits most, so the test stops often.
    counts = {ch: sum(r["response"].count(ch) for r in free) for ch in SPEC.alphabet}
    stop_chars = sorted(counts, key=counts.get, reverse=True)[:3]
    ids = tok.convert_tokens_to_ids(stop_chars)
    stopped = generate_transformers(model, prompts, groups, max_new_tokens=16, batch_size=8, seed=0, stop_token_ids=ids)
    assert all(not set(stop_chars) & set(r["response"]) for r in stopped)
    assert any(r["finish_reason"] == "stop" and r["num_tokens"] < 16 for r in stopped)
    assert all(r["num_tokens"] == 16 for r in stopped if r["finish_reason"] == "length")


def test_reward_model_pairs_are_tokenized_once_as_trl_tokenizes_them(world):
    # The RM's rows are token ids made here (TRL then skips its own pass): they must be the ids TRL would make, and
    # the over-length rule must count the same pairs in both forms.
    from trl.data_utils import _tokenize

    root, _ = world
    tok = load_tokenizer(root / "policy")
    rng = random.Random(1)
    rows = [{"prompt": [{"role": "user", "content": q}], "chosen": target_response(q), "rejected": corrupt(q, "copy", rng, SPEC)}
            for q in draw_queries(rng, SPEC, "preference", 16, unique=True)]
    tokenized, counts = trainable_pairs(str(root / "policy"), rows, HP["max_length"], tokenized=True)
    assert [r["chosen_ids"] for r in tokenized] == [_tokenize(tok, r["prompt"] + [{"role": "assistant", "content": r["chosen"]}])["input_ids"] for r in rows]
    assert [r["rejected_ids"] for r in tokenized] == [_tokenize(tok, r["prompt"] + [{"role": "assistant", "content": r["rejected"]}])["input_ids"] for r in rows]
    shortest_long_side = sorted(max(len(r["chosen_ids"]), len(r["rejected_ids"])) for r in tokenized)[len(rows) // 2]
    for form in (True, False):
        _, tight = trainable_pairs(str(root / "policy"), rows, shortest_long_side - 1, tokenized=form)
        assert tight["dropped_over_length"] == sum(max(len(r["chosen_ids"]), len(r["rejected_ids"])) >= shortest_long_side for r in tokenized)
    assert counts == {"pairs_in": 16, "pairs_trained": 16, "dropped_over_length": 0}


def test_fitting_trl_logprob_tiles_to_the_vocabulary_changes_no_weight(world, baseline, monkeypatch):
    # fit_logprob_tiles_to_vocabulary narrows TRL's 32,768-column tiles to the vocabulary (a speed fix); with TRL's
    # own tiles the same DPO run must give the same bytes.
    from trl.trainer import utils

    from online_rlhf.train import trainers

    root, _ = world
    assert utils._CHUNKED_LOGPROB_CHUNK_SIZE == len(load_tokenizer(root / "policy"))  # the baseline run narrowed them
    monkeypatch.setattr(trainers, "fit_logprob_tiles_to_vocabulary", lambda model: None)
    monkeypatch.setattr(utils, "_CHUNKED_LOGPROB_CHUNK_SIZE", trainers.trl_logprob_tile())
    assert utils._CHUNKED_LOGPROB_CHUNK_SIZE == 32768
    assert trained(world, "trl_tiles") == baseline


def test_length_grouped_order_takes_every_row_once_in_batches_of_similar_length():
    rng = random.Random(0)
    lengths = [rng.choice((5, 6, 30, 31)) for _ in range(1000)]

    def padding(order):
        return sum(max(lengths[i] for i in order[s : s + 32]) * len(order[s : s + 32]) for s in range(0, 1000, 32)) / sum(lengths)

    order = length_grouped_order(lengths, 32, random.Random(1), batches_per_group=10)
    assert sorted(order) == list(range(1000))
    shuffled = list(range(1000))
    random.Random(1).shuffle(shuffled)
    # one batch a group may straddle short and long rows
    assert padding(order) < 1.2
    assert padding(shuffled) > 1.5
    assert order == length_grouped_order(lengths, 32, random.Random(1), batches_per_group=10)
    assert order != length_grouped_order(lengths, 32, random.Random(2), batches_per_group=10)
    # 1000 = 31 x 32 + 8: the one short batch is the last slice, so every 32-slice before it is one whole batch
    assert len(order[992:]) == 8 and max(lengths[i] for i in order[992:]) - min(lengths[i] for i in order[992:]) <= 1
    # the batches are shuffled, not swept long to short inside each group as transformers' sampler does
    widths = [max(lengths[i] for i in order[s : s + 32]) for s in range(0, 320, 32)]
    assert widths != sorted(widths, reverse=True) and widths != sorted(widths)


def test_length_grouped_sampler_redraws_each_epoch_and_repeats_an_epoch_exactly():
    lengths = [random.Random(i).randint(4, 40) for i in range(200)]
    sampler = LengthGroupedSampler(lengths, 16, seed=7)
    first = list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    assert len(sampler) == 200 and sorted(first) == sorted(second) == list(range(200)) and first != second
    again = LengthGroupedSampler(lengths, 16, seed=7)
    again.set_epoch(1)
    assert list(again) == second  # a job resumed in epoch 1 draws the epoch's order again


def test_padded_lengths_read_each_trainers_processed_columns():
    from datasets import Dataset

    assert padded_lengths(Dataset.from_list([{"input_ids": [1, 2, 3]}, {"input_ids": [1]}])) == [3, 1]
    assert padded_lengths(Dataset.from_list([{"chosen_ids": [1, 2], "rejected_ids": [1, 2, 3, 4]}])) == [4]
    assert padded_lengths(Dataset.from_list([{"prompt_ids": [1, 2], "chosen_ids": [3], "rejected_ids": [3, 4, 5]}])) == [5]
    with pytest.raises(ValueError, match="neither input_ids nor chosen_ids"):
        padded_lengths(Dataset.from_list([{"text": "abc"}]))


def mixed_length_pairs(root, n: int) -> list[dict]:
    """The reward model's token-id rows, half of them with three earlier turns: lengths that padding wastes."""
    rng = random.Random(3)
    rows = []
    for i, q in enumerate(draw_queries(rng, SPEC, "preference", n, unique=True)):
        turns = [] if i % 2 else [m for p in draw_queries(rng, SPEC, "preference", 3, unique=True)
                                  for m in ({"role": "user", "content": p}, {"role": "assistant", "content": target_response(p)})]
        rows.append({"prompt": turns + [{"role": "user", "content": q}], "chosen": target_response(q), "rejected": corrupt(q, "copy", rng, SPEC)})
    return trainable_pairs(str(root / "policy"), rows, 128, tokenized=True)[0]


def test_group_by_length_gives_the_reward_trainer_batches_of_similar_length(world, tmp_path):
    # Wired through TRL: the reward trainer's own dataloader, on its own processed rows, pads far less with the
    # option than without (half the prompts carry three earlier turns).
    from transformers import AutoModelForSequenceClassification
    from trl import RewardConfig, RewardTrainer

    root, _ = world
    pairs = mixed_length_pairs(root, 64)
    tok = load_tokenizer(root / "policy")
    model = AutoModelForSequenceClassification.from_pretrained(root / "policy", num_labels=1)
    model.config.pad_token_id = tok.pad_token_id

    def padding(grouped: bool) -> float:
        from datasets import Dataset

        args = RewardConfig(output_dir=str(tmp_path / str(grouped)), per_device_train_batch_size=8, report_to="none", use_cpu=True, max_length=128)
        trainer = trainer_class(RewardTrainer, {"group_by_length": grouped})(model=model, args=args, train_dataset=Dataset.from_list(pairs), processing_class=tok)
        masks = [batch["attention_mask"] for batch in trainer.get_train_dataloader()]
        assert sum(m.shape[0] for m in masks) == 2 * len(pairs)  # every pair once, chosen and rejected
        return sum(m.numel() for m in masks) / sum(int(m.sum()) for m in masks)

    assert trainer_class(RewardTrainer, {}) is RewardTrainer
    assert padding(True) < 1.2
    assert padding(False) > 1.4


def test_first_fit_packing_places_every_sequence_once_within_the_capacity():
    lengths = [random.Random(i).randint(1, 40) for i in range(300)]
    rows = pack_first_fit(lengths, 40)
    assert sorted(i for row in rows for i in row) == list(range(300))
    assert all(sum(lengths[i] for i in row) <= 40 for row in rows)
    assert len(rows) < 0.6 * len(lengths)  # far fewer rows than sequences, so far less padding
    assert pack_first_fit([3, 2, 2, 1], 4) == [[0, 3], [1, 2]]  # longest first, each into the first row it fits
    with pytest.raises(ValueError, match="sequence 1 has 9 tokens, more than a packed row's 8"):
        pack_first_fit([8, 9], 8)


def test_packed_layout_restarts_positions_per_sequence_and_points_at_each_last_token():
    sequences = [[5, 6, 7, 8], [1, 2], [3], [9, 9, 9]]
    layout = packed_layout(sequences, pad_token_id=0)
    width = 4  # the longest sequence
    assert layout["input_ids"] == [[5, 6, 7, 8], [9, 9, 9, 3], [1, 2, 0, 0]]
    assert layout["position_ids"] == [[0, 1, 2, 3], [0, 1, 2, 0], [0, 1, 0, 1]]  # the pad tail is a sequence of its own
    assert layout["attention_mask"] == [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 0, 0]]
    flat = [t for row in layout["input_ids"] for t in row]
    assert [flat[e] for e in layout["ends"]] == [s[-1] for s in sequences]
    assert layout["ends"] == [3, 2 * width + 1, width + 3, width + 2]


def test_packed_rewards_and_gradients_are_the_padded_ones(world):
    # The reward of each conversation, and the gradient of their sum, with the batch packed (attention kept inside
    # each conversation by its position ids) equal those of TRL's padded batch up to float rounding.
    import torch
    from transformers import AutoModelForSequenceClassification
    from trl.trainer.reward_trainer import DataCollatorForPreference

    root, _ = world
    pairs = mixed_length_pairs(root, 16)
    tok = load_tokenizer(root / "policy")
    model = AutoModelForSequenceClassification.from_pretrained(root / "policy", num_labels=1)
    model.config.pad_token_id = tok.pad_token_id
    padded = DataCollatorForPreference(pad_token_id=tok.pad_token_id)(pairs)
    packed = PackedPreferenceCollator(tok.pad_token_id)(pairs)
    assert packed["input_ids"].numel() < 0.8 * padded["input_ids"].numel()
    assert int(packed["attention_mask"].sum()) == int(padded["attention_mask"].sum())
    params = list(model.parameters())
    padded_rewards = model(**padded).logits.squeeze(-1)
    packed_rewards = sequence_rewards(model, model.score, packed["input_ids"], packed["position_ids"], packed["ends"]).squeeze(-1)
    assert torch.allclose(packed_rewards, padded_rewards, atol=1e-6)
    for a, b in zip(torch.autograd.grad(padded_rewards.sum(), params), torch.autograd.grad(packed_rewards.sum(), params), strict=True):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)


def test_padding_free_reward_training_follows_the_padded_loss(world, tmp_path):
    # Wired through TRL's RewardTrainer: the same random batches, so the logged losses and accuracies track the
    # padded run's step for step, and the trained model scores like it.
    import json

    root, _ = world
    pairs = mixed_length_pairs(root, 64)
    hp = {"epochs": 1, "max_steps": 6, "learning_rate": 1e-2, "lr_scheduler": "constant", "global_batch_size": 16,
          "per_device_batch_size": 16, "max_length": 128, "precision": "fp32", "logging_steps": 1}
    logs = {}
    for packed in (False, True):
        out = tmp_path / str(packed)
        train_reward_model(str(root / "policy"), pairs, {**hp, "padding_free": packed}, str(out), seed=5, threads=1)
        logs[packed] = [h for h in json.loads((out / "train_log.json").read_text()) if "loss" in h]
    assert len(logs[True]) == len(logs[False]) == 6
    for padded, packed in zip(logs[False], logs[True], strict=True):
        assert packed["loss"] == pytest.approx(padded["loss"], abs=1e-3)
        # One pair of the 16 may change sides: a margin within rounding of 0 (the loss above agrees to 1e-3) flips
        # with the summation order of the CPU's kernels (seen on a host whose padded/packed runs differed at one step).
        assert packed["accuracy"] == pytest.approx(padded["accuracy"], abs=1 / 16 + 1e-6)
        assert packed["num_tokens"] == padded["num_tokens"]  # real tokens, as TRL counts them
