import itertools
import random

import pytest

from online_rlhf.world.datasets import synthesise
from online_rlhf.world.task import (
    ERROR_KINDS,
    ROLE_SLICES,
    WorldSpec,
    corrupt,
    draw_queries,
    oracle_reward,
    query_role,
    target_response,
)


def test_oracle_is_one_only_for_the_exact_reversal():
    assert oracle_reward("abcd", "dcba") == 1.0
    assert oracle_reward("abcd", "abcd") == 0.0  # copy: no letter in place
    assert oracle_reward("abcd", "dcbb") == 0.75
    assert oracle_reward("abcd", "dcb") == 0.75  # missing letter costs like a wrong one
    assert oracle_reward("abcd", "dcbaa") == 0.8  # padding never pays
    assert oracle_reward("abcd", "") == 0.0


@pytest.mark.parametrize("kind", ERROR_KINDS)
def test_every_error_kind_is_worse_than_the_truth(kind):
    spec, rng = WorldSpec(), random.Random(0)
    for _ in range(50):
        q = "abcdef"
        assert oracle_reward(q, corrupt(q, kind, rng, spec)) < 1.0


def test_unknown_error_kind_is_rejected():
    with pytest.raises(ValueError, match="unknown error kind"):
        corrupt("abc", "nonsense", random.Random(0), WorldSpec())


def test_roles_partition_query_space_and_draws_respect_them():
    spans = sorted(ROLE_SLICES.values())
    assert spans[0][0] == 0 and spans[-1][1] == 100
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    spec = WorldSpec()
    for role in ROLE_SLICES:
        qs = draw_queries(random.Random(1), spec, role, 200, unique=True)
        assert len(set(qs)) == 200 and {query_role(q) for q in qs} == {role}


def test_datasets_of_different_roles_never_share_a_prompt():
    spec = WorldSpec()
    sft = {r["messages"][0]["content"] for r in synthesise("messages", spec, 500, 1)}
    pool = {r["context_messages"][0]["content"] for r in synthesise("prompts", spec, 500, 2)}
    held = {r["context_messages"][0]["content"] for r in synthesise("prompts", spec, 500, 3, role="heldout")}
    assert not (sft & pool) and not (sft & held) and not (pool & held)


def test_synthesis_is_seeded():
    spec = WorldSpec()
    assert synthesise("ultrafeedback", spec, 20, 7) == synthesise("ultrafeedback", spec, 20, 7)
    assert synthesise("ultrafeedback", spec, 20, 7) != synthesise("ultrafeedback", spec, 20, 8)


def test_hh_pairs_are_labelled_by_the_oracle():
    for row in synthesise("hh_rlhf", WorldSpec(), 100, 3):
        q = row["chosen"].rsplit("\n\nHuman: ", 1)[1].split("\n\nAssistant: ")[0]
        c = row["chosen"].rsplit("\n\nAssistant: ", 1)[1]
        r = row["rejected"].rsplit("\n\nAssistant: ", 1)[1]
        assert oracle_reward(q, c) > oracle_reward(q, r)
        assert target_response(q) == q[::-1]


def test_world_spec_validation():
    with pytest.raises(ValueError, match="min_len"):
        WorldSpec(min_len=5, max_len=3)
    with pytest.raises(ValueError, match="alphabet"):
        WorldSpec(alphabet="aa")
