"""Tolerant JSON parsing of model output: small models wrap JSON in prose or code fences, or stop
mid-object. We take the first complete JSON object we can find and report precisely why not."""

from __future__ import annotations

import json
import re

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def _first_balanced_object(text: str) -> str | None:
    """The first {...} span with balanced braces outside strings, or None."""
    start = text.find("{")
    while start != -1:
        depth, in_string, escaped = 0, False, False
        for i in range(start, len(text)):
            ch = text[i]
            if in_string:
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == '"':
                    in_string = False
                continue
            if ch == '"':
                in_string = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    return text[start : i + 1]
        start = text.find("{", start + 1)
    return None


def parse_json_object(text: str | None) -> tuple[dict | None, str | None]:
    """Returns (object, None) or (None, reason)."""
    if text is None or not text.strip():
        return None, "empty answer"
    if "{" not in text and not text.lstrip().startswith("["):
        return None, "no JSON object found"
    candidates = [text.strip(), *(m.strip() for m in _FENCE.findall(text))]
    balanced = _first_balanced_object(text)
    if balanced:
        candidates.append(balanced)
    last_error = "no JSON object found"
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError as error:
            last_error = f"invalid JSON: {error.msg} at char {error.pos}"
            continue
        if isinstance(value, dict):
            return value, None
        last_error = f"expected a JSON object, got {type(value).__name__}"
    return None, last_error
