"""Archives in a docs folder are folders of documents: every member is a document of its own.

The pipeline's documents (one partition each) are the folder's files with every readable ``.zip``
/ tar archive replaced by its members, keyed by their path through the archive:
``reports/2023.zip/q1/summary.pdf``, and through nested archives ``a.zip/b.tar.gz/c.pdf``. Each
member is extracted, chunked and attributed alone, so a record's source names the member, not
the archive. A member's key is also a path: ``extract_source`` finds where the path runs into a
file on disk and reads the rest inside it, so the assets, ``mbdg extract`` and the fingerprint
check read members the way they read files.

Bounded like every read (limits.py): listing an archive runs under the archive's ``Budget``, so the
entries, the bytes inflated from the whole tree (nested archives have to be inflated to be listed),
the compression ratio, the depth and the time limit hold while listing too. An archive that cannot
be listed (damaged, encrypted, over a budget, or holding no document) stays one document: reading
it reports the error. A nested archive that cannot be listed, or sits deeper than
``max_archive_depth``, stays one member document and reports its own error.

Resumable: members carry their archive's fingerprint (size, mtime), so a changed archive
re-requests its members, and each member whose bytes are unchanged (sha256) is not parsed again
(storage/incremental.py); a member removed from the archive is no longer listed, so its
partition and rows go like a deleted file's. Listings are remembered per archive fingerprint, so
the docs-folder sensor does not inflate unchanged archives at every tick.

An archive attached to a mail stays part of that mail (``formats/archive.py`` reads it as sections).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from itertools import groupby
from pathlib import Path, PurePosixPath
from typing import TypeVar

from mbdg_assets.extract.document import ExtractedDocument
from mbdg_assets.extract.extraction import SUPPORTED_FORMATS, extract_bytes, extract_document, read_checked
from mbdg_assets.extract.folder_scan import FolderScan, Skipped, is_valid_name, scan_folder
from mbdg_assets.extract.formats.archive import BUDGET_CODES, Members, archive_members, clean_name, listed_tar_members
from mbdg_assets.extract.formats.base import ExtractionError
from mbdg_assets.extract.limits import DEFAULT_LIMITS, ExtractionLimits, current_budget, reading
from mbdg_assets.extract.listed_tars import listed_tar, listed_tars
from mbdg_assets.shared.files import file_sha256

ARCHIVE_FORMATS = ("zip", "tar")
_NOT_IN_KEYS = ("...", "\a", "\b", "\f", "\n", "\r", "\t", "\v", "\0")  # Dagster refuses these in partition keys
_LISTINGS: dict[tuple, tuple[list[str] | None, list[str]]] = {}
_LISTINGS_KEPT = 4096
T = TypeVar("T")


def is_archive_name(name: str) -> bool:
    """Whether a name's suffix is a zip or tar archive's (a plain ``.gz`` turns out to be one
    document when listed: ``archive_members`` says so)."""
    return SUPPORTED_FORMATS.get(PurePosixPath(name).suffix.lower()) in ARCHIVE_FORMATS


def _usable(name: str) -> bool:
    return bool(name) and is_valid_name(name) and not any(bad in name for bad in _NOT_IN_KEYS)


def member_keys(path: Path, data: bytes, depth: int, unusable: list[str]) -> list[str] | None:
    """The keys of an archive's documents relative to it, nested archives listed in turn; None
    when the bytes are not an archive. ``depth``: the archives around this one. Member names that
    cannot be keys go to ``unusable``. A nested archive that cannot be listed stays one member,
    unless it broke one of the file's budgets, which fails the listing of the whole file."""
    members = archive_members(path, data)
    if members is None:
        return None
    keys, max_depth = [], current_budget().limits.max_archive_depth
    for raw, read in members:
        name = clean_name(raw)
        if not _usable(name):
            unusable.append(name or raw)
            continue
        inner = None
        if depth + 2 <= max_depth and is_archive_name(name):  # its members would be at depth + 2
            try:
                inner = member_keys(Path(f"{path.as_posix()}/{name}"), read(), depth + 1, unusable)
            except ExtractionError as error:
                if error.code in BUDGET_CODES:
                    raise
        keys += [f"{name}/{key}" for key in inner] if inner else [name]
    current_budget().check_count(f"documents in {path.name}", len(keys), "max_archive_entries")
    return keys


def _listing(file: Path, relative: str, fingerprint: str,
             limits: ExtractionLimits) -> tuple[list[str] | None, list[str]]:
    """(member keys or None, unusable names) of one archive on disk; None when it is not listed
    (it is then one document, and reading it reports why)."""
    remembered = (str(file), fingerprint, limits)
    if fingerprint and remembered in _LISTINGS:
        return _LISTINGS[remembered]
    unusable: list[str] = []
    try:
        with reading(relative, limits):
            keys = member_keys(Path(relative), read_checked(file, limits.max_file_bytes), 0, unusable)
    except ExtractionError:
        keys = None
    if fingerprint:
        if len(_LISTINGS) >= _LISTINGS_KEPT:
            _LISTINGS.clear()
        _LISTINGS[remembered] = (keys, unusable)
    return keys, unusable


def expand_archives(root: Path, scan: FolderScan, limits: ExtractionLimits = DEFAULT_LIMITS) -> FolderScan:
    """``scan`` with every archive that can be listed replaced by its members (each with the
    archive's fingerprint); member names that cannot be keys are reported as skipped."""
    documents: dict[str, str] = {}
    skipped = list(scan.skipped)
    for relative, fingerprint in scan.documents.items():
        keys, unusable = _listing(root / relative, relative, fingerprint, limits) if is_archive_name(relative) else (None, [])
        skipped += [Skipped(Path(relative) / name, "unusable_name", "archive member name with '...' or control "
                            "characters cannot be a document key: not read") for name in unusable]
        if keys:
            documents |= {f"{relative}/{key}": fingerprint for key in keys}
        else:
            documents[relative] = fingerprint
    return FolderScan(dict(sorted(documents.items(), key=lambda item: item[0].split("/"))), skipped)


def scan_sources(docs_dir: Path, follow_symlinks: bool = False, limits: ExtractionLimits = DEFAULT_LIMITS) -> FolderScan:
    """Every document of a docs folder (files, and archive members in place of their archives)
    and every entry left out, with its reason."""
    return expand_archives(Path(docs_dir), scan_folder(docs_dir, follow_symlinks), limits)


def scan_documents(docs_dir: Path, follow_symlinks: bool = False,
                   limits: ExtractionLimits = DEFAULT_LIMITS) -> dict[str, str]:
    """The pipeline's documents, {key: fingerprint}: ``scan_sources``' less file names that are not
    valid UTF-8 (they cannot be partition keys or warehouse strings; ``mbdg extract`` reports them escaped)."""
    scan = scan_sources(docs_dir, follow_symlinks, limits)
    return {name: print_ for name, print_ in scan.documents.items() if is_valid_name(name)}


def split_source(path: Path) -> tuple[Path, str | None]:
    """(the file on disk, the member path inside it) for a path that runs into an archive
    (``docs/a.zip/inner/b.pdf`` -> ``docs/a.zip``, ``inner/b.pdf``); (path, None) for a plain file."""
    for parent in reversed(path.parents):
        if parent != path and parent.is_file():
            return parent, path.relative_to(parent).as_posix()
    return path, None


def member_bytes(path: Path, data: bytes, member: str, depth: int = 0) -> tuple[bytes, int]:
    """(the bytes of ``member`` inside the archive ``data``, the number of archives around it),
    through nested archives."""
    return _member_in(path, archive_members(path, data), member, depth)


def _member_in(path: Path, members: Members | None, member: str, depth: int) -> tuple[bytes, int]:
    """``member_bytes`` from the archive's listed members: an exact name first, else the nested
    archive whose name starts it (read in memory)."""
    if members is None:
        raise ExtractionError("corrupt_file", f"{path.name}: not an archive, so it holds no member {member}")
    for raw, read in members:
        name = clean_name(raw)
        if name == member:
            return read(), depth + 1
        if member.startswith(name + "/") and is_archive_name(name):
            return member_bytes(Path(f"{path.as_posix()}/{name}"), read(), member[len(name) + 1:], depth + 1)
    raise ExtractionError("unreadable", f"{path.name}: holds no member {member} (the archive changed since it was listed?)")


def _read_member(file: Path, member: str, limits: ExtractionLimits) -> tuple[bytes, int]:
    """``member_bytes`` of a member of the archive ``file`` on disk, under the budget open for it:
    found in the archive's list and read with a seek when this block of work listed the tar
    (extract/listed_tars.py), else from the archive's bytes."""
    name, listed = Path(file.name), listed_tar(file, limits)
    if listed is not None:
        return _member_in(name, listed_tar_members(name, listed, member), member, 0)
    return member_bytes(name, read_checked(file, limits.max_file_bytes), member)


def prepare_source(path: Path, limits: ExtractionLimits = DEFAULT_LIMITS) -> None:
    """Before a worker is forked to read ``path``: when it is a member of a tar and a block of work
    keeps listed tars (``listed_tars.listed_tars``), the archive listed (a compressed one inflated)
    here once, so that every worker finds its member with a seek instead of walking the archive."""
    file, member = split_source(Path(path))
    if member is not None:
        listed_tar(file, limits)


def one_archive_at_a_time(paths: Iterable[T]) -> Iterator[T]:
    """``paths`` in order, each run of members of one archive (one after another, as folder scans
    sort them) handed out inside one block of listed tars (``listed_tars.listed_tars``): the
    caller reads them while the block is open, so a tar is listed (inflated) once for all its
    members, and its copy goes after the last of them."""
    def archive(item: T) -> Path | None:
        file, member = split_source(item) if isinstance(item, Path) else (None, None)
        return file if member is not None else None
    for _archive, run in groupby(paths, key=archive):
        with listed_tars():
            yield from run


def extract_source(path: Path, parser: str = "auto", limits: ExtractionLimits | None = None) -> ExtractedDocument:
    """``extract_document`` for a file or an archive member (``docs/a.zip/inner/b.pdf``): the
    member is inflated from its archive and read under one budget with it."""
    path = Path(path)
    file, member = split_source(path)
    if member is None:
        return extract_document(path, parser=parser, limits=limits)
    limits = limits or DEFAULT_LIMITS
    with reading(f"{file.name}/{member}", limits):
        content, depth = _read_member(file, member, limits)
        return extract_bytes(path, content, parser, depth)


def source_sha256(path: Path, limits: ExtractionLimits = DEFAULT_LIMITS) -> str | None:
    """The document id (sha256) of a file or an archive member now, or None when it cannot be
    read (it is then extracted again, and the extraction records the error)."""
    file, member = split_source(Path(path))
    try:
        if member is None:
            return file_sha256(file)
        with reading(f"{file.name}/{member}", limits):
            return hashlib.sha256(_read_member(file, member, limits)[0]).hexdigest()
    except (OSError, ExtractionError):
        return None
