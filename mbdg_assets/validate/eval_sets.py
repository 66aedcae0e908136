"""Reading a user's evaluation sets for the contamination check: JSONL (every string value of a
line joined: question, options and answer together are the item) or plain text (one item per
non-empty line)."""

from __future__ import annotations

import json
from pathlib import Path

from mbdg_assets.shared.text import string_values


class EvalSetError(ValueError):
    """An evaluation set that cannot be read whole (the contamination check would silently miss items)."""


def _eval_item(path: str, number: int, raw: bytes) -> str:
    try:
        line = raw.decode("utf-8").strip()
        return " ".join(string_values(json.loads(line))) if path.endswith((".jsonl", ".ndjson")) else line
    except UnicodeDecodeError as error:
        raise EvalSetError(f"{path}:{number}: not valid UTF-8 (byte offset {error.start})") from None
    except (ValueError, RecursionError) as error:
        raise EvalSetError(f"{path}:{number}: not valid JSON ({str(error)[:200]})") from None


def load_eval_texts(paths: list[str]) -> list[str]:
    """Every item of every evaluation set; EvalSetError names the first line that cannot be read."""
    texts = []
    for path in paths:
        for number, raw in enumerate(Path(path).read_bytes().splitlines(), start=1):
            if raw.strip():
                texts.append(_eval_item(path, number, raw))
    return texts
