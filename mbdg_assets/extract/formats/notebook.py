"""Jupyter notebooks (.ipynb): the Markdown cells as Markdown, the code cells as fenced code.

A notebook is JSON; read as JSON it would be cell metadata and escaped source lines. Its prose is
the Markdown cells and its worked examples the code cells, in order, so the notebook is turned
into one Markdown text and read by the Markdown reader (headings in Markdown cells give the
heading path). Outputs (plots, tables, tracebacks) are left out: they are results, often large or
binary, and the code that made them is kept.
"""

from __future__ import annotations

from pathlib import Path

from .base import ExtractionError, Parsed, decode
from .data import parse_json
from .text import extract_markdown


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def notebook_markdown(path: Path, data: bytes) -> str:
    """The notebook as one Markdown text; a JSON file without notebook cells is an error."""
    notebook = parse_json(path, decode(path, data), "notebook")
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise ExtractionError("corrupt_file", f"{path.name}: not a Jupyter notebook (no 'cells' list)")
    metadata = notebook.get("metadata") or {}
    language = ((metadata.get("kernelspec") or {}).get("language")
                or (metadata.get("language_info") or {}).get("name") or "")
    parts = []
    for cell in cells:
        text = _source(cell).strip("\n") if isinstance(cell, dict) else ""
        if not text.strip():
            continue
        if cell.get("cell_type") == "code":
            fence = "````" if "```" in text else "```"
            parts.append(f"{fence}{language}\n{text}\n{fence}")
        elif cell.get("cell_type") in ("markdown", "raw"):
            parts.append(text)
    return "\n\n".join(parts)


def extract_notebook(path: Path, data: bytes) -> Parsed:
    return extract_markdown(path, notebook_markdown(path, data).encode("utf-8"))
