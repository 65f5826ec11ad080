import pytest
from hypothesis import given
from hypothesis import strategies as st

from online_rlhf.core.sharding import check_complete, shard_bounds, shard_names


@given(st.integers(0, 5000), st.integers(1, 300))
def test_shards_tile_every_row_exactly_once(n, s):
    covered = []
    for k in range(s):
        lo, hi = shard_bounds(n, s, k)
        assert 0 <= lo <= hi <= n
        covered.extend(range(lo, hi))
    assert covered == list(range(n))


@pytest.mark.parametrize("n,s", [(0, 4), (3, 8), (97, 8), (101, 7), (20000, 64), (1, 1)])
def test_awkward_sizes(n, s):
    sizes = [hi - lo for lo, hi in (shard_bounds(n, s, k) for k in range(s))]
    assert sum(sizes) == n and max(sizes) - min(sizes) <= 1


def test_bad_shard_arguments():
    with pytest.raises(ValueError):
        shard_bounds(10, 0, 0)
    with pytest.raises(ValueError):
        shard_bounds(10, 4, 4)


def test_shard_names_sort_in_order():
    names = shard_names(1200)
    assert names == sorted(names) and len(set(names)) == 1200


def rows(spec):
    return [{"prompt_id": p, "sample_index": i} for p, k in spec.items() for i in range(k)]


def test_gather_accepts_complete_output():
    check_complete(["a", "b"], rows({"a": 4, "b": 4}), 4, "x")


@pytest.mark.parametrize(
    "got,message",
    [({"a": 4}, "have no rows"), ({"a": 4, "b": 3}, "other than K=4"), ({"a": 4, "b": 4, "c": 4}, "not in the prompt table")],
)
def test_gather_rejects_lost_or_short_output(got, message):
    with pytest.raises(ValueError, match=message):
        check_complete(["a", "b"], rows(got), 4, "x")


def test_gather_rejects_duplicate_samples():
    with pytest.raises(ValueError, match="appear twice"):
        check_complete(["a"], [{"prompt_id": "a", "sample_index": 0}] * 2, 2, "x")
