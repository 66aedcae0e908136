"""A real mixed corpus from this machine's disk, and what ``mbdg extract`` makes of it (issue 15).

    .venv/bin/python bench/real_corpus.py [--list bench/real_corpus.txt] [--gather] [--report out.jsonl]

``--gather`` writes the list: real files found on disk by the rules in ``PARTS`` (sorted, then
every n-th file up to a cap, so the list is the same on the same machine; ``--gather-part more``
adds one part's files to the list and keeps the others). Part ``base`` has the
kinds of the corpus measured at the previous stop (documentation text, Markdown, HTML, RST, XML,
YAML, JSON, CSV, code, PDFs, images, test archives, .doc, .odt); part ``office`` adds what an
office keeps: LibreOffice's document, spreadsheet, presentation and drawing templates, the Office
files shipped with Python packages, gzipped documentation, mail; part ``more`` the kinds read
since (SVG, TOML, INI-style settings, captions). Nothing is dropped because it fails.

Without ``--gather`` the list is read and every file is extracted as ``mbdg extract`` does (archives
expanded into their members, each read in a bounded worker). A file counts as parsed when at
least one of its documents is (an archive: one of its members). It prints the share parsed per
part, with identical files counted once as well, and every failure with its reason.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mbdg_assets.cli.extract import expand, extract_report  # noqa: E402
from mbdg_assets.extract.limits import DEFAULT_LIMITS  # noqa: E402

PY = "/root/.pyenv/versions/3.11.7/lib/python3.11"
VENV = str(Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages")
# (part, root, file name patterns, at most this many files)
PARTS: list[tuple[str, str, tuple[str, ...], int]] = [
    ("base", "/usr/share/doc", ("*.txt",), 30), ("base", "/usr/share/doc", ("*.md",), 25),
    ("base", "/usr/share/doc", ("*.html", "*.htm"), 30), ("base", "/usr/share/doc", ("*.rst",), 20),
    ("base", "/usr/share/doc", ("*.xml",), 10), ("base", "/", ("*.pdf",), 10),
    ("base", VENV, ("*.yaml", "*.yml"), 15), ("base", VENV, ("*.json",), 15), ("base", VENV, ("*.csv",), 10),
    ("base", VENV, ("*.py",), 15), ("base", "/usr/share/doc", ("*.c",), 10), ("base", "/usr/share/doc", ("*.sh",), 5),
    ("base", f"{PY}/test/xmltestdata", ("*.xml",), 5),
    ("base", "/root/.pyenv/versions", ("*/imghdrdata/*",), 13), ("base", "/usr/share/icons", ("*.png",), 8),
    ("base", "/usr/share/doc", ("*.png", "*.gif", "*.jpg"), 10),
    ("base", f"{PY}/test", ("*.zip", "*.tar", "*.tar.*", "*.tgz"), 8),
    ("base", "/root/.pyenv/versions/2.7.18", ("*.doc",), 1), ("base", "/", ("*.odt",), 3),
    ("office", "/usr/lib/libreoffice/share", ("*.ott", "*.ots", "*.otp", "*.otg", "*.odg", "*.ods", "*.odp"), 130),
    ("office", VENV, ("*.docx", "*.pptx", "*.xlsx", "*.xls", "*.ppt", "*.doc", "*.rtf", "*.epub"), 20),
    ("office", f"{PY}/test/test_email/data", ("*.eml", "msg_*.txt"), 20),
    ("office", "/usr/share/doc", ("*.gz",), 20), ("office", "/usr/share/doc", ("*.pdf", "*.odt", "*.html"), 20),
    ("office", VENV, ("*.md", "*.rst", "*.txt"), 25),
    # added at the stop that read these kinds (gathered with --gather-part more, appended to the list)
    ("more", "/usr/share/doc", ("*.svg",), 10), ("more", VENV, ("*.toml",), 10), ("more", VENV, ("*.cfg", "*.ini"), 10),
    ("more", "/etc", ("*.conf",), 10), ("more", "/", ("*.srt", "*.vtt"), 6), ("more", VENV, ("*.properties",), 5),
]
SKIP_DIRS = ("/proc", "/sys", "/dev", "/tmp", "/work/wt", "/run")


def _walk(root: str, patterns: tuple[str, ...]) -> list[str]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not f"{folder}/{d}".startswith(SKIP_DIRS))
        for name in files:
            path = f"{folder}/{name}"
            if any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(path, p) for p in patterns) and os.path.isfile(path) \
                    and not os.path.islink(path):
                found.append(path)
    return sorted(found)


def gather(only: str | None = None, listed: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """(part, path) for every file the rules pick: every n-th of the sorted matches, up to the cap
    (with ``only``: that part's rules, leaving out the ``listed`` files)."""
    chosen: dict[str, str] = dict.fromkeys(listed, "")
    for part, root, patterns, cap in PARTS:
        if only and part != only:
            continue
        found = [p for p in _walk(root, patterns) if p not in chosen] if cap else []
        step = max(len(found) // cap, 1) if cap else 1
        for path in found[::step][:cap]:
            chosen[path] = part
    return [(part, path) for path, part in chosen.items() if part]


def _sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def measure(listing: list[tuple[str, str]], report: Path | None) -> dict:
    """Extract every file's documents; per part: files, parsed, and the same counting identical files once."""
    lines, outcome = [], {}
    for part, path in listing:
        documents = [extract_report(doc, DEFAULT_LIMITS.with_values(timeout_s=120)) for doc in expand((Path(path),))]
        ok = any(line["status"] == "ok" for line in documents)
        why = "" if ok else "; ".join(f"{line['code']}: {line['reason']}" for line in documents)[:300]
        outcome[path] = (part, ok, why, _sha256(path))
        lines += [line | {"file": path, "part": part} for line in documents]
    if report:
        report.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    return outcome


def _share(outcome: dict, parts: tuple[str, ...], unique: bool) -> str:
    rows = [(ok, digest) for part, ok, _why, digest in outcome.values() if part in parts]
    if unique:
        rows = list({digest: (ok, digest) for ok, digest in rows}.values())
    parsed = sum(ok for ok, _ in rows)
    return f"{parsed}/{len(rows)} ({100 * parsed / max(len(rows), 1):.1f}%)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--list", type=Path, default=Path(__file__).with_name("real_corpus.txt"))
    parser.add_argument("--gather", action="store_true", help="pick the files anew and write the list")
    parser.add_argument("--gather-part", default=None, help="pick one part's files anew and add them to the list")
    parser.add_argument("--report", type=Path, default=None, help="JSON lines of every document read")
    args = parser.parse_args()
    if args.gather:
        args.list.write_text("".join(f"{part}\t{path}\n" for part, path in gather()))
    listing = [tuple(line.split("\t", 1)) for line in args.list.read_text().splitlines() if line.strip()]
    if args.gather_part:
        listing = [(part, path) for part, path in listing if part != args.gather_part]
        listing += gather(args.gather_part, frozenset(path for _, path in listing))
        args.list.write_text("".join(f"{part}\t{path}\n" for part, path in listing))
    listing = [(part, path) for part, path in listing if os.path.isfile(path)]
    started = time.monotonic()
    outcome = measure(listing, args.report)
    kinds = Counter(Path(path).suffix.lower() or "(none)" for _, path in listing)
    print(f"{len(listing)} files of {len(kinds)} kinds read in {time.monotonic() - started:.0f} s")
    parts = tuple(dict.fromkeys(part for part, _ in listing))
    for label, parts in [(part, (part,)) for part in parts] + [("all", parts)]:
        print(f"{label:7s} parsed {_share(outcome, parts, False)}; identical files once {_share(outcome, parts, True)}")
    for path, (part, ok, why, _digest) in outcome.items():
        if not ok:
            print(f"FAILED [{part}] {path}: {why}")


if __name__ == "__main__":
    main()
