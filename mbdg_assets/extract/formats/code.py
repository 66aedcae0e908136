"""Source code as code documents: module / class / function as headings, docstrings and comments
as text, each definition's code as a code block below its heading.

Python is read with its own ``ast`` (exact: docstrings, nesting, decorators). Other languages (Go,
JavaScript, TypeScript, Java, C#, Kotlin, C / C++, Rust, Ruby, PHP, shell) by their declaration
lines: a line that opens a class / interface / type / function at the file's top level or one
indent in starts a section; the comment block right above it (//, /* */, /** */, #) is its
text. That is a heuristic, not a parser: an unusual layout gives fewer headings, never lost text
(every line of the file is in a code block or in a section's comment text).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from .base import Drafts, ExtractionError, Parsed, decode

LANGUAGES = {".py": "python", ".go": "go", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript",
             ".jsx": "javascript", ".ts": "typescript", ".tsx": "typescript", ".java": "java", ".cs": "csharp",
             ".kt": "kotlin", ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".hpp": "cpp", ".rs": "rust",
             ".rb": "ruby", ".php": "php", ".sh": "bash"}

# --------------------------------------------------------------------------- Python


_DEFINITIONS = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _starts(lines: list[str], node: ast.stmt) -> tuple[int, int]:
    """(index of the first '#' comment line right above the definition, index of its first line
    including decorators): the comments are the definition's text, not code."""
    first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
    comment = first
    while comment > 0 and lines[comment - 1].strip().startswith("#"):
        comment -= 1
    return comment, first


def _comment_lines(lines: list[str]) -> str:
    """Comment text without the '#' marks (shebangs and editor modelines dropped)."""
    text = [line.strip().lstrip("#").strip() for line in lines]
    return "\n".join(line for line in text if not line.startswith(("!", "-*-")))


def _py_body(drafts: Drafts, lines: list[str], body: list[ast.stmt], start: int, end: int, level: int) -> None:
    """Code between definitions as code blocks, each definition as its own section; together
    they cover lines ``start`` to ``end`` (0-based, end exclusive)."""
    cursor = start
    for node in (n for n in body if isinstance(n, _DEFINITIONS)):
        comment, first = _starts(lines, node)
        _code(drafts, lines, cursor, comment, "python")
        _py_definition(drafts, node, lines, level, comment, first)
        cursor = node.end_lineno
    _code(drafts, lines, cursor, end, "python")


def _py_definition(drafts: Drafts, node: ast.stmt, lines: list[str], level: int, comment: int, first: int) -> None:
    """A class or function: heading, the comments above it and its docstring as text, then its
    code; methods and nested classes of a class are sections one level below."""
    title = f"{'class' if isinstance(node, ast.ClassDef) else 'def'} {node.name}"
    drafts.heading("#" * min(level, 6) + " " + title, title, min(level, 6))
    drafts.add("paragraph", _comment_lines(lines[comment:first]))
    drafts.add("paragraph", ast.get_docstring(node) or "")
    if isinstance(node, ast.ClassDef) and any(isinstance(n, _DEFINITIONS) for n in node.body):
        _py_body(drafts, lines, node.body, first, node.end_lineno, level + 1)
    else:
        _code(drafts, lines, first, node.end_lineno, "python")


def _code(drafts: Drafts, lines: list[str], start: int, end: int, language: str) -> None:
    body = "\n".join(lines[start:end]).strip("\n")
    if body.strip():
        drafts.add("code", f"```{language}\n{body}\n```")


def extract_python(path: Path, data: bytes) -> Parsed:
    """The module docstring under a 'module NAME' heading, then top-level code, classes (methods
    below them) and functions in file order; every line is in a code block or a section's text."""
    source = decode(path, data)
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError) as exc:  # Python 2 files, templates: still text, read by declarations
        return extract_code(path, data, reason=f"not valid Python 3 ({exc})")
    lines = source.split("\n")
    drafts = Drafts()
    drafts.heading(f"# module {path.stem}", f"module {path.stem}", 1)
    docstring = ast.get_docstring(tree)
    drafts.add("paragraph", docstring or "")
    start = tree.body[0].end_lineno if docstring else 0
    _py_body(drafts, lines, tree.body[1:] if docstring else tree.body, start, len(lines), 2)
    return Parsed(drafts.items)


# --------------------------------------------------------------------------- other languages

_DECLARATION = re.compile(
    r"^(?P<indent>[ \t]{0,4})(?:export\s+)?(?:default\s+)?(?:(?:public|private|protected|internal|static|final|abstract|"
    r"async|sealed|open|data|pub(?:\([a-z]+\))?|unsafe|extern|inline|virtual|override|partial)\s+)*"
    r"(?P<kind>class|interface|struct|enum|trait|impl|type|func|fn|function|def|module|object|record|namespace)\s+"
    r"(?:\([^)]*\)\s*)?(?P<name>[A-Za-z_$][\w$]*)"
)
_C_FUNCTION = re.compile(r"^(?P<indent>[ \t]{0,4})(?:[A-Za-z_][\w:<>\[\],*&\s]*?[\s*&])(?P<name>[A-Za-z_]\w*)\s*\([^;=]*$")
_JS_FUNCTION = re.compile(r"^(?P<indent>[ \t]{0,4})(?:export\s+)?(?:const|let|var)\s+(?P<name>[A-Za-z_$][\w$]*)\s*"
                          r"(?::[^=]+)?=\s*(?:async\s+)?(?:function\b|\([^)]*\)\s*(?::[^=]+)?=>|[A-Za-z_$][\w$]*\s*=>)")
_GNU_FUNCTION = re.compile(r"^(?P<indent>)(?P<name>[A-Za-z_]\w*)\s*\([^;]*$")  # C with the return type on the line above
_NOT_A_NAME = {"if", "for", "while", "switch", "catch", "return", "new", "throw", "else", "do", "sizeof", "defined"}
_COMMENT_LINE = re.compile(r"^\s*(?://+|#(?!include|define|if|endif|pragma|!)|/\*+|\*+/?|--)\s?(.*?)\s*(?:\*/)?$")


def _declaration(line: str, language: str) -> tuple[str, str, int] | None:
    """(kind, name, indent) when the line opens a definition."""
    match = _DECLARATION.match(line)
    if match and (not line.rstrip().endswith(";") or match.group("kind") == "type"):
        return match.group("kind"), match.group("name"), len(match.group("indent").expandtabs(4))
    js_match = _JS_FUNCTION.match(line) if language in ("javascript", "typescript") else None
    if js_match:
        return "function", js_match.group("name"), len(js_match.group("indent").expandtabs(4))
    gnu = _GNU_FUNCTION.match(line) if language in ("c", "cpp") else None
    if gnu and gnu.group("name") not in _NOT_A_NAME:
        return "function", gnu.group("name"), 0
    if language in ("c", "cpp", "java", "csharp", "kotlin"):
        c_match = _C_FUNCTION.match(line)
        words = set(re.findall(r"[A-Za-z_]\w*", line.split("(", 1)[0]))
        if c_match and c_match.group("name") not in _NOT_A_NAME and not words & _NOT_A_NAME:
            return "function", c_match.group("name"), len(c_match.group("indent").expandtabs(4))
    return None


def _comment_text(lines: list[str]) -> str:
    """Comment lines without their markers (a block comment's bare continuation lines included)."""
    text = []
    for line in lines:
        match = _COMMENT_LINE.match(line)
        text.append((match.group(1) if match else line.strip()).removesuffix("*/").rstrip())
    return "\n".join(t for t in text if t).strip()


def _comment_flags(lines: list[str], language: str) -> list[bool]:
    """Per line: is it comment (a '//' or '#' line, or inside / opening / closing a block comment)?"""
    flags, inside = [], False
    for line in lines:
        stripped = line.strip()
        opened, closed = line.rfind("/*"), line.rfind("*/")
        starts_block = stripped.startswith("/*") and language not in ("python", "ruby", "bash")
        flags.append(bool(stripped) and (inside or starts_block or bool(_COMMENT_LINE.match(line))))
        if language not in ("python", "ruby", "bash") and (opened >= 0 or closed >= 0):
            inside = opened > closed
    return flags


def _type_line(line: str) -> bool:
    """A line that is only a return type ('static int'), which GNU-style C puts above the name."""
    return bool(re.match(r"^[A-Za-z_][\w\s\*]*$", line)) and line.split()[0] not in _NOT_A_NAME


def extract_code(path: Path, data: bytes, reason: str = "") -> Parsed:
    """Declarations as headings (top level 2, one indent in 3, under the file's level-1 heading),
    the comment block above each as its text, and the code up to the next declaration."""
    language = LANGUAGES.get(path.suffix.lower(), "")
    lines = decode(path, data).split("\n")
    comment = _comment_flags(lines, language)
    starts = []  # (first comment line, first code line, (kind, name, indent))
    for index, line in enumerate(lines):
        found = None if comment[index] else _declaration(line, language)
        if found:
            code_from = index - 1 if index and language in ("c", "cpp") and _type_line(lines[index - 1]) else index
            comment_from = code_from
            while comment_from > 0 and comment[comment_from - 1]:
                comment_from -= 1
            starts.append((comment_from, code_from, found))
    drafts = Drafts()
    drafts.heading(f"# file {path.name}", f"file {path.name}", 1)
    if reason:
        drafts.add("paragraph", f"(read by its declarations: {reason})")
    first = starts[0][0] if starts else len(lines)
    header_end = next((i for i in range(first) if lines[i].strip() and not comment[i]), first)
    drafts.add("paragraph", _comment_text(lines[:header_end]))
    _code(drafts, lines, header_end, first, language)
    for position, (comment_from, code_from, (kind, name, indent)) in enumerate(starts):
        end = starts[position + 1][0] if position + 1 < len(starts) else len(lines)
        title = f"{kind} {name}"
        level = 2 if indent == 0 else 3
        drafts.heading("#" * level + " " + title, title, level)
        drafts.add("paragraph", _comment_text(lines[comment_from:code_from]))
        _code(drafts, lines, code_from, end, language)
    if not any(d.kind != "heading" for d in drafts.items):
        raise ExtractionError("no_text", f"{path.name}: source file without code or comments")
    return Parsed(drafts.items)
