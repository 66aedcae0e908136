"""Archives (.zip, .tar, .tar.gz / .tgz, .tar.bz2, .tar.xz, single-file .gz): their members.

In a docs folder an archive is a folder of documents: ``extract/members.py`` lists its members
(``archive_members``) and each becomes a document of its own, ``archive.zip/inner/path.pdf``.
Read as one document (an archive attached to a mail, or ``extract_document`` on the archive
itself), every member is laid out below a level-1 heading naming it the same way, so each chunk's
heading path says which member it came from; a member that cannot be read becomes a one-line note
under its heading, never a failure of the whole archive. Archives inside archives are read
recursively up to ``max_archive_depth``.

Hostile archives are bounded by the file's ``Budget`` (limits.py), one for the whole tree of
archives inside archives: member count (``max_archive_entries`` per archive), bytes inflated from
the file and every container in it together (``max_decompressed_bytes``, ``Budget.inflate``:
declared sizes for a zip, bytes as read for tar and gzip) and the ratio of a member's inflated to
its stored size (``max_compression_ratio``). Over a limit the whole file fails with ``too_large``
/ ``too_many_parts``. No member is ever written to disk, so member names like ``../../etc`` are
only text; the one file written is a compressed tar's inflated copy (``list_tar``, a temporary file
named by mbdg, for extract/listed_tars.py), under the same budgets.

The parse function for members is passed in (``extraction.parse_bytes``), so this module never
imports the dispatcher: no import cycle.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from mbdg_assets.extract.limits import current_budget

from .base import Drafts, ExtractionError, Parsed, open_zip, text_encoding

ParseFn = Callable[[Path, bytes, int], Parsed]  # (member path, member bytes, depth) -> Parsed
Members = Iterator[tuple[str, Callable[[], bytes]]]  # (member name, read its bytes: ExtractionError if it cannot)
_SKIPPED = ("__MACOSX/", ".DS_Store", "Thumbs.db", "desktop.ini")
_GZIP_MAGIC = b"\x1f\x8b"
_TAR_MAGIC = (_GZIP_MAGIC, b"BZh", b"\xfd7zXZ\x00")
BUDGET_CODES = ("too_large", "too_many_parts", "timeout")  # over one of the file's budgets: the whole file fails
_READ_ERRORS = (OSError, EOFError, zlib.error, NotImplementedError, RuntimeError, tarfile.TarError)


def clean_name(name: str) -> str:
    """A member name as a key: '/'-separated, without empty or '.' parts ('./docs//a.txt' -> 'docs/a.txt').
    '..' stays: the key is only text, nothing is written to disk."""
    return "/".join(part for part in name.replace("\\", "/").split("/") if part not in ("", "."))


def _skipped(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return not parts or any(p.startswith(".") or p in _SKIPPED or p + "/" in _SKIPPED for p in parts)


def _ratio(path: Path, name: str, stored: int, size: int) -> None:
    ratio = current_budget().limits.max_compression_ratio
    if size > max(stored, 1) * ratio and size > 1 << 20:
        raise ExtractionError("too_large", f"{path.name}: member {name} inflates {size / max(stored, 1):,.0f}x "
                              f"(limit {ratio:,.0f}x, max_compression_ratio): a zip bomb?")


def _reader(path: Path, name: str, read: Callable[[], bytes]) -> Callable[[], bytes]:
    """``read`` with a damaged member's library error turned into ``corrupt_file`` for that member."""
    def run() -> bytes:
        try:
            return read()
        except _READ_ERRORS as exc:
            raise ExtractionError("corrupt_file", f"{path.name}: member {name} cannot be inflated "
                                  f"({type(exc).__name__}: {exc})") from exc
    return run


def zip_members(path: Path, data: bytes) -> Members:
    """The document members of a zip, each with a function that inflates it. The declared sizes
    are counted against the file's budget when the zip is opened (``check_zip_budget``), and a
    member is never read past its declared size, so a lying header fails as ``corrupt_file``."""
    archive = open_zip(path, data, "zip archive")
    with archive:
        for info in archive.infolist():
            if info.is_dir() or _skipped(info.filename):
                continue
            _ratio(path, info.filename, info.compress_size, info.file_size)

            def read(info: zipfile.ZipInfo = info) -> bytes:
                with archive.open(info) as member:
                    content = member.read(info.file_size + 1)
                if len(content) > info.file_size:
                    raise ExtractionError("corrupt_file", f"{path.name}: member {info.filename} is larger than its "
                                          "header says")
                return content
            yield info.filename, _reader(path, info.filename, read)


@dataclass(frozen=True)
class ListedTar:
    """A tar as a plain tar on disk (itself, or a compressed one inflated), its entries listed once (``list_tar``)."""
    path: Path                             # the plain tar
    stored: int                            # the archive's size as stored: ratio and budget stay the archive's
    entries: tuple[tarfile.TarInfo, ...]   # every header, in order (offsets into ``path``)
    index: dict[str, tuple[int, ...]]      # clean_name -> positions in entries


def tar_members(path: Path, data: bytes) -> Members:
    """The file members of a tar (plain or compressed) held in memory."""
    return _tar_walk(path, lambda: tarfile.open(fileobj=io.BytesIO(data), mode="r:*"), len(data))


def listed_tar_members(path: Path, copy: ListedTar, member: str) -> Members:
    """The file members of a listed tar that can hold ``member`` (a clean name: those named
    ``member`` or one of its folders, where a nested archive holding it would be), read from the
    plain tar on disk: the same walk and budgets as ``tar_members`` (each entry counted at its
    position), over the entries listed when it was inflated, each member's data read with a seek.
    No header is parsed, nothing is inflated again and no other entry is visited."""
    parts = member.split("/")
    names = ("/".join(parts[:end]) for end in range(1, len(parts) + 1))
    positions = sorted(position for name in names for position in copy.index.get(name, ()))
    return _tar_walk(path, lambda: tarfile.open(copy.path, mode="r:"), copy.stored,
                     ((position + 1, copy.entries[position]) for position in positions))


def _tar_walk(path: Path, open_tar: Callable[[], tarfile.TarFile], stored: int,
              entries: Iterable[tuple[int, tarfile.TarInfo]] | None = None) -> Members:
    """The members of the tar ``open_tar`` opens: the (position from 1, header) ``entries`` when
    they are known, else every header as it is read. Bytes are counted as read against the file's
    budget, and the stream position against the compression ratio (to ``stored``, the size of the
    file as compressed), so walking past a bomb stops too."""
    budget, container, read_so_far = current_budget(), (path.as_posix(), stored), [0]
    try:
        archive = open_tar()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        code = "truncated" if isinstance(exc, EOFError) or "unexpected end" in str(exc).lower() else "corrupt_file"
        raise ExtractionError(code, f"{path.name}: not a readable tar archive ({exc})") from exc
    with archive:
        try:
            for count, info in enumerate(archive, 1) if entries is None else entries:
                budget.check_count(f"members of {path.name}", count, "max_archive_entries")
                _ratio(path, info.name, stored, info.offset_data + info.size)
                if not info.isfile() or _skipped(info.name):
                    continue

                def read(info: tarfile.TarInfo = info) -> bytes:
                    read_so_far[0] += info.size
                    budget.inflate(container, read_so_far[0], "tar archive")
                    handle = archive.extractfile(info)
                    return handle.read(info.size) if handle is not None else b""
                yield info.name, _reader(path, info.name, read)
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise ExtractionError("truncated", f"{path.name}: tar archive is cut off or damaged ({exc})") from exc


def _inflated_slices(path: Path, stream: BinaryIO, stored: int, label: str) -> Iterator[bytes]:
    """A compressed stream inflated in 1 MiB slices, each counted against the file's budget (bytes
    inflated, ratio to the ``stored`` size, time) before it is handed on, so a bomb stops at the budget."""
    budget, container, used = current_budget(), (path.as_posix(), stored), 0
    while chunk := stream.read(1 << 20):
        used += len(chunk)
        budget.inflate(container, used, label)
        _ratio(path, path.stem, stored, used)
        budget.check_time()
        yield chunk


def _gunzip(path: Path, data: bytes) -> bytes:
    """A single gzipped file, inflated in slices so a bomb stops at the budget."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            return b"".join(_inflated_slices(path, stream, len(data), "gzip file"))
    except EOFError as exc:
        raise ExtractionError("truncated", f"{path.name}: gzip file is cut off ({exc})") from exc
    except (OSError, zlib.error) as exc:
        raise ExtractionError("corrupt_file", f"{path.name}: not a readable gzip file ({exc})") from exc


_DECOMPRESSORS: tuple[Callable[[BinaryIO], BinaryIO], ...] = (  # in the order of _TAR_MAGIC's compressed streams
    lambda raw: gzip.GzipFile(fileobj=raw), bz2.BZ2File, lzma.LZMAFile)


def list_tar(path: Path, source: Path, target: Path) -> ListedTar | None:
    """The tar ``source`` (``path`` names it in messages) as a plain tar on disk with its entries
    listed once (at most ``max_archive_entries``), so each member can be found and read with a seek:
    a plain tar in place, a compressed one (gzip, bzip2 or xz) first inflated, streaming, into
    ``target`` under the file's budget (``_inflated_slices``: the same accounting as reading its
    members). None when ``source`` is no tar (a single gzipped file, a tar without the POSIX magic);
    ExtractionError when it breaks a budget or cannot be read. Unless a copy in ``target`` is
    returned, ``target`` is no copy and its caller removes it."""
    with source.open("rb") as raw:
        head, stored = raw.read(512), os.fstat(raw.fileno()).st_size
        if head[257:262] == b"ustar":
            return _listed(path, source, stored)
        opener = next((open_ for magic, open_ in zip(_TAR_MAGIC, _DECOMPRESSORS) if head.startswith(magic)), None)
        if opener is None:
            return None
        raw.seek(0)
        try:
            with opener(raw) as stream, target.open("wb") as out:
                slices = _inflated_slices(path, stream, stored, "tar archive")
                first = next(slices, b"")
                if first[257:262] != b"ustar":
                    return None
                out.write(first)
                for chunk in slices:
                    out.write(chunk)
        except (EOFError, OSError, zlib.error, lzma.LZMAError) as exc:
            raise ExtractionError("corrupt_file", f"{path.name}: compressed tar cannot be inflated ({exc})") from exc
    return _listed(path, target, stored)


def _listed(path: Path, tar: Path, stored: int) -> ListedTar:
    """The plain tar ``tar`` with its entries listed, each entry counted against the file's budget."""
    entries: list[tarfile.TarInfo] = []
    index: dict[str, list[int]] = {}
    try:
        with tarfile.open(tar, mode="r:") as archive:
            for info in archive:
                index.setdefault(clean_name(info.name), []).append(len(entries))
                entries.append(info)
                current_budget().check_count(f"members of {path.name}", len(entries), "max_archive_entries")
    except (EOFError, OSError, tarfile.TarError) as exc:
        raise ExtractionError("truncated", f"{path.name}: tar archive is cut off or damaged ({exc})") from exc
    return ListedTar(tar, stored, tuple(entries), {name: tuple(found) for name, found in index.items()})


def archive_members(path: Path, data: bytes) -> Members | None:
    """The members of a zip or tar archive, or None for what is not one (a single gzipped file
    such as ``notes.txt.gz`` is one document, not an archive)."""
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return zip_members(path, data)
    tar_like = data.startswith(_TAR_MAGIC) or data[257:262] == b"ustar"
    if not tar_like or (data.startswith(_GZIP_MAGIC) and not _is_tar(path, data)):
        return None
    return tar_members(path, data)


def _member(drafts: Drafts, title: str, read: Callable[[], bytes], depth: int, parse: ParseFn) -> bool:
    """One member below its heading; True when it was read. A member that cannot be read is a
    note; one over the file's budgets fails the whole file (the budgets are the file's)."""
    drafts.heading(f"# {title}", title, 1)
    max_depth = current_budget().limits.max_archive_depth
    if depth + 1 > max_depth:
        drafts.add("paragraph", f"(not read: nested deeper than {max_depth} levels)")
        return False
    try:
        drafts.nest(parse(Path(title), read(), depth + 1), 1)
    except ExtractionError as error:
        if error.code in BUDGET_CODES:
            raise
        drafts.add("paragraph", f"(not read: {error.code}: {error.message})")
        return False
    return True


def _read_members(path: Path, members: Members, depth: int, parse: ParseFn) -> Parsed:
    drafts, read, seen = Drafts(), 0, 0
    prefix = path.name if depth == 0 else path.as_posix()  # members of a member: outer.zip/inner.zip/...
    for name, content in members:
        seen += 1
        read += _member(drafts, f"{prefix}/{name.lstrip('/')}", content, depth, parse)
    if not read:
        what = f"none of its {seen} members could be read" if seen else "it holds no documents"
        raise ExtractionError("no_text", f"{path.name}: archive, but {what}"
                              + ("" if not drafts.items else f" ({drafts.items[-1].text.strip('()')})"))
    return Parsed(drafts.items)


def extract_zip(path: Path, data: bytes, depth: int, parse: ParseFn) -> Parsed:
    """A .zip archive read as one document: every document member below an
    ``archive.zip/inner/path`` heading (an archive attached to a mail; in a docs folder the
    members are documents of their own, ``extract/members.py``)."""
    return _read_members(path, zip_members(path, data), depth, parse)


def extract_tar(path: Path, data: bytes, depth: int, parse: ParseFn) -> Parsed:
    """A tar archive, plain or compressed (.tar.gz / .tgz / .tar.bz2 / .tar.xz); a .gz that is
    not a tar is one gzipped file, read as the file its name says (``notes.txt.gz`` -> text)."""
    if data.startswith(_GZIP_MAGIC) and not _is_tar(path, data):
        inner = _gunzip(path, data)
        return _read_members(path, iter([(path.stem, lambda: inner)]), depth, _text_when_unknown(parse))
    return _read_members(path, tar_members(path, data), depth, parse)


def _text_when_unknown(parse: ParseFn) -> ParseFn:
    """``parse``, reading bytes that are text as plain text when their name has no known suffix:
    what is gzipped alone is mostly text named without one (``changelog.Debian.gz``, ``NEWS.gz``)."""
    def run(path: Path, data: bytes, depth: int) -> Parsed:
        try:
            return parse(path, data, depth)
        except ExtractionError as error:
            if error.code != "unsupported_format" or (b"\x00" in data[:8192] and text_encoding(data) is None):
                raise
            return parse(path.with_name(f"{path.name}.txt"), data, depth)
    return run


def _is_tar(path: Path, data: bytes) -> bool:
    """Whether a gzip stream holds a tar: its first inflated block carries 'ustar' at 257."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            head = stream.read(512)
    except (OSError, EOFError, zlib.error):
        return path.name.lower().endswith((".tar.gz", ".tgz"))
    return head[257:262] == b"ustar" or path.name.lower().endswith((".tar.gz", ".tgz"))


def check_tar_magic(path: Path, head: bytes) -> None:
    """gzip / bzip2 / xz streams, or a plain tar ('ustar' at offset 257)."""
    if head.startswith(_TAR_MAGIC) or head[257:262] == b"ustar":
        return
    raise ExtractionError("corrupt_file", f"{path.name}: named {path.suffix} but is not a tar or gzip archive")


def check_zip_magic(path: Path, head: bytes) -> None:
    if not head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        raise ExtractionError("corrupt_file", f"{path.name}: named .zip but is not a zip archive")
