"""Compressed tars inflated once per block of work, so a member is read in time proportional to its own size.

Every member of a ``.tar.gz`` / ``.tgz`` / ``.tar.bz2`` / ``.tar.xz`` in a docs folder is a document
of its own (extract/members.py), read in its own forked worker (extract/worker.py). A compressed
tar has no index: reading member i from the archive's bytes inflates the stream from its start up
to it, so an archive of n members cost O(n²) inflation (a 400-member tar.gz: 84.5 s in ``mbdg run``
against 68.5 s for the same files as a folder). Plain tars and zips need nothing: tarfile seeks
over the data of a plain tar, a zip has a central directory.

Inside ``inflated_tars()`` (around a group of documents in defs/extract.py, around each archive's
members in ``mbdg extract``) the first member read from a compressed tar, or ``prepare_source``
before the workers are forked, inflates the archive once, streaming, to a plain tar in a temporary
folder, under the archive's own ``Budget`` (``archive.inflate_tar``: the same accounting as reading
its members). Its members are then read from that copy with seeks, in the parent (fingerprint
checks) and in the forked workers, which inherit the map. Reading a member from the copy keeps the
walk and budgets of reading it from the archive (``archive.inflated_tar_members``).

Keyed by the archive's identity (path, size, mtime_ns): a changed archive misses and is read as
before. An archive that cannot be inflated under its budget (or is no tar) is remembered as such
and its members are read as before, which reports their errors as before. Only the process that
opened the block makes copies (a worker never does); the copies go when the block ends.
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
from mbdg_assets.extract.formats.archive import InflatedTar, inflate_tar
from mbdg_assets.extract.limits import ExtractionLimits, reading


Identity = tuple[str, int, int]  # (path, size, mtime_ns) of an archive on disk
_COPIES: dict[Identity, InflatedTar | None] = {}  # None: tried, could not be inflated: read the archive
_BLOCK: dict[str, object] = {}  # {"folder": Path | None, "pid": int} while a block of work keeps copies
_LOCK = threading.Lock()


@contextmanager
def inflated_tars() -> Iterator[None]:
    """A block of work whose member reads may inflate their compressed tars once (``inflated_copy``);
    the copies are removed when it ends. A block inside a block is the outer one. The temporary
    folder is made with the first copy: a block without a compressed tar costs nothing."""
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
            _COPIES.clear()
        if isinstance(folder, Path):
            shutil.rmtree(folder, ignore_errors=True)


def _identity(file: Path) -> Identity | None:
    try:
        info = file.stat()
    except OSError:
        return None
    return str(file), info.st_size, info.st_mtime_ns


def _inflate(file: Path, identity: Identity, limits: ExtractionLimits) -> InflatedTar | None:
    """The archive inflated under its own budget into the block's folder; None when it is not a
    compressed tar, is over ``max_file_bytes`` or breaks a budget while inflating (its members are
    then read as before)."""
    if identity[1] > limits.max_file_bytes:
        return None
    if _BLOCK["folder"] is None:
        _BLOCK["folder"] = Path(tempfile.mkdtemp(prefix="mbdg-tars-"))
    target = Path(str(_BLOCK["folder"])) / f"{len(_COPIES)}.tar"
    try:
        with reading(file.name, limits):
            copy = inflate_tar(Path(file.name), file, target)
        if copy is not None and copy.stored == identity[1]:  # not changed meanwhile
            return copy
    except (OSError, ExtractionError):
        pass
    target.unlink(missing_ok=True)
    return None


def inflated_copy(file: Path, limits: ExtractionLimits) -> InflatedTar | None:
    """The inflated copy of the compressed tar ``file`` on disk, made now when a block is open in
    this process and none was tried; None: read the archive itself (no block, not a compressed
    tar, changed since, or over a budget)."""
    if not _BLOCK:
        return None
    identity = _identity(file)
    if identity is None:
        return None
    if identity not in _COPIES and _BLOCK.get("pid") == os.getpid():  # a forked worker only looks
        with _LOCK:
            if identity not in _COPIES and _BLOCK:
                _COPIES[identity] = _inflate(file, identity, limits)
    copy = _COPIES.get(identity)
    usable = copy is not None and copy.stored <= limits.max_file_bytes and copy.path.is_file()
    return copy if usable else None
