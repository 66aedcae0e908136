import random

import pytest

from mbdg_assets.export.splits import EVAL, TRAIN, assign_splits, chunk_groups, eval_group_count


def _records(n_chunks: int, per_chunk: int = 3) -> list[dict]:
    return [{"record_id": f"r{c}-{i}", "chunk_ids": [f"c{c}"]} for c in range(n_chunks) for i in range(per_chunk)]


def _sides_per_chunk(records: list[dict], split: dict[str, str]) -> dict[str, set[str]]:
    sides: dict[str, set[str]] = {}
    for record in records:
        for chunk in record["chunk_ids"]:
            sides.setdefault(chunk, set()).add(split[record["record_id"]])
    return sides


def test_no_chunk_lands_on_both_sides():
    records = _records(40)
    split = assign_splits(records, eval_fraction=0.2, seed=7)
    assert all(len(sides) == 1 for sides in _sides_per_chunk(records, split).values())
    eval_chunks = {c for c, sides in _sides_per_chunk(records, split).items() if sides == {EVAL}}
    assert len(eval_chunks) == 8


def test_records_sharing_any_chunk_form_one_group():
    records = [{"record_id": "a", "chunk_ids": ["c1", "c2"]}, {"record_id": "b", "chunk_ids": ["c2"]},
               {"record_id": "c", "chunk_ids": ["c3", "c1"]}, {"record_id": "d", "chunk_ids": ["c9"]}]
    groups = chunk_groups(records)
    assert groups["a"] == groups["b"] == groups["c"] != groups["d"]
    for seed in range(20):
        split = assign_splits(records, eval_fraction=0.5, seed=seed)
        assert split["a"] == split["b"] == split["c"]


def test_same_seed_and_records_give_the_same_split_in_any_order():
    records = _records(30)
    shuffled = records[:]
    random.Random(1).shuffle(shuffled)
    assert assign_splits(records, 0.1, seed=3) == assign_splits(shuffled, 0.1, seed=3)
    different = [assign_splits(records, 0.1, seed=s) for s in range(5)]
    assert len({tuple(sorted(d.items())) for d in different}) > 1  # the seed matters


def test_eval_size_bounds():
    assert eval_group_count(1, 0.5) == 0        # one group cannot be split without leakage
    assert eval_group_count(2, 0.01) == 1       # a held-out group as soon as there are two
    assert eval_group_count(10, 0.99) == 9      # never everything
    assert set(assign_splits(_records(1), 0.5).values()) == {TRAIN}
    with pytest.raises(ValueError):
        assign_splits(_records(3), 1.0)
