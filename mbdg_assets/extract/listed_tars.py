"""Tar archives listed once per block of work, so a member is read in time proportional to its own size.

Every member of a ``.tar`` / ``.tar.gz`` / ``.tgz`` / ``.tar.bz2`` / ``.tar.xz`` in a docs folder is a
document of its own (extract/members.py), read in its own forked worker (extract/worker.py). A tar
has no index: reading member i from the archive's bytes parses the i headers before it (and, for a
compressed tar, inflates the stream up to it), so an archive of n members cost O(n²): a 400-member
tar.gz took 84.5 s in ``mbdg run`` against 68.5 s for the same files as a folder; in-process, the
headers cost more than the inflating (bench/bench_tar_members.py).

Inside ``listed_tars()`` (around a group of documents in defs/extract.py, around each archive's
members in ``mbdg extract``) the first member read from a tar, or ``prepare_source`` before the
workers are forked, lists the archive once (``archive.list_tar``): a compressed tar is first
inflated, streaming, to a plain tar in a temporary folder, under the archive's own ``Budget`` (the
same accounting as reading its members); a plain tar is listed in place. Its members are then found
in that list and read with a seek, in the parent (fingerprint checks) and in the forked workers,
which inherit the map. Reading a member this way keeps the walk, matching and budgets of reading it
from the archive's bytes (``archive.listed_tar_members``, ``members._member_in``).

Keyed by the archive's identity (path, size, mtime_ns): a changed archive misses and is read as
before. An archive that cannot be listed under its budget (or is no tar: a zip, a single gzipped
file) is remembered as such and its members are read as before, which reports their errors as
before. Only the process that opened the block lists archives (a worker never does); the inflated
copies go when the block ends.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mbdg_assets.extract.errors import ExtractionError
from mbdg_assets.extract.formats.archive import ListedTar, list_tar
from mbdg_assets.extract.limits import ExtractionLimits, reading

Identity = tuple[str, int, int]  # (path, size, mtime_ns) of an archive on disk
_LISTED: dict[Identity, ListedTar | None] = {}  # None: tried, could not be listed: read the archive's bytes
_BLOCK: dict[str, object] = {}  # {"folder": Path | None, "pid": int} while a block of work keeps lists
_LOCK = threading.Lock()


@contextmanager
def listed_tars() -> Iterator[None]:
    """A block of work whose member reads may list their tars once (``listed_tar``); the lists and
    inflated copies go when it ends. A block inside a block is the outer one. The temporary folder
    is made with the first inflated copy: a block without a compressed tar costs nothing."""
    if _BLOCK:
        yield
        return
    _BLOCK.update(folder=None, pid=os.getpid())
    try:
        yield
    finally:
        with _LOCK:
            folder = _BLOCK.get("folder")
            _BLOCK.clear()
            _LISTED.clear()
        if isinstance(folder, Path):
            shutil.rmtree(folder, ignore_errors=True)


def _identity(file: Path) -> Identity | None:
    try:
        info = file.stat()
    except OSError:
        return None
    return str(file), info.st_size, info.st_mtime_ns


def _list(file: Path, identity: Identity, limits: ExtractionLimits) -> ListedTar | None:
    """The archive listed under its own budget (inflated into the block's folder when compressed);
    None when it is no tar, is over ``max_file_bytes``, changed meanwhile or breaks a budget
    (its members are then read as before)."""
    if identity[1] > limits.max_file_bytes:
        return None
    if _BLOCK["folder"] is None:
        _BLOCK["folder"] = Path(tempfile.mkdtemp(prefix="mbdg-tars-"))
    target = Path(str(_BLOCK["folder"])) / f"{len(_LISTED)}.tar"
    try:
        with reading(file.name, limits):
            listed = list_tar(Path(file.name), file, target)
        if listed is not None and listed.stored == identity[1]:
            return listed
    except (OSError, ExtractionError):
        pass
    target.unlink(missing_ok=True)
    return None


def listed_tar(file: Path, limits: ExtractionLimits) -> ListedTar | None:
    """The listed tar ``file`` on disk, listed now when a block is open in this process and it was
    not tried yet; None: read the archive's bytes (no block, no tar, changed since, over a budget)."""
    if not _BLOCK:
        return None
    identity = _identity(file)
    if identity is None:
        return None
    if identity not in _LISTED and _BLOCK.get("pid") == os.getpid():  # a forked worker only looks
        with _LOCK:
            if identity not in _LISTED and _BLOCK:
                _LISTED[identity] = _list(file, identity, limits)
    listed = _LISTED.get(identity)
    usable = listed is not None and listed.stored <= limits.max_file_bytes and listed.path.is_file()
    return listed if usable else None
