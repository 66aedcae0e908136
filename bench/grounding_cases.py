"""Cases of the held-back grounding benchmark (bench/grounding_heldout/, see its SOURCES.md).

Documents are package READMEs shipped in installed wheels (permissive licences) and one real
PDF read from /usr/share/doc at run time. Split by document (split.json), decided before any
figure was computed. Every case is (source chunk as the pipeline extracts and chunks it,
question, answer, label, kind). True kinds: verbatim sentence (from the original text even when
the source is a PDF), trimmed, lead-in, fill-in question + short answer, hand-written paraphrase
and question answers. Altered kinds: negation flipped, antonym swapped, identifier swapped for
another identifier of the same document, number changed, wrong relation (two terms of the
sentence exchanged), sentence of another document, wrong short answer, and hand-written wrong
answers (questions.jsonl).

The alterations here are written independently of the checker's word lists, but they draw on
the same English: an antonym pair both know is easier than one only the bench knows.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import tempfile
from functools import lru_cache
from pathlib import Path

from mbdg_assets.enrich.chunking import chunk_document
from mbdg_assets.extract.extraction import extract_document
from mbdg_assets.validate.grounding import prose_sentence_spans
from mbdg_assets.shared.text import content_stems

HERE = Path(__file__).resolve().parent / "grounding_heldout"
INSTALLED_PDF = Path("/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf")
INSTALLED_XML = Path("/usr/share/doc/shared-mime-info/shared-mime-info-spec.xml.gz")
_IDENT = re.compile(r"(?<![\w.])(?:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+|[a-z]\w*_\w+|[a-z]+[A-Z]\w*|[A-Z][a-z]+[A-Z]\w+)(?:\(\))?(?![\w])")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.]\w)")
_AUX = re.compile(r"\b(is|are|was|were|will|can|should|may|does|do|has)\b")
_NEGATED = re.compile(r"\b(is|are|was|were|will|can|should|does|do|has) not\b|\b(isn't|aren't|doesn't|don't|can't|won't)\b|\bcannot\b")
# Opposites the bench swaps (one direction each; a word and its swap), written for the bench.
BENCH_ANTONYMS = {
    "allowed": "forbidden", "allows": "forbids", "must": "must not", "enabled": "disabled", "enable": "disable",
    "before": "after", "after": "before", "required": "optional", "optional": "required", "always": "never",
    "true": "false", "false": "true", "synchronous": "asynchronous", "asynchronous": "synchronous",
    "first": "last", "maximum": "minimum", "minimum": "maximum", "more": "fewer", "increase": "decrease",
    "above": "below", "below": "above", "higher": "lower", "lower": "higher", "include": "exclude",
    "includes": "excludes", "supported": "unsupported", "valid": "invalid", "success": "failure",
    "automatically": "manually", "older": "newer", "newer": "older", "larger": "smaller", "smaller": "larger",
    "faster": "slower", "slower": "faster", "start": "end", "inside": "outside", "local": "remote",
    "safe": "unsafe", "easy": "hard", "less": "more", "same": "different", "ignored": "used",
}
SUPPORTED_KINDS = ("verbatim", "verbatim_pdf", "trimmed", "lead_in", "fill_in", "paraphrase", "qa_true")


def split() -> dict:
    return json.loads((HERE / "split.json").read_text())


def _clean_sentence(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def usable(sentence: str) -> bool:
    return 8 <= len(sentence.split()) <= 45 and not re.search(r"[|`#*▶─│$>]|^[-\d(]|\.\.\.|::|\bhttps?:", sentence) \
        and sentence[-1:] in ".!?" and sentence[:1].isupper()


def sentences_of(text: str) -> list[str]:
    return [s for s in (_clean_sentence(text[a:b]) for a, b in prose_sentence_spans(text)) if usable(s)]


# ------------------------------------------------------------------------- typeset PDF renditions


def _hyphenate(word: str) -> tuple[str, str] | None:
    """A plain split for a word crossing the line end (not a dictionary hyphenation; readers see
    the same thing: 'configu-' / 'ration')."""
    letters = re.fullmatch(r"([A-Za-z]{3,})([a-z]{3,}[.,;:]?)", word)
    if not letters or len(word) < 8:
        return None
    cut = len(word) // 2
    return word[:cut] + "-", word[cut:]


def _lines(paragraph: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in paragraph.split():
        if len(line) + 1 + len(word) <= width or not line:
            line = f"{line} {word}".strip()
            continue
        parts = _hyphenate(word)
        if parts and len(line) + 1 + len(parts[0]) <= width:
            lines.append(f"{line} {parts[0]}")
            line = parts[1]
        else:
            lines.append(line)
            line = word
    return lines + ([line] if line else [])


def render_pdf(text: str, title: str, out: Path) -> Path:
    """Typeset the document's prose (code blocks left out) in a narrow column: hyphenated line
    ends, fi/fl ligature glyphs, a running header and a page number on every page."""
    from reportlab.lib.pagesizes import A5
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(TTFont("DejaVu", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"))
    pdfmetrics.registerFont(TTFont("DejaVuBold", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"))
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    page_w, page_h = A5
    pdf = canvas.Canvas(str(out), pagesize=A5)
    page, y = 1, 0.0

    def new_page():
        nonlocal page, y
        if y:
            pdf.setFont("DejaVu", 8)
            pdf.drawCentredString(page_w / 2, 24, str(page))
            pdf.showPage()
            page += 1
        pdf.setFont("DejaVu", 8)
        pdf.drawString(36, page_h - 28, f"{title} — user guide")
        y = page_h - 56

    new_page()
    for block in re.split(r"\n\s*\n", text):
        block = _clean_sentence(block)
        if not block:
            continue
        heading = block.startswith("#")
        font, size = ("DejaVuBold", 13) if heading else ("DejaVu", 10)
        for line in _lines(block.lstrip("# "), 40 if heading else 62):
            if y < 48:
                new_page()
            pdf.setFont(font, size)
            pdf.drawString(36, y, line.replace("fi", "\ufb01").replace("fl", "\ufb02"))
            y -= size * 1.35
        y -= 8
    pdf.setFont("DejaVu", 8)
    pdf.drawCentredString(page_w / 2, 24, str(page))
    pdf.save()
    return out


# ------------------------------------------------------------------------- documents and chunks


def _chunks(doc) -> list[dict]:
    return [{"chunk_id": c.chunk_id, "doc_id": c.doc_id, "path": doc.path if hasattr(doc, "path") else "", "text": c.text,
             "heading_path": list(c.heading_path), "topic": c.heading_path[-1] if c.heading_path else ""}
            for c in chunk_document(doc, target_tokens=175, max_tokens=350)]


def _xml_sentences() -> list[str]:
    xml = gzip.decompress(INSTALLED_XML.read_bytes()).decode("utf-8")
    paragraphs = re.findall(r"<para>(.*?)</para>", xml, flags=re.DOTALL)
    out = []
    for p in paragraphs:
        p = re.sub(r"<citation>(.*?)</citation>", r"[\1]", p)  # as the PDF prints them
        p = re.sub(r"<refentrytitle>(.*?)</refentrytitle>\s*<manvolnum>(.*?)</manvolnum>", r"\1(\2)", p)
        if "<xref" in p:  # the PDF prints a section number the source does not hold
            continue
        plain = re.sub(r"<[^>]+>", "", p)
        plain = plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").replace("&quot;", '"')
        out += sentences_of(plain)
    return out


@lru_cache(maxsize=1)
def documents() -> dict[str, dict]:
    """name -> {part, chunks, truth sentences, pdf: bool}. The truth sentences of a PDF are the
    text a reader copies (the original document / the DocBook source), not the PDF's extraction."""
    parts = split()
    out, tmp = {}, Path(tempfile.mkdtemp(prefix="mbdg-grounding-bench-"))
    for part in ("tuning", "heldback"):
        for name in parts[part]:
            if name.startswith("installed:"):
                if not (INSTALLED_PDF.exists() and INSTALLED_XML.exists()):
                    continue
                doc = extract_document(INSTALLED_PDF)
                out[name] = {"part": part, "chunks": _chunks(doc), "truth": _xml_sentences(), "pdf": True}
                continue
            original = extract_document(HERE / "docs" / name)
            truth = sentences_of(original.text)
            if name in parts["rendered_pdf"]:
                doc = extract_document(render_pdf(original.text, Path(name).stem, tmp / f"{Path(name).stem}.pdf"))
                out[name] = {"part": part, "chunks": _chunks(doc), "truth": truth, "pdf": True}
            else:
                out[name] = {"part": part, "chunks": _chunks(original), "truth": truth, "pdf": False}
    return out


def _home_chunk(sentence: str, chunks: list[dict]) -> dict | None:
    """The chunk holding the sentence: most of its content words, in a PDF possibly broken over
    lines, pages and hyphens (matched on dehyphenated, whitespace-folded text)."""
    stems = set(content_stems(sentence))
    if not stems:
        return None
    best = max(chunks, key=lambda c: len(stems & set(content_stems(re.sub(r"-\n", "", c["text"])))))
    share = len(stems & set(content_stems(re.sub(r"-\n", "", best["text"])))) / len(stems)
    return best if share >= 0.8 else None


# ------------------------------------------------------------------------- altered answers


def _swap_word(sentence: str, rng: random.Random) -> str | None:
    """One bench antonym swapped in (whole word, case kept)."""
    found = [m for m in re.finditer(r"\b[a-z]+\b", sentence) if m.group(0) in BENCH_ANTONYMS]
    if not found:
        return None
    m = rng.choice(found)
    return sentence[: m.start()] + BENCH_ANTONYMS[m.group(0)] + sentence[m.end():]


def _flip_negation(sentence: str) -> str | None:
    if _NEGATED.search(sentence):
        m = _NEGATED.search(sentence)
        word = m.group(0)
        plain = {"isn't": "is", "aren't": "are", "doesn't": "does", "don't": "do", "can't": "can", "won't": "will",
                 "cannot": "can"}.get(word, word.replace(" not", ""))
        return sentence[: m.start()] + plain + sentence[m.end():]
    if _AUX.search(sentence):
        return _AUX.sub(lambda m: m.group(1) + " not", sentence, count=1)
    return None


def _identifiers(text: str) -> set[str]:
    return {m.group(0) for m in _IDENT.finditer(text)}


def _swap_identifier(sentence: str, pool: list[str], rng: random.Random) -> str | None:
    mine = sorted(_identifiers(sentence))
    others = [x for x in pool if x not in sentence and x.rstrip("()") not in sentence]
    if not mine or not others:
        return None
    target = rng.choice(mine)
    return re.sub(rf"(?<![\w.]){re.escape(target)}(?![\w])", rng.choice(others), sentence, count=1)


def _change_number(sentence: str, rng: random.Random) -> str | None:
    found = list(_NUMBER.finditer(sentence))
    if not found:
        return None
    m = rng.choice(found)
    n = m.group(0)
    new = str(float(n) + 1.5) if "." in n else str(int(n) * 2 + 3 if int(n) < 1000 else int(n) + 10)
    return sentence[: m.start()] + new + sentence[m.end():]


def _wrong_relation(sentence: str) -> str | None:
    """Two terms of the sentence exchanged (identifiers, or else the first and last content
    nouns-ish words): the same words, a different relation."""
    terms = sorted(_identifiers(sentence), key=sentence.index)
    if len(terms) < 2:
        return None
    a, b = terms[0], terms[-1]
    between = sentence[sentence.index(a) + len(a): sentence.index(b)] if sentence.index(a) < sentence.index(b) else ""
    if a in b or b in a or re.fullmatch(r",?\s*(?:and|or|and/or)?\s*|,\s*", between):
        return None  # 'A and B' -> 'B and A' says the same thing: no wrong relation
    return sentence.replace(a, "\x00").replace(b, a).replace("\x00", b)


def _fill_in(sentence: str, pool: list[str], rng: random.Random) -> list[tuple[str, str, int, str]]:
    """(question, short answer, label, kind): the sentence with one identifier or number blanked;
    the right filler, and a wrong one (another identifier of the document / another number)."""
    slots = [("identifier", x) for x in sorted(_identifiers(sentence))] + [("number", m.group(0)) for m in _NUMBER.finditer(sentence)]
    if not slots:
        return []
    what, answer = rng.choice(slots)
    question = "Fill in the blank: " + sentence.replace(answer, "___", 1)
    if what == "number":
        wrong = str(int(float(answer)) * 2 + 3)
    else:
        others = [x for x in pool if x != answer and x not in sentence]
        if not others:
            return [(question, answer, 1, "fill_in")]
        wrong = rng.choice(others)
    return [(question, answer, 1, "fill_in"), (question, wrong, 0, "fill_in_wrong")]


def _lead_in(sentence: str) -> str:
    return "According to the guide, " + (sentence[0].lower() if not sentence[1:2].isupper() else sentence[0]) + sentence[1:]


def _trimmed(sentence: str) -> str | None:
    head = sentence.split(", ")[0]
    return head + "." if ", " in sentence and len(head.split()) >= 6 else None


# ------------------------------------------------------------------------- the cases


def _case(name: str, chunks: list[dict], question: str, answer: str, label: int, kind: str) -> dict:
    return {"doc": name, "chunks": chunks, "question": question, "answer": answer, "label": label, "kind": kind}


def _sentence_cases(name: str, doc: dict, others: list[str], pool: list[str], rng: random.Random, per_doc: int) -> list[dict]:
    truth = doc["truth"]
    picked = rng.sample(truth, min(per_doc, len(truth)))
    cases = []
    for i, sentence in enumerate(picked):
        home = _home_chunk(sentence, doc["chunks"])
        if home is None:
            continue
        ask = f"What does the guide say about {home['topic'] or Path(name).stem}?"
        add = lambda answer, label, kind, q=ask: answer and cases.append(_case(name, [home], q, answer, label, kind))
        add(sentence, 1, "verbatim_pdf" if doc["pdf"] else "verbatim")
        add(_lead_in(sentence) if i % 2 else _trimmed(sentence), 1, "lead_in" if i % 2 else "trimmed")
        for question, answer, label, kind in _fill_in(sentence, pool, rng):
            add(answer, label, kind, question)
        add(_flip_negation(sentence), 0, "negation")
        add(_swap_word(sentence, rng), 0, "antonym")
        add(_swap_identifier(sentence, pool, rng), 0, "identifier")
        add(_change_number(sentence, rng), 0, "number")
        add(_wrong_relation(sentence), 0, "wrong_relation")
        add(rng.choice(others), 0, "other_document")
    return cases


def handwritten(docs: dict[str, dict]) -> list[dict]:
    """questions.jsonl: {doc, question, answer, label, kind, evidence: [one or two snippets]}; the
    source is the chunk holding the first snippet, plus the second's chunk when it differs."""
    path = HERE / "questions.jsonl"
    cases = []
    for line in path.read_text().splitlines() if path.exists() else []:
        if not line.strip():
            continue
        item = json.loads(line)
        if item["doc"] not in docs:
            continue
        chunks = docs[item["doc"]]["chunks"]
        homes = []
        for snippet in item["evidence"]:
            home = _home_chunk(snippet, chunks)
            if home is None:
                raise ValueError(f"questions.jsonl: evidence not found in {item['doc']}: {snippet[:60]!r}")
            if home not in homes:
                homes.append(home)
        cases.append(_case(item["doc"], homes, item["question"], item["answer"], item["label"], item["kind"]))
    return cases


def build_cases(part: str, per_doc: int = 40, seed: int = 0) -> list[dict]:
    """Every case of one part ('tuning' or 'heldback'), deterministic for a seed."""
    rng = random.Random(seed)
    docs = {n: d for n, d in documents().items() if d["part"] == part}
    cases = []
    for name, doc in docs.items():
        others = [s for n, d in docs.items() if n != name for s in d["truth"]]
        pool = sorted({x for c in doc["chunks"] for x in _identifiers(c["text"])})
        cases += _sentence_cases(name, doc, others, pool, rng, per_doc)
    return cases + handwritten(docs)
