"""Which files in a docs folder are documents, and a cheap fingerprint to notice changes.

Only regular files are documents. Symbolic links that lead out of the folder are not followed
unless the user allows it (``follow_symlinks``): ``docs/passwd.txt -> /etc/passwd`` must not end
up in chunks, prompts and the dataset. FIFOs, devices and sockets are skipped (reading a FIFO
blocks forever). Every entry left out for such a reason is reported, never silently dropped.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

IGNORED_PREFIXES = (".", "~$", "~")
IGNORED_SUFFIXES = (".tmp", ".part", ".crdownload", ".swp")


@dataclass(frozen=True)
class Skipped:
    """A folder entry that is not read, with a code and a reason for the report."""

    path: Path
    code: str  # symlink_outside, symlink_folder, broken_symlink, special_file, unreadable
    reason: str


@dataclass
class FolderScan:
    """{path relative to the folder (POSIX): "size-mtime_ns"} for documents, and what was left out."""

    documents: dict[str, str] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)


def display_name(name: str | os.PathLike) -> str:
    """A path as text that can always be printed, written as UTF-8 and stored: bytes of a file
    name that are not valid UTF-8 (which Python keeps as surrogate escapes) become ``\\xNN``."""
    return os.fspath(name).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def is_valid_name(name: str) -> bool:
    """Whether a file name decodes as UTF-8 (no surrogate escapes)."""
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def special_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    kinds = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))
    return next((what for test, what in kinds if test(mode)), "not a regular file")


def _ignored(relative: Path) -> bool:
    return any(part.startswith(IGNORED_PREFIXES) for part in relative.parts) or relative.name.endswith(IGNORED_SUFFIXES)


def _inside(root: str, target: str) -> bool:
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)


class _Walk:
    """One scan: a stack of folders, with the (device, inode) of every folder entered so a
    followed link cannot loop."""

    def __init__(self, docs_dir: Path, follow_symlinks: bool) -> None:
        self.root = os.path.realpath(docs_dir)
        self.follow = follow_symlinks
        self.scan = FolderScan()
        self.seen: set[tuple[int, int]] = set()

    def skip(self, relative: Path, code: str, reason: str) -> None:
        self.scan.skipped.append(Skipped(relative, code, reason))

    def folder(self, path: str, relative: Path) -> None:
        try:
            info = os.stat(path)
            if (info.st_dev, info.st_ino) in self.seen:
                return self.skip(relative, "symlink_folder", "link back to a folder already read (a loop): not followed")
            self.seen.add((info.st_dev, info.st_ino))
            with os.scandir(path) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:  # no permission, vanished meanwhile: this folder only
            return self.skip(relative, "unreadable", f"folder cannot be listed ({exc.strerror})")
        for entry in entries:
            child = relative / entry.name
            if not _ignored(child):
                try:
                    self.entry(entry, child)
                except OSError as exc:
                    self.skip(child, "unreadable", f"cannot be read ({exc.strerror})")

    def entry(self, entry: os.DirEntry, relative: Path) -> None:
        if entry.is_symlink():
            return self.link(entry, relative)
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            self.folder(entry.path, relative)
        elif stat.S_ISREG(info.st_mode):
            self.scan.documents[relative.as_posix()] = f"{info.st_size}-{info.st_mtime_ns}"
        else:
            self.skip(relative, "special_file", f"{special_kind(info.st_mode)}: only regular files are read")

    def link(self, entry: os.DirEntry, relative: Path) -> None:
        target = os.path.realpath(entry.path)
        try:
            info = os.stat(entry.path)
        except OSError as exc:
            return self.skip(relative, "broken_symlink", f"link to {display_name(target)} cannot be followed ({exc.strerror})")
        if not _inside(self.root, target) and not self.follow:
            return self.skip(relative, "symlink_outside", f"link to {display_name(target)} leaves the docs folder: "
                             "not followed (allow it with --follow-symlinks)")
        if stat.S_ISDIR(info.st_mode):
            if not self.follow:
                return self.skip(relative, "symlink_folder", "link to a folder: not followed (--follow-symlinks)")
            self.folder(entry.path, relative)
        elif stat.S_ISREG(info.st_mode):
            self.scan.documents[relative.as_posix()] = f"{info.st_size}-{info.st_mtime_ns}"
        else:
            self.skip(relative, "special_file", f"link to {special_kind(info.st_mode)}: only regular files are read")


def scan_folder(docs_dir: Path, follow_symlinks: bool = False) -> FolderScan:
    """Every candidate document under ``docs_dir`` and every entry left out, with its reason.
    Hidden files, editor lock files and partial downloads are ignored without a report;
    unsupported formats are kept on purpose so they get a per-file error instead of being
    silently ignored."""
    walk = _Walk(Path(docs_dir), follow_symlinks)
    if not os.path.isdir(walk.root):
        return walk.scan
    walk.folder(walk.root, Path())
    walk.scan.documents = dict(sorted(walk.scan.documents.items(), key=lambda item: item[0].split("/")))
    return walk.scan

