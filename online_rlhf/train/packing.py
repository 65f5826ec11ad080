"""Padding-free batches for the Bradley-Terry reward model (a training section's `padding_free`).

A padded batch of preference pairs is as wide as its longest conversation; in the default reward model's mixture
(rows of 12-38 tokens, multi-turn ones among single-turn ones) random batches compute about 1.8x the tokens they
hold (benchmarks/training.py, `rm_batches`). Length-grouped batches remove the padding by changing which rows share a
batch, and that changed what the reward model learned (docs/world.md, "What was tried"). Packing removes it without
touching the batches: the same rows, in the same random batches, are laid end to end in a few rows of the batch's
longest length, each conversation with its own position ids restarting at 0. transformers (masking_utils,
`find_packed_sequence_indices`) reads such position ids, when no attention mask is given, as separate sequences and
masks attention block-diagonally, so every conversation sees only itself, exactly as in its own padded row.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any


def pack_first_fit(lengths: list[int], capacity: int) -> list[list[int]]:
    """Indices of `lengths` grouped into rows of at most `capacity` tokens: first fit, longest first (FFD).

    Each row lists its members in placement order; every index appears exactly once. A length above `capacity` is an
    error (the caller chose the capacity to hold its longest sequence)."""
    too_long = [i for i, n in enumerate(lengths) if n > capacity]
    if too_long:
        raise ValueError(f"sequence {too_long[0]} has {lengths[too_long[0]]} tokens, more than a packed row's {capacity}")
    rows: list[list[int]] = []
    free: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        for r, room in enumerate(free):
            if lengths[i] <= room:
                rows[r].append(i)
                free[r] -= lengths[i]
                break
        else:
            rows.append([i])
            free.append(capacity - lengths[i])
    return rows


def packed_layout(sequences: list[list[int]], pad_token_id: int) -> dict[str, Any]:
    """Sequences laid end to end in rows as wide as the longest of them (so a row never asks attention for more than a
    padded batch would): `input_ids`, `position_ids` (0.. within each sequence, and within the pad tail, which is a
    sequence of its own that nothing reads), `attention_mask` (1 on real tokens: not given to the model, only counted)
    and `ends` (the flat index, row * width + column, of each sequence's last token, in the given order)."""
    width = max(len(s) for s in sequences)
    rows = pack_first_fit([len(s) for s in sequences], width)
    input_ids, position_ids, real, ends = [], [], [], [0] * len(sequences)
    for r, members in enumerate(rows):
        ids, pos = [], []
        for i in members:
            ends[i] = r * width + len(ids) + len(sequences[i]) - 1
            ids += sequences[i]
            pos += range(len(sequences[i]))
        tail = width - len(ids)
        input_ids.append(ids + [pad_token_id] * tail)
        position_ids.append(pos + list(range(tail)))
        real.append([1] * len(ids) + [0] * tail)
    return {"input_ids": input_ids, "position_ids": position_ids, "attention_mask": real, "ends": ends}


@dataclass
class PackedPreferenceCollator:
    """TRL RewardTrainer's batch (chosen sequences first, then rejected, as DataCollatorForPreference orders them),
    packed by `packed_layout` instead of padded; `margin` passes through."""

    pad_token_id: int

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        sequences = [e["chosen_ids"] for e in examples] + [e["rejected_ids"] for e in examples]
        batch = {k: torch.tensor(v) for k, v in packed_layout(sequences, self.pad_token_id).items()}
        if "margin" in examples[0]:
            batch["margin"] = torch.tensor([e["margin"] for e in examples], dtype=torch.float)
        return batch


def sequence_rewards(model, score_head, input_ids, position_ids, ends):
    """The reward of each packed sequence: the scalar head's output at the sequence's last token.

    The sequence-classification model pools one logit per *row* (its last non-pad token), which packing makes the
    wrong token, so the head's per-token output is read by a forward hook instead. The model itself is called, not
    its inner modules, so a DDP or DeepSpeed wrapper still sees every forward and backward."""
    captured = []
    handle = score_head.register_forward_hook(lambda module, args, output: captured.append(output))
    try:
        model(input_ids=input_ids, position_ids=position_ids, use_cache=False)
    finally:
        handle.remove()
    return captured[-1].flatten(0, 1)[ends]


@functools.cache
def padding_free(trainer_class):
    """`trainer_class` (TRL's RewardTrainer, or a subclass of it) training on PackedPreferenceCollator's batches; the
    loss and the logged metrics stay TRL's own, computed from the packed sequences' rewards."""

    class PaddingFree(trainer_class):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            ends = inputs.pop("ends")
            head = self.accelerator.unwrap_model(model).score

            def packed_forward(input_ids, position_ids, attention_mask=None, use_cache=False, **_):
                # attention_mask stays out: given one, transformers would not read the packing from the position ids.
                return SimpleNamespace(logits=sequence_rewards(model, head, input_ids, position_ids, ends))

            return super().compute_loss(packed_forward, inputs, return_outputs, num_items_in_batch)

    PaddingFree.__name__ = PaddingFree.__qualname__ = f"PaddingFree{trainer_class.__name__}"
    return PaddingFree
