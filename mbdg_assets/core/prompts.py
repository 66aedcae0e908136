"""Prompt templates and output schemas, kept as versioned files beside this module.

A template's version goes into every candidate's generation metadata and the LLM cache key, so
editing a prompt invalidates exactly the calls it affects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

SCHEMAS = ("instruction_pair",)
LENGTH_KEYWORDS = frozenset({"minLength", "maxLength"})


def _without_keys(value: object, keys: frozenset[str]) -> object:
    if isinstance(value, dict):
        return {k: _without_keys(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_without_keys(v, keys) for v in value]
    return value


@dataclass(frozen=True)
class PromptTemplate:
    schema_name: str
    version: str
    system: str
    user: str
    json_schema: dict

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.json_schema["properties"])

    @property
    def decoding_schema(self) -> dict:
        """The schema given to constrained decoding: length bounds removed, because grammar
        engines (llama.cpp) expand them into one rule per character and refuse long ones; the
        full schema still judges the parsed answer."""
        return _without_keys(self.json_schema, LENGTH_KEYWORDS)

    def messages(self, *, passage: str, title: str, heading_path: tuple[str, ...] | list[str]) -> list[dict[str, str]]:
        user = self.user.format(passage=passage, title=title, heading_path=" > ".join(heading_path) or "-")
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]


def _split_sections(text: str) -> tuple[dict[str, str], dict[str, str]]:
    header, sections, current = {}, {}, None
    for line in text.splitlines():
        if line.startswith("### "):
            current = line[4:].strip()
            sections[current] = []
        elif current is None and ":" in line:
            key, value = line.split(":", 1)
            header[key.strip()] = value.strip()
        elif current is not None:
            sections[current].append(line)
    return header, {name: "\n".join(lines).strip() for name, lines in sections.items()}


@cache
def load_template(schema_name: str) -> PromptTemplate:
    if schema_name not in SCHEMAS:
        raise ValueError(f"unknown schema {schema_name!r}; available: {', '.join(SCHEMAS)}")
    folder = resources.files(__package__).joinpath("prompts")
    header, sections = _split_sections(folder.joinpath(f"{schema_name}.txt").read_text(encoding="utf-8"))
    json_schema = json.loads(folder.joinpath(f"{schema_name}.schema.json").read_text(encoding="utf-8"))
    return PromptTemplate(schema_name, f"{schema_name}/v{header['version']}", sections["system"], sections["user"], json_schema)
