"""Which files in a docs folder are documents, and a cheap fingerprint to notice changes."""

from __future__ import annotations

from pathlib import Path

IGNORED_PREFIXES = (".", "~$", "~")
IGNORED_SUFFIXES = (".tmp", ".part", ".crdownload", ".swp")


def _ignored(relative: Path) -> bool:
    return any(part.startswith(IGNORED_PREFIXES) for part in relative.parts) or relative.name.endswith(IGNORED_SUFFIXES)


def scan_documents(docs_dir: Path) -> dict[str, str]:
    """{path relative to docs_dir (POSIX): "size-mtime_ns"} for every candidate document file.
    Hidden files, editor lock files and partial downloads are skipped; unsupported formats are
    kept on purpose so they get a per-file error instead of being silently ignored."""
    found = {}
    for path in sorted(docs_dir.rglob("*")):
        relative = path.relative_to(docs_dir)
        if path.is_file() and not _ignored(relative):
            stat = path.stat()
            found[relative.as_posix()] = f"{stat.st_size}-{stat.st_mtime_ns}"
    return found
