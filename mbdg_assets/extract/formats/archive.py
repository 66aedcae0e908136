"""Archives (.zip, .tar, .tar.gz / .tgz, .tar.bz2, .tar.xz, single-file .gz) read as folders of documents.

Every member that is a document is extracted with the same extractors as a file on disk and laid
out below a level-1 heading naming it as ``archive.zip/inner/path.pdf``, so each chunk's heading
path says which member it came from. A member that cannot be read becomes a one-line note under its
heading (like a mail attachment), never a failure of the whole archive. Archives inside archives are
read recursively up to ``max_archive_depth``.

Hostile archives are bounded by the shared ``ExtractionLimits``: member count
(``max_archive_entries``), bytes inflated from one archive (``max_decompressed_bytes``, counted as
read, so a header that lies about sizes does not help) and the ratio of a member's inflated to its
stored size (``max_compression_ratio``). Over a limit the archive fails with ``too_large`` /
``too_many_parts``; nothing is ever written to disk, so member names like ``../../etc`` are only text.

The parse function for members is passed in (``extraction.parse_bytes``), so this module never
imports the dispatcher: no import cycle.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from mbdg_assets.extract.limits import ExtractionLimits, current_budget

from .base import Drafts, ExtractionError, Parsed, open_zip

ParseFn = Callable[[Path, bytes, int], Parsed]  # (member path, member bytes, depth) -> Parsed
_SKIPPED = ("__MACOSX/", ".DS_Store", "Thumbs.db", "desktop.ini")
_GZIP_MAGIC = b"\x1f\x8b"


class _Budget:
    """Bytes inflated so far from one archive, against ``max_decompressed_bytes``."""

    def __init__(self, path: Path, limits: ExtractionLimits) -> None:
        self.path, self.limits, self.used = path, limits, 0

    def take(self, size: int) -> int:
        """Reserve ``size`` bytes; the most one read may return without passing the budget."""
        if self.used + size > self.limits.max_decompressed_bytes:
            raise ExtractionError("too_large", f"{self.path.name}: archive inflates past the limit of "
                                  f"{self.limits.max_decompressed_bytes:,} bytes")
        self.used += size
        return size


def _skipped(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return not parts or any(p.startswith(".") or p in _SKIPPED or p + "/" in _SKIPPED for p in parts)


def _count(path: Path, count: int, limits: ExtractionLimits) -> None:
    if count > limits.max_archive_entries:
        raise ExtractionError("too_many_parts", f"{path.name}: {count:,} archive members, over the limit of "
                              f"{limits.max_archive_entries:,}")


def _ratio(path: Path, name: str, stored: int, size: int, limits: ExtractionLimits) -> None:
    if size > max(stored, 1) * limits.max_compression_ratio and size > 1 << 20:
        raise ExtractionError("too_large", f"{path.name}: member {name} inflates {size / max(stored, 1):,.0f}x "
                              f"(limit {limits.max_compression_ratio:,.0f}x): a zip bomb?")


_Members = Iterator[tuple[str, bytes | Exception]]  # (member name, its bytes or why they could not be read)


def _zip_members(path: Path, data: bytes, limits: ExtractionLimits) -> _Members:
    archive = open_zip(path, data, "zip archive")
    budget = _Budget(path, limits)
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir() and not _skipped(i.filename)]
        _count(path, len(infos), limits)
        for info in infos:
            _ratio(path, info.filename, info.compress_size, info.file_size, limits)
            try:
                with archive.open(info) as member:
                    content = member.read(budget.take(info.file_size) + 1)
            except (OSError, EOFError, zlib.error, NotImplementedError, RuntimeError) as exc:
                yield info.filename, exc  # reported under the member's heading
                continue
            if len(content) > info.file_size:  # the header lied about the size
                raise ExtractionError("corrupt_file", f"{path.name}: member {info.filename} is larger than its header says")
            yield info.filename, content


def _tar_members(path: Path, data: bytes, limits: ExtractionLimits) -> _Members:
    budget = _Budget(path, limits)
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        code = "truncated" if isinstance(exc, EOFError) or "unexpected end" in str(exc).lower() else "corrupt_file"
        raise ExtractionError(code, f"{path.name}: not a readable tar archive ({exc})") from exc
    with archive:
        count = 0
        try:
            for info in archive:
                count += 1
                _count(path, count, limits)
                if not info.isfile() or _skipped(info.name):
                    continue
                _ratio(path, info.name, len(data), budget.used + info.size, limits)
                handle = archive.extractfile(info)
                content = handle.read(budget.take(info.size)) if handle is not None else b""
                yield info.name, content
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise ExtractionError("truncated", f"{path.name}: tar archive is cut off or damaged ({exc})") from exc


def _gunzip(path: Path, data: bytes, limits: ExtractionLimits) -> bytes:
    """A single gzipped file, inflated in slices so a bomb stops at the budget."""
    budget, out = _Budget(path, limits), []
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            while chunk := stream.read(1 << 20):
                budget.take(len(chunk))
                _ratio(path, path.stem, len(data), budget.used, limits)
                out.append(chunk)
    except EOFError as exc:
        raise ExtractionError("truncated", f"{path.name}: gzip file is cut off ({exc})") from exc
    except (OSError, zlib.error) as exc:
        raise ExtractionError("corrupt_file", f"{path.name}: not a readable gzip file ({exc})") from exc
    return b"".join(out)


def _member(drafts: Drafts, title: str, content: bytes | Exception, depth: int, parse: ParseFn,
            limits: ExtractionLimits) -> bool:
    """One member below its heading; True when it was read."""
    drafts.heading(f"# {title}", title, 1)
    if isinstance(content, Exception):
        drafts.add("paragraph", f"(not read: corrupt_file: {type(content).__name__}: {content})")
        return False
    if depth + 1 > limits.max_archive_depth:
        drafts.add("paragraph", f"(not read: nested deeper than {limits.max_archive_depth} levels)")
        return False
    try:
        parsed = parse(Path(title), content, depth + 1)
    except ExtractionError as error:
        drafts.add("paragraph", f"(not read: {error.code}: {error.message})")
        return False
    drafts.nest(parsed, 1)
    return True


def _read_members(path: Path, members: _Members, depth: int, parse: ParseFn,
                  limits: ExtractionLimits) -> Parsed:
    drafts, read, seen = Drafts(), 0, 0
    prefix = path.name if depth == 0 else path.as_posix()  # members of a member: outer.zip/inner.zip/...
    for name, content in members:
        seen += 1
        read += _member(drafts, f"{prefix}/{name.lstrip('/')}", content, depth, parse, limits)
    if not read:
        what = f"none of its {seen} members could be read" if seen else "it holds no documents"
        raise ExtractionError("no_text", f"{path.name}: archive, but {what}"
                              + ("" if not drafts.items else f" ({drafts.items[-1].text.strip('()')})"))
    return Parsed(drafts.items)


def extract_zip(path: Path, data: bytes, depth: int, parse: ParseFn, limits: ExtractionLimits | None = None) -> Parsed:
    """A .zip archive: every document member below an ``archive.zip/inner/path`` heading.
    ``limits``: the budgets of the file being read (``current_budget``) unless given."""
    limits = limits or current_budget().limits
    return _read_members(path, _zip_members(path, data, limits), depth, parse, limits)


def extract_tar(path: Path, data: bytes, depth: int, parse: ParseFn, limits: ExtractionLimits | None = None) -> Parsed:
    """A tar archive, plain or compressed (.tar.gz / .tgz / .tar.bz2 / .tar.xz); a .gz that is
    not a tar is one gzipped file, read as the file its name says (``notes.txt.gz`` -> text)."""
    limits = limits or current_budget().limits
    if data.startswith(_GZIP_MAGIC) and not _is_tar(path, data, limits):
        inner = _gunzip(path, data, limits)
        return _read_members(path, iter([(path.stem, inner)]), depth, parse, limits)
    return _read_members(path, _tar_members(path, data, limits), depth, parse, limits)


def _is_tar(path: Path, data: bytes, limits: ExtractionLimits) -> bool:
    """Whether a gzip stream holds a tar: its first inflated block carries 'ustar' at 257."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            head = stream.read(512)
    except (OSError, EOFError, zlib.error):
        return path.name.lower().endswith((".tar.gz", ".tgz"))
    return head[257:262] == b"ustar" or path.name.lower().endswith((".tar.gz", ".tgz"))


_TAR_MAGIC = (_GZIP_MAGIC, b"BZh", b"\xfd7zXZ\x00")


def check_tar_magic(path: Path, head: bytes) -> None:
    """gzip / bzip2 / xz streams, or a plain tar ('ustar' at offset 257)."""
    if head.startswith(_TAR_MAGIC) or head[257:262] == b"ustar":
        return
    raise ExtractionError("corrupt_file", f"{path.name}: named {path.suffix} but is not a tar or gzip archive")


def check_zip_magic(path: Path, head: bytes) -> None:
    if not head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        raise ExtractionError("corrupt_file", f"{path.name}: named .zip but is not a zip archive")
