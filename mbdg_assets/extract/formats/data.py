"""Tabular and structured text: CSV / TSV as Markdown tables, JSON / JSONL / YAML / XML as sections.

csv and json from the standard library, PyYAML (MIT; safe_load only) and lxml (BSD; no DTDs, no
entities, no network). The layout choices (records as tables, nested objects and XML elements as
headed sections) are ours, to keep the text readable for question generation.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from .base import Drafts, ExtractionError, Parsed, as_utf8, decode, markdown_tables, squash

# --------------------------------------------------------------------------- CSV / TSV


def _dialect(text: str, suffix: str):
    if suffix == ".tsv":
        return csv.excel_tab
    try:
        return csv.Sniffer().sniff(text[:20_000], delimiters=",;\t|")
    except csv.Error:
        return csv.excel


def extract_csv(path: Path, data: bytes) -> Parsed:
    """Delimited rows as Markdown tables (first row = header, repeated in every piece); the
    delimiter is sniffed for .csv (comma, semicolon, tab, pipe) and is a tab for .tsv."""
    text = decode(path, data)
    try:
        rows = list(csv.reader(text.splitlines(), _dialect(text, path.suffix.lower())))
    except csv.Error as exc:
        raise ExtractionError("corrupt_file", f"{path.name}: not valid delimited text ({exc})") from exc
    drafts = Drafts()
    for table in markdown_tables(rows):
        drafts.add("table", table)
    return Parsed(drafts.items)


# --------------------------------------------------------------------------- JSON / JSONL

_SCALARS = (str, int, float, bool, type(None))


def _scalar(value: object) -> str:
    return json.dumps(value, ensure_ascii=False) if value is None or isinstance(value, bool) else str(value)


def _is_records(value: object) -> bool:
    """A list of flat objects, which reads best as a table."""
    return isinstance(value, list) and bool(value) and all(
        isinstance(v, dict) and all(isinstance(x, _SCALARS) for x in v.values()) for v in value
    )


def _records_tables(records: list[dict]) -> list[str]:
    columns = list(dict.fromkeys(k for r in records for k in r))
    return markdown_tables([columns] + [[_scalar(r.get(c, "")) if c in r else "" for c in columns] for r in records])


def _json_value(drafts: Drafts, value: object, level: int) -> None:
    """Scalars become 'key: value' lines, records become tables, nested objects become headings."""
    if _is_records(value):
        for table in _records_tables(value):
            drafts.add("table", table)
    elif isinstance(value, list):
        scalars = [v for v in value if isinstance(v, _SCALARS)]
        if scalars:
            drafts.add("list", "\n".join("- " + _scalar(v) for v in scalars))
        for number, item in enumerate((v for v in value if not isinstance(v, _SCALARS)), start=1):
            _json_section(drafts, f"item {number}", item, level)
    elif isinstance(value, dict):
        lines = [f"{k}: {_scalar(v)}" for k, v in value.items() if isinstance(v, _SCALARS)]
        drafts.add("paragraph", "\n".join(lines))
        for key, item in value.items():
            if not isinstance(item, _SCALARS):
                _json_section(drafts, str(key), item, level)
    else:
        drafts.add("paragraph", _scalar(value))


def _json_section(drafts: Drafts, title: str, value: object, level: int) -> None:
    depth = min(level, 6)
    drafts.heading("#" * depth + " " + title, title, depth)
    _json_value(drafts, value, level + 1)


def parse_json(path: Path, text: str, what: str) -> object:
    """json.loads with truncation told apart from other syntax errors."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        cut = exc.pos >= len(text.rstrip()) - 1 or "Unterminated" in exc.msg
        code = "truncated" if cut else "corrupt_file"
        raise ExtractionError(code, f"{path.name}: {what} is {'cut off' if cut else 'not valid JSON'} ({exc})") from exc


def extract_json(path: Path, data: bytes) -> Parsed:
    """A JSON document as nested sections: keys of objects become headings by depth."""
    drafts = Drafts()
    _json_value(drafts, parse_json(path, decode(path, data), "JSON"), 1)
    return Parsed(drafts.items)


def extract_jsonl(path: Path, data: bytes) -> Parsed:
    """JSON Lines: flat records as one table; otherwise a section per record ('record N')."""
    records = []
    for number, line in enumerate(decode(path, data).split("\n"), start=1):
        if line.strip():
            records.append(parse_json(path, line, f"line {number}"))
    drafts = Drafts()
    if _is_records(records):
        _json_value(drafts, records, 1)
    else:
        for number, record in enumerate(records, start=1):
            _json_section(drafts, f"record {number}", record, 1)
    return Parsed(drafts.items)


# --------------------------------------------------------------------------- YAML

MAX_NODES = 200_000  # values walked in one YAML file: anchors re-used exponentially ("billion laughs") stop here


def _plain(path: Path, value: object, budget: list[int]) -> object:
    """YAML values as JSON-like values (dates and other tagged scalars as text), counting every
    node walked, because aliases let a small file describe an exponentially large tree."""
    budget[0] -= 1
    if budget[0] < 0:
        raise ExtractionError("too_large", f"{path.name}: YAML expands to more than {MAX_NODES:,} values (aliases?)")
    if isinstance(value, dict):
        return {str(k): _plain(path, v, budget) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(path, v, budget) for v in value]
    if isinstance(value, bytes):
        return f"({len(value)} bytes of binary data)"
    return value if isinstance(value, _SCALARS) else str(value)


def _tagged_loader():
    """PyYAML's SafeLoader that also reads application tags (CloudFormation's ``!Ref``, gcloud's
    ``!REF``, Ansible's ``!vault``) as the plain value they tag, shown as ``!Tag value``; nothing
    is ever constructed from a tag."""
    import yaml

    class TaggedLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml's parser when built with it: ~5x faster
        pass

    def plain(loader, suffix: str, node):
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node)
        return f"{node.tag} {loader.construct_scalar(node)}".strip()

    TaggedLoader.add_multi_constructor("!", plain)
    TaggedLoader.add_multi_constructor("tag:", plain)  # other YAML tags than the standard ones
    return TaggedLoader


def extract_yaml(path: Path, data: bytes) -> Parsed:
    """YAML read like JSON: mappings' keys become headings by depth, lists of flat mappings become
    tables; a file of several documents ('---') gets a 'document N' section per document.
    SafeLoader only (application tags read as text): no Python objects are constructed from tags."""
    import yaml

    try:
        documents = [d for d in yaml.load_all(decode(path, data), Loader=_tagged_loader()) if d is not None]
    except yaml.YAMLError as exc:
        raise ExtractionError("corrupt_file", f"{path.name}: not valid YAML ({' '.join(str(exc).split())})") from exc
    except RecursionError as exc:
        raise ExtractionError("too_large", f"{path.name}: YAML nested too deeply") from exc
    budget = [MAX_NODES]
    values = [_plain(path, d, budget) for d in documents]
    drafts = Drafts()
    if len(values) == 1:
        _json_value(drafts, values[0], 1)
    for number, value in enumerate(values if len(values) > 1 else [], start=1):
        _json_section(drafts, f"document {number}", value, 1)
    return Parsed(drafts.items)


# --------------------------------------------------------------------------- TOML and INI


def extract_toml(path: Path, data: bytes) -> Parsed:
    """TOML (pyproject.toml, Cargo.toml, service settings) read like JSON: tables become headings
    by depth, arrays of flat tables become Markdown tables. tomllib is the standard library's."""
    import tomllib

    try:
        value = tomllib.loads(decode(path, data))
    except tomllib.TOMLDecodeError as exc:
        raise ExtractionError("corrupt_file", f"{path.name}: not valid TOML ({exc})") from exc
    drafts = Drafts()
    _json_value(drafts, _plain(path, value, [MAX_NODES]), 1)
    return Parsed(drafts.items)


_INI_SECTION = re.compile(r"^\s*\[([^\]\n]+)\]\s*$")


def extract_ini(path: Path, data: bytes) -> Parsed:
    """INI-style settings (.ini, .cfg, .conf): each ``[section]`` a heading, its ``key = value``
    lines kept together as one block, and comment lines (``#``, ``;``) as the prose they usually
    are. Read by lines rather than configparser, which drops the comments and refuses the many
    .conf files that are not strictly INI."""
    drafts, block, prose = Drafts(), [], []

    def flush() -> None:
        drafts.add("paragraph", " ".join(prose))
        drafts.add("code", "\n".join(block))
        prose.clear()
        block.clear()

    for line in decode(path, data).split("\n"):
        stripped, section = line.strip(), _INI_SECTION.match(line)
        if section:
            flush()
            drafts.heading(stripped, section.group(1).strip(), 1)
        elif stripped.startswith(("#", ";")):
            if block:
                flush()
            prose.append(stripped.lstrip("#;").strip())
        elif stripped:
            if prose and not block:
                drafts.add("paragraph", " ".join(prose))
                prose.clear()
            block.append(line.rstrip())
        elif prose or block:
            flush()
    flush()
    return Parsed(drafts.items)


# --------------------------------------------------------------------------- XML

_KEY_ATTRIBUTES = ("id", "name", "title", "key", "label", "type")
_LINE_CHARS = 80  # leaf text up to this long is a 'tag: text' line; longer text is a paragraph of its own


def _xml_attributes(element) -> dict[str, str]:
    """Attributes by local name (namespaces dropped: ``menu:id`` is ``id``)."""
    from lxml import etree

    return {etree.QName(k).localname: v for k, v in element.attrib.items()}


def _xml_key(element) -> str:
    """The attribute that tells siblings apart (id, name, ...), as 'id=bk101', or ''."""
    attributes = _xml_attributes(element)
    return next((f"{a}={attributes[a]}" for a in _KEY_ATTRIBUTES if attributes.get(a)), "")


def _xml_name(element) -> str:
    """An element's heading: its local name, plus its key attribute when it has one."""
    from lxml import etree

    key = _xml_key(element)
    name = etree.QName(element).localname
    return f"{name} ({key})" if key else name


def _xml_leaf(element) -> bool:
    """No child elements, or mixed content (text between children: prose with inline markup)."""
    children = [c for c in element if isinstance(c.tag, str)]
    return not children or bool((element.text or "").strip()) or any((c.tail or "").strip() for c in children)


def _xml_line(element, text: str) -> str:
    """A leaf element as one line: 'tag [attr=value ...]: text'."""
    from lxml import etree

    attributes = " ".join(f"{k}={v}" for k, v in _xml_attributes(element).items())
    return etree.QName(element).localname + (f" [{attributes}]" if attributes else "") + (f": {text}" if text else "")


def _xml_element(drafts: Drafts, element, level: int) -> None:
    """Elements with element children become headings by depth (the heading path is the element
    path); leaf children become 'tag [attributes]: text' lines, long text a paragraph of its own."""
    key = _xml_key(element).split("=", 1)[0]
    lines = [f"@{k}: {v}" for k, v in _xml_attributes(element).items() if k != key]
    for child in element:
        if not isinstance(child.tag, str):  # comments, processing instructions
            continue
        if not _xml_leaf(child):
            drafts.add("paragraph", "\n".join(lines))
            lines = []
            title = _xml_name(child)
            drafts.heading("#" * min(level, 6) + " " + title, title, min(level, 6))
            _xml_element(drafts, child, level + 1)
            continue
        text = squash(" ".join(child.itertext()))
        if len(text) > _LINE_CHARS:
            lines.append(_xml_line(child, ""))
            drafts.add("paragraph", "\n".join(lines))
            drafts.add("paragraph", text)
            lines = []
        elif text or child.attrib:
            lines.append(_xml_line(child, text))
    drafts.add("paragraph", "\n".join(lines))


def _parse_xml(path: Path, data: bytes):
    """The root element, parsed with no DTDs, no entities, no network: external entities and
    entity bombs are never expanded."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             remove_comments=True, remove_pis=True)
    try:
        return etree.fromstring(as_utf8(data), parser)
    except etree.XMLSyntaxError as exc:
        cut = "end of data" in str(exc).lower() or "premature end" in str(exc).lower()
        raise ExtractionError("truncated" if cut else "corrupt_file",
                              f"{path.name}: {'XML is cut off' if cut else 'not well-formed XML'} ({exc})") from exc


def extract_xml(path: Path, data: bytes) -> Parsed:
    """Generic XML: the root is the level-1 heading, elements with element children are headings
    below it (their path is the heading path), text nodes are the text."""
    root = _parse_xml(path, data)
    drafts = Drafts()
    title = _xml_name(root)
    drafts.heading(f"# {title}", title, 1)
    if _xml_leaf(root):
        drafts.add("paragraph", squash(" ".join(root.itertext())))
    else:
        _xml_element(drafts, root, 2)
    return Parsed(drafts.items)


_SVG_TEXT = {"title", "desc", "text", "flowRoot"}  # the elements whose words a drawing shows or names


def extract_svg(path: Path, data: bytes) -> Parsed:
    """An SVG drawing's words, not its geometry: the drawing's own <title> as the heading, then
    each <title>, <desc> and <text> (its <tspan> pieces joined) in document order as one line."""
    from lxml import etree

    root, drafts, lines = _parse_xml(path, data), Drafts(), []
    for element in root.iter():
        if isinstance(element.tag, str) and etree.QName(element).localname in _SVG_TEXT:
            if any(etree.QName(a).localname in _SVG_TEXT for a in element.iterancestors() if isinstance(a.tag, str)):
                continue  # a <title> inside a <text> is part of that text
            text = squash(" ".join(element.itertext()))
            if element.getparent() is root and etree.QName(element).localname == "title" and not drafts.items:
                drafts.heading(f"# {text}", text, 1)
            elif text:
                lines.append(text)
    drafts.add("paragraph", "\n".join(lines))
    return Parsed(drafts.items)


def extract_qt_translations(path: Path, data: bytes) -> Parsed:
    """A Qt Linguist translation file (``.ts``, XML with a ``<TS>`` root; the suffix is shared with
    TypeScript, ``sniffing.is_qt_translation`` tells them apart): each context (a window, a
    dialog) is a heading with a table of source text, translation and the translator's comment."""
    root = _parse_xml(path, data)
    drafts = Drafts()
    language = root.get("language") or root.get("sourcelanguage") or ""
    title = f"{path.stem} translations" + (f" ({language})" if language else "")
    drafts.heading(f"# {title}", title, 1)
    for context in root.iter("context"):
        name = squash(context.findtext("name") or "") or "(no context)"
        drafts.heading(f"## {name}", name, 2)
        rows = [[squash(message.findtext(tag) or "") for tag in ("source", "translation", "translatorcomment")]
                for message in context.iter("message")]
        with_comments = any(row[2] for row in rows)
        rows = [row if with_comments else row[:2] for row in rows if row[0]]
        if rows:
            header = ["Source", "Translation", "Comment"] if with_comments else ["Source", "Translation"]
            for table in markdown_tables([header] + rows):
                drafts.add("table", table)
    return Parsed(drafts.items)
