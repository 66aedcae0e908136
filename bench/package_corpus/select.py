#!/usr/bin/env python3
"""Deterministic corpus selection, implementing RULES.md exactly.
Reads only file names, sizes and sha256 (no content inspection beyond hashing).
Writes list.txt and SUMMARY.md."""
import hashlib, math, os, re, sys
from collections import Counter, OrderedDict

ROOT = "/work/corpus2"
PKGS_DIR = os.path.join(ROOT, "pkgs")
DL_DIR = os.path.join(ROOT, "dl")

# Processing order = RULES.md main list order; replacements (see RULES.md
# "Changes") take the place of the package they replace.
PACKAGES = [
    "pdfminer.six", "pypdf", "pdfplumber", "camelot-py", "tabula-py",
    "pikepdf", "pdf2image", "img2pdf", "python-docx", "docx2python",
    "mammoth", "python-pptx", "openpyxl", "xlrd", "XlsxWriter", "odfpy",
    "pyexcel-ods3", "striprtf", "extract-msg", "olefile", "mail-parser",
    "eml-parser", "ebooklib", "pytesseract", "markdown",
]
# Reserve list: RULES.md reserve 1-9 plus extensions 10-21 (Change 1) and 22-25 (Change 2).
# A main-list package that yields zero selected files is replaced, at its
# position, by the next reserve that yields at least one; reserves that yield
# none are skipped.
RESERVES = [
    "beautifulsoup4", "html5lib", "msoffcrypto-tool", "pyexcel-xls",
    "docx2txt", "python-calamine", "pdfrw", "ezodf", "rtfparse",
    "ocrmypdf", "odfdo", "docxcompose", "docxtpl", "pyexcel-xlsx",
    "pyexcel-ods", "pyexcel", "tablib", "agate-excel", "csvkit",
    "trafilatura", "PyPDF2",
    # Change 2 extension
    "python-oxmsg", "oletools", "textract", "compressed-rtf",
]

PRIMARY = {".pdf", ".docx", ".docm", ".dotx", ".doc", ".xlsx", ".xlsm", ".xls",
           ".xlsb", ".pptx", ".pptm", ".ppt", ".odt", ".ods", ".odp", ".rtf",
           ".eml", ".msg", ".epub"}
SECONDARY = {".html", ".htm", ".csv", ".tsv", ".md", ".txt", ".png", ".jpg",
             ".jpeg", ".tif", ".tiff"}
CAP_PRIMARY, CAP_SECONDARY = 12, 3
SECONDARY_DIR_WORDS = ("test", "sample", "example", "fixture", "data",
                       "resource", "input")
BAD_WORDS = ("corrupt", "broken", "malformed", "fuzz", "crash", "invalid",
             "bad", "damaged", "encrypted", "password")
MAX_SIZE = 20 * 1024 * 1024


def ext_of(name):
    return os.path.splitext(name)[1].lower()


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def version_of(pkg):
    for kind in ("sdist", "wheel"):
        d = os.path.join(DL_DIR, f"{kind}_{pkg}")
        if os.path.isdir(d):
            for f in sorted(os.listdir(d)):
                m = re.match(r"^[A-Za-z0-9_.\-]+?-(\d[^-]*?)(\.tar\.gz|\.zip|\.tar\.bz2|-py.*\.whl)$", f)
                if m:
                    return m.group(1), kind, f
    return "?", "?", "?"


def candidates(pkg):
    base = os.path.join(PKGS_DIR, pkg)
    by_ext = {}
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        for fn in filenames:
            full = os.path.join(dirpath, fn)
            if os.path.islink(full) or not os.path.isfile(full):
                continue
            e = ext_of(fn)
            if e not in PRIMARY and e not in SECONDARY:
                continue
            rel = os.path.relpath(full, base)
            low = rel.lower()
            if e in SECONDARY:
                dirs = [c.lower() for c in rel.split(os.sep)[:-1]]
                if not any(w in c for c in dirs for w in SECONDARY_DIR_WORDS):
                    continue
            if any(w in low for w in BAD_WORDS):
                continue
            if os.path.getsize(full) > MAX_SIZE:
                continue
            by_ext.setdefault(e, []).append(rel)
    return by_ext


def subsample(paths, cap):
    paths = sorted(paths)
    n = len(paths)
    if n <= cap:
        return paths
    step = math.ceil(n / cap)
    return paths[0::step][:cap]


def select_package(pkg, seen):
    """Return (selected list, eligible count, duplicate count); updates seen."""
    base = os.path.join(PKGS_DIR, pkg)
    sel, elig, dup = [], 0, 0
    if not os.path.isdir(base):
        print(f"WARNING: {pkg} not unpacked", file=sys.stderr)
        return sel, elig, dup
    by_ext = candidates(pkg)
    for e in sorted(by_ext):
        elig += len(by_ext[e])
        cap = CAP_PRIMARY if e in PRIMARY else CAP_SECONDARY
        for rel in subsample(by_ext[e], cap):
            full = os.path.join(base, rel)
            h = sha256(full)
            if h in seen:
                dup += 1
                continue
            seen.add(h)
            sel.append((pkg, full, e))
    return sel, elig, dup


def main():
    seen = set()
    selected = []  # (pkg, abs path, ext)
    dups = Counter()
    eligible = Counter()
    order = []          # packages that contribute, in processing order
    log = []            # replacement log lines
    reserves = list(RESERVES)
    for pkg in PACKAGES:
        sel, elig, dup = select_package(pkg, seen)
        eligible[pkg], dups[pkg] = elig, dup
        if sel:
            selected += sel
            order.append(pkg)
            continue
        log.append(f"- {pkg}: 0 selected ({elig} eligible, {dup} duplicates) -> replaced")
        while reserves:
            r = reserves.pop(0)
            sel, elig, dup = select_package(r, seen)
            eligible[r], dups[r] = elig, dup
            if sel:
                selected += sel
                order.append(r)
                log.append(f"  - by reserve {r} ({len(sel)} selected)")
                break
            log.append(f"  - reserve {r} skipped: 0 selected ({elig} eligible, {dup} duplicates)")
        else:
            log.append("  - no reserve left: slot stays empty")
    unused = reserves

    with open(os.path.join(ROOT, "list.txt"), "w") as f:
        for pkg, full, e in selected:
            f.write(f"{pkg}\t{full}\n")

    per_pkg = Counter(p for p, _, _ in selected)
    per_ext = Counter(e for _, _, e in selected)
    groups = OrderedDict([
        ("PDF", {".pdf"}), ("Word", {".docx", ".docm", ".dotx", ".doc"}),
        ("Excel", {".xlsx", ".xlsm", ".xls", ".xlsb"}),
        ("PowerPoint", {".pptx", ".pptm", ".ppt"}),
        ("OpenDocument", {".odt", ".ods", ".odp"}), ("RTF", {".rtf"}),
        ("E-mail", {".eml", ".msg"}), ("EPUB", {".epub"}),
        ("HTML", {".html", ".htm"}), ("CSV/TSV", {".csv", ".tsv"}),
        ("Markdown/text", {".md", ".txt"}),
        ("Images", {".png", ".jpg", ".jpeg", ".tif", ".tiff"}),
    ])
    lines = ["# Corpus 2 — summary", "",
             "Generated by `select.py` from the rules in `RULES.md`. "
             "List: `list.txt` (`<package>\\t<absolute path>`).", "",
             f"**Total files: {len(selected)}**", "",
             "## Packages", "",
             "| # | package | version | archive | eligible after filters | selected | dropped as duplicate |",
             "|---|---|---|---|---|---|---|"]
    for i, pkg in enumerate(order, 1):
        v, kind, fn = version_of(pkg)
        lines.append(f"| {i} | {pkg} | {v} | {kind}: {fn} | {eligible[pkg]} | {per_pkg[pkg]} | {dups[pkg]} |")
    lines += ["", "## Replacements (RULES.md reserve procedure)", ""] + log
    lines += ["", "Unused reserves: " + (", ".join(unused) if unused else "none")]
    lines += ["", "## Files per extension", "", "| extension | files |", "|---|---|"]
    for e, c in sorted(per_ext.items(), key=lambda x: (-x[1], x[0])):
        lines.append(f"| {e} | {c} |")
    lines += ["", "## Files per kind", "", "| kind | files |", "|---|---|"]
    for g, exts in groups.items():
        lines.append(f"| {g} | {sum(per_ext[e] for e in exts)} |")
    office = sum(per_ext[e] for g in ("PDF", "Word", "Excel", "PowerPoint", "OpenDocument") for e in groups[g])
    lines += ["", f"PDF + Office (Word, Excel, PowerPoint, OpenDocument): {office} of {len(selected)}", ""]
    lines += ["## Notes", "",
              "- Kinds with no files: e-mail (.eml/.msg), EPUB; RTF has only 2 (both from oletools).",
              "- oletools' files come from a security tool's test-data (DDE, macro, embedded-object samples,"
              " judged from file names only); they pass the rules, so they are kept.",
              "- Secondary-group .txt files include e.g. tests/requirements*.txt: they pass the rules as written.",
              "- docx2python, html5lib, python-calamine, odfdo, textract: wheel used (pip could not prepare the sdist).",
              "- Eligible counts are after the name-word and size filters, before sampling and de-duplication.",
              ""]
    with open(os.path.join(ROOT, "SUMMARY.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
