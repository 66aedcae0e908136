"""Train / eval splits that never put one source chunk on both sides.

Records generated from the same passage share wording, so a random record-level split would let
the eval set test memorised text. Records are grouped by chunk (records that share any chunk join
one group), and whole groups go to eval. The order of groups is a hash of seed and chunk ids, so
the same seed and the same records always give the same split, whatever order they arrive in.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable

TRAIN, EVAL = "train", "eval"


def _find(parent: dict[str, str], item: str) -> str:
    while parent[item] != item:
        parent[item] = parent[parent[item]]
        item = parent[item]
    return item


def chunk_groups(records: Iterable[dict]) -> dict[str, str]:
    """record_id -> group key (the smallest chunk id of its connected group of chunks)."""
    parent: dict[str, str] = {}
    records = list(records)
    for record in records:
        chunks = list(record["chunk_ids"]) or [f"record:{record['record_id']}"]
        for chunk in chunks:
            parent.setdefault(chunk, chunk)
        for chunk in chunks[1:]:
            a, b = _find(parent, chunks[0]), _find(parent, chunk)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {r["record_id"]: _find(parent, (list(r["chunk_ids"]) or [f"record:{r['record_id']}"])[0]) for r in records}


def _rank(seed: int, group: str) -> str:
    return hashlib.sha256(f"{seed}:{group}".encode()).hexdigest()


def eval_group_count(groups: int, eval_fraction: float) -> int:
    """At least one eval group once there are two groups, never all of them."""
    if groups < 2 or eval_fraction <= 0:
        return 0
    return min(groups - 1, max(1, math.floor(groups * eval_fraction + 0.5)))


def assign_splits(records: Iterable[dict], eval_fraction: float = 0.1, seed: int = 0) -> dict[str, str]:
    """record_id -> "train" | "eval"; a group's records always share a side."""
    if not 0.0 <= eval_fraction < 1.0:
        raise ValueError(f"eval_fraction must be in [0, 1), got {eval_fraction}")
    group_of = chunk_groups(records)
    ordered = sorted(set(group_of.values()), key=lambda g: _rank(seed, g))
    eval_groups = set(ordered[: eval_group_count(len(ordered), eval_fraction)])
    return {record_id: EVAL if group in eval_groups else TRAIN for record_id, group in group_of.items()}
