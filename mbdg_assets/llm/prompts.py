"""Prompt templates and output schemas, kept as versioned files beside this module.

A template's version goes into every candidate's generation metadata and the LLM cache key, so
editing a prompt invalidates exactly the calls it affects. Besides the prompt, a template knows
which field holds the question and which hold the answer, so rewards, grounding and dedup work
the same way for every schema, including a user's own JSON Schema.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path

SCHEMAS = ("instruction_pair", "mcq", "chat", "preference")
ANSWER_MODES = ("abstractive", "extractive")
# Question openings the decoding grammar allows for a fact whose key value is of this kind (a
# duration is asked for with "How long", a name with "Who"): the form of the question follows the
# answer it must lead to. Kinds not listed get the schema file's general pattern.
OPENINGS_BY_KIND = {  # no bare "What" or "How many": a small model continues them with anything
    "duration": "How long|How soon|How often|How quickly|How many {unit}|Within how many {unit}|After how many {unit}|When",
    "mass": "How heavy|How much|How many {unit}",
    "length": "How far|How high|How many {unit}",
    "temperature": "At what temperature|What temperature|How hot",
    "PERCENT": "What percentage|What share|How much",
    "MONEY": "How much|What price",
    "TIME": "When|By what time|What time|Until what time",
    "DATE": "When|On what date|What date",
    "NAME": "Who|Where|Which|Whose",
}
LENGTH_KEYWORDS = frozenset({"minLength", "maxLength"})
QUESTION_NAMES = ("instruction", "question", "prompt", "query", "input")


def _without_keys(value: object, keys: frozenset[str]) -> object:
    if isinstance(value, dict):
        return {k: _without_keys(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_without_keys(v, keys) for v in value]
    return value


def _text(value: object, role: str | None = None) -> str:
    """Text of a field: a string itself, a chat transcript's turns (of one role, if given)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(m.get("content", "") for m in value
                         if isinstance(m, dict) and (role is None or m.get("role") == role))
    return ""


def prompt_text(fields: dict) -> str:
    """An instruction pair's user turn: the instruction, then the input when there is one."""
    instruction, extra = str(fields.get("instruction", "")).strip(), str(fields.get("input", "") or "").strip()
    return f"{instruction}\n\n{extra}" if extra else instruction


@dataclass(frozen=True)
class PromptTemplate:
    schema_name: str
    version: str
    system: str
    user: str
    json_schema: dict
    question_field: str
    answer_fields: tuple[str, ...]
    extra: dict = field(default_factory=dict)  # more placeholders (a custom schema's field list)
    answer_mode: str = "abstractive"   # extractive: the model writes only the question, the fact is the answer
    ask_schema: dict | None = None     # extractive: what the model fills in (question.schema.json)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.json_schema["properties"])

    @property
    def decoding_schema(self) -> dict:
        """The schema given to constrained decoding: length bounds removed, because grammar
        engines (llama.cpp) expand them into one rule per character and refuse long ones; the
        full schema still judges the parsed answer. In extractive mode the model fills in the
        question schema only (its pattern is the question's form), not the record."""
        return _without_keys(self.ask_schema or self.json_schema, LENGTH_KEYWORDS)

    def for_fact_kind(self, kind: str, unit: str = "") -> "PromptTemplate":
        """The extractive template whose question pattern opens the way a question for a fact of
        this kind must (OPENINGS_BY_KIND; `unit`, the value's unit words, completes "How many
        {unit}"); the template itself for other kinds and modes."""
        return _for_fact_kind(self, kind, unit) if self.ask_schema and kind in OPENINGS_BY_KIND else self

    def render(self, **values: str) -> list[dict[str, str]]:  # noqa: D102
        return [{"role": "system", "content": self.system},
                {"role": "user", "content": self.user.format(**values, **self.extra)}]

    def messages(self, *, passage: str, title: str, heading_path: tuple[str, ...] | list[str],
                 guidance: str = "", **fact: str) -> list[dict[str, str]]:
        """The prompt; `fact` fills the extractive template's fact placeholders (`fact`, `answer_hint`)."""
        return self.render(passage=passage, title=title, heading_path=" > ".join(heading_path) or "-", guidance=guidance,
                           **fact)

    def question_of(self, fields: dict) -> str:
        """What is asked: the instruction, the question, or a conversation's first user turn."""
        value = fields.get(self.question_field)
        if isinstance(value, list):
            users = [m.get("content", "") for m in value if isinstance(m, dict) and m.get("role") == "user"]
            return users[0] if users else ""
        return _text(value)

    def answer_of(self, fields: dict) -> str:
        """What must be grounded in the source: answer fields, an MCQ's correct option, a
        conversation's assistant turns."""
        parts = [_text(fields.get(name), role="assistant") for name in self.answer_fields]
        options, key = fields.get("options"), fields.get("answer")
        if isinstance(options, dict) and isinstance(key, str) and isinstance(options.get(key), str):
            parts.insert(0, options[key])
        return "\n".join(p for p in parts if p)


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


def _read_prompt(name: str) -> tuple[dict[str, str], dict[str, str]]:
    return _split_sections(resources.files(__package__).joinpath("templates", f"{name}.txt").read_text(encoding="utf-8"))


def _custom_roles(json_schema: dict) -> tuple[str, tuple[str, ...]]:
    """For a user's schema: the question is the first question-like string field (else the first
    string field); every other string field is an answer that must be grounded."""
    strings = [n for n, spec in json_schema.get("properties", {}).items() if spec.get("type") == "string"]
    if not strings:
        raise ValueError("a custom schema needs at least one string property")
    question = next((n for n in strings if n.lower() in QUESTION_NAMES), strings[0])
    return question, tuple(n for n in strings if n != question)


def _field_list(json_schema: dict) -> str:
    required = set(json_schema.get("required", []))
    lines = []
    for name, spec in json_schema.get("properties", {}).items():
        note = spec.get("description", "")
        lines.append(f'- "{name}" ({spec.get("type", "any")}{", required" if name in required else ""}){": " + note if note else ""}')
    return "\n".join(lines).replace("{", "{{").replace("}", "}}")


def load_custom_template(path: Path) -> PromptTemplate:
    """A user's JSON Schema file becomes a template; its version is the schema's content hash."""
    try:
        json_schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a readable JSON Schema ({error})") from None
    if json_schema.get("type") != "object" or not json_schema.get("properties"):
        raise ValueError(f"{path}: the schema must describe an object with properties")
    header, sections = _read_prompt("custom")
    question, answers = _custom_roles(json_schema)
    digest = hashlib.sha256(json.dumps(json_schema, sort_keys=True).encode()).hexdigest()[:12]
    return PromptTemplate(path.stem, f"custom-{path.stem}/v{header['version']}-{digest}", sections["system"],
                          sections["user"], json_schema, question, answers, {"field_list": _field_list(json_schema)})


def _question_pattern(openings: str) -> str:
    return f'^({openings}) [^"\\\\?\\n]{{8,160}}\\?$'


_BY_KIND: dict[tuple[str, str, str], PromptTemplate] = {}


def _for_fact_kind(template: PromptTemplate, kind: str, unit: str) -> PromptTemplate:
    unit = " ".join(re.findall(r"[^\W\d_]+|°", unit))  # letters only: nothing the pattern would read as syntax
    if (template.version, kind, unit) not in _BY_KIND:
        openings = [o.replace("{unit}", unit) for o in OPENINGS_BY_KIND[kind].split("|") if unit or "{unit}" not in o]
        ask = json.loads(json.dumps(template.ask_schema))
        ask["properties"]["question"]["pattern"] = _question_pattern("|".join(openings))
        _BY_KIND[(template.version, kind, unit)] = replace(template, ask_schema=ask)
    return _BY_KIND[(template.version, kind, unit)]


def question_schema() -> dict:
    """What the model fills in extractive mode: the question alone, its form in the pattern."""
    text = resources.files(__package__).joinpath("templates", "question.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


@cache
def _extractive(schema: str) -> PromptTemplate:
    """A built-in record schema whose answer comes from the chosen fact: the prompt and the
    decoding schema ask for the question only (question.txt, question.schema.json); the record
    schema still judges the assembled record."""
    header, sections = _read_prompt("question")
    record = _load_builtin(schema)
    if schema == "preference":  # assembled, never asked: its questions come from extractive instruction pairs
        return replace(record, version=f"preference/extractive-v{header['version']}", answer_mode="extractive")
    return replace(record, version=f"{schema}/extractive-v{header['version']}", system=sections["system"],
                   user=sections["user"], answer_mode="extractive", ask_schema=question_schema())


def resolve_answer_mode(answer_mode: str, backend: str, schema: str) -> str:
    """`auto`: extractive for the embedded model (a 135M model cannot write grounded answers, it can
    write questions), abstractive for server models; a user's own schema is always abstractive."""
    if answer_mode not in ANSWER_MODES + ("auto",):
        raise ValueError(f"unknown answer mode {answer_mode!r}; available: auto, {', '.join(ANSWER_MODES)}")
    if schema not in SCHEMAS:
        return "abstractive"
    if answer_mode == "auto":
        return "extractive" if backend == "embedded" else "abstractive"
    return answer_mode


@cache
def load_template(schema: str, answer_mode: str = "abstractive") -> PromptTemplate:
    """A built-in schema by name, or a user's JSON Schema file by path; `answer_mode` extractive
    for a built-in schema: the model writes the question, the chosen fact is the answer (a user's
    schema has no known answer field to fill, so it stays abstractive)."""
    if answer_mode not in ANSWER_MODES:
        raise ValueError(f"unknown answer mode {answer_mode!r}; available: {', '.join(ANSWER_MODES)}")
    if answer_mode == "extractive" and schema in SCHEMAS:
        return _extractive(schema)
    return _load_template(schema)


def _load_template(schema: str) -> PromptTemplate:
    if schema not in SCHEMAS:
        if schema.endswith(".json") and Path(schema).is_file():
            return load_custom_template(Path(schema))
        raise ValueError(f"unknown schema {schema!r}; available: {', '.join(SCHEMAS)}, or a path to a JSON Schema file")
    return _load_builtin(schema)


def load_judge_template() -> PromptTemplate:
    """The usefulness rubric the optional LLM judge grades candidates with."""
    return _load_builtin("judge")


@cache
def target_kind_guidance() -> tuple[str, dict[str, str]]:
    """(version, instructions by kind) for multi-hop and evolved (deepen / broaden) targets. The
    text is part of the prompt, so editing it changes the cache key of exactly those calls."""
    header, sections = _read_prompt("target_kinds")
    return f"target_kinds/v{header['version']}", sections


def load_entailment_template() -> PromptTemplate:
    """Does a source window support one claim of an answer: the validator's entailment judge."""
    return _load_builtin("entailment")


def template_for(schema_name: str, json_schema: dict) -> PromptTemplate:
    """The template whose question / answer roles a record of `schema_name` has: a built-in one,
    else roles read from the JSON Schema itself (a user's schema, known to the validator only
    by its name and schema)."""
    if schema_name in SCHEMAS:
        builtin = _load_builtin(schema_name)
        return builtin if builtin.json_schema == json_schema else replace(builtin, json_schema=json_schema)
    question, answers = _custom_roles(json_schema)
    return PromptTemplate(schema_name, f"custom-{schema_name}", "", "", json_schema, question, answers)


def load_answer_template() -> PromptTemplate:
    """K answers to one question: the raw material of a preference pair."""
    return _load_builtin("preference_answer")


@cache
def _load_builtin(schema: str) -> PromptTemplate:
    header, sections = _read_prompt(schema)
    folder = resources.files(__package__).joinpath("templates")
    json_schema = json.loads(folder.joinpath(f"{schema}.schema.json").read_text(encoding="utf-8"))
    answers = tuple(a.strip() for a in header["answer_fields"].split(","))
    return PromptTemplate(schema, f"{schema}/v{header['version']}", sections["system"], sections["user"], json_schema,
                          header["question_field"], answers)
