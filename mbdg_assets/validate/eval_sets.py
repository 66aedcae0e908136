"""Reading a user's evaluation sets for the contamination check: JSONL (every string value of a
line joined: question, options and answer together are the item) or plain text (one item per
non-empty line)."""

from __future__ import annotations

import json
from pathlib import Path

from mbdg_assets.shared.text import string_values


def load_eval_texts(paths: list[str]) -> list[str]:
    texts = []
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            if path.endswith((".jsonl", ".ndjson")):
                texts.append(" ".join(string_values(json.loads(line))))
            else:
                texts.append(line.strip())
    return texts
