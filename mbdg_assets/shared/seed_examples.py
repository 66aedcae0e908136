"""The user's seed examples (JSON Lines of real records), read once in one way: generation shows
them to the model as style examples, validation compares the dataset's distributions with theirs."""

from __future__ import annotations

import json
from pathlib import Path


def load_seed_examples(path: str | Path) -> tuple[dict, ...]:
    """One JSON object per non-empty line; a bad line is an error naming the file and line."""
    examples = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number}: not valid JSON ({error.msg})") from None
        if not isinstance(value, dict):
            raise ValueError(f"{path}:{number}: expected a JSON object per line")
        examples.append(value)
    return tuple(examples)
