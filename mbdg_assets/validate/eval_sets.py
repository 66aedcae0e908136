"""Reading a user's evaluation sets for the contamination check: JSONL (every string value of a
line joined: question, options and answer together are the item) or plain text (one item per
non-empty line)."""

from __future__ import annotations

import json
from pathlib import Path


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def load_eval_texts(paths: list[str]) -> list[str]:
    texts = []
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            if path.endswith((".jsonl", ".ndjson")):
                texts.append(" ".join(_strings(json.loads(line))))
            else:
                texts.append(line.strip())
    return texts
