"""The signed run manifest: what went in, how it was made, what came out, and proof that none of
it changed afterwards. `verify_out_dir` lists every problem it finds, most fundamental first."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from mbdg_assets.manifest.signing import ALGORITHM, SigningKey, sign, signature_matches

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1


# Bounds for reading what a manifest lists (a verify must not cost more than the files are worth).
MAX_MANIFEST_BYTES = 64 << 20       # a manifest.json beyond this is refused (`mbdg verify --max-manifest-mb`)
MAX_RECORD_LINE_BYTES = 16 << 20    # a longer JSONL line is counted but its record id is not read
MAX_ID_COLUMN_BYTES = 256 << 20     # a Parquet record_id column declaring more (uncompressed) is not read
BLOCK = 1 << 20
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def _sha256_of(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(BLOCK), b""):
        digest.update(block)
    return digest.hexdigest()


def _lines(handle: BinaryIO) -> Iterator[bytes | None]:
    """The file's lines, each at most MAX_RECORD_LINE_BYTES; an overlong line is skipped in bounded
    reads and yields None."""
    while line := handle.readline(MAX_RECORD_LINE_BYTES + 1):
        if len(line) > MAX_RECORD_LINE_BYTES and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = handle.readline(BLOCK)
            yield None
        else:
            yield line


def _jsonl_ids(handle: BinaryIO) -> Iterator[str | None]:
    """The record id of every non-blank line (None where a line has no string id or cannot be read)."""
    for line in _lines(handle):
        if line is not None and not line.strip():
            continue
        try:
            item = json.loads(line) if line is not None else None
        except (ValueError, RecursionError):
            item = None
        record_id = item.get("record_id") if isinstance(item, dict) else None
        yield record_id if isinstance(record_id, str) else None


def _parquet_ids(handle: BinaryIO) -> Iterator[str | None] | None:
    """Record ids of a Parquet file, streamed one batch at a time; None when the file has no
    record_id column or declares more than MAX_ID_COLUMN_BYTES for it."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(handle)
    names = parquet.schema_arrow.names
    if "record_id" not in names:
        return None
    column, meta = names.index("record_id"), parquet.metadata
    declared = sum(meta.row_group(g).column(column).total_uncompressed_size for g in range(meta.num_row_groups))
    if declared > MAX_ID_COLUMN_BYTES:
        return None
    return (i if isinstance(i, str) else None
            for batch in parquet.iter_batches(batch_size=65536, columns=["record_id"])
            for i in batch.column(0).to_pylist())


def _record_ids(handle: BinaryIO, suffix: str) -> Iterator[str | None] | None:
    """Record ids a data file holds, in order, streamed; None when it is not a data file."""
    try:
        if suffix == ".jsonl":
            return _jsonl_ids(handle)
        return _parquet_ids(handle) if suffix == ".parquet" else None
    except Exception:  # noqa: BLE001  a damaged Parquet footer: its hash already says so
        return None


def _record_count(handle: BinaryIO, suffix: str) -> int | None:
    """Records in a data file: non-blank JSONL lines or Parquet rows (from the footer)."""
    handle.seek(0)
    if suffix == ".jsonl":
        return sum(1 for line in _lines(handle) if line is None or line.strip())
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(handle).metadata.num_rows
        except Exception:  # noqa: BLE001  damaged: reported by its hash
            return None
    return None


def atomic_write_text(path: Path, text: str) -> None:
    """Write beside the target and rename, so a crash never leaves a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def describe_file(path: Path, written: dict | None = None) -> dict:
    """SHA-256 and size of one file, plus its record count and record ids when it is a data file.
    `written`: what the writer says the file holds ({records, record_ids}); without it the file is
    read again (streamed) to find out."""
    with open(path, "rb") as handle:
        entry = {"sha256": _sha256_of(handle), "bytes": os.fstat(handle.fileno()).st_size}
        if written is not None:
            entry["records"], ids = written.get("records"), written.get("record_ids") or []
        else:
            entry["records"] = _record_count(handle, path.suffix)
            handle.seek(0)
            found = _record_ids(handle, path.suffix)
            try:
                ids = list(found) if found is not None else []
            except Exception:  # noqa: BLE001  an unreadable Parquet page: the file is described by its hash
                ids = []
    if ids and all(isinstance(i, str) for i in ids):
        entry["record_ids"] = ids
    return entry


def describe_files(out_dir: Path, names: list[str], written: dict[str, dict] | None = None) -> dict[str, dict]:
    """Every named file described; `written` (name -> {records, record_ids}) spares parsing them again."""
    return {name: describe_file(out_dir / name, None if written is None else written.get(name, {})) for name in names}


def write_signed_manifest(out_dir: Path, body: dict, key: SigningKey) -> dict:
    """Adds version and signature (key id only, never the key) and writes manifest.json."""
    body = {"manifest_version": MANIFEST_VERSION, **body}
    manifest = body | {"signature": {"algorithm": ALGORITHM, "key_id": key.key_id, "value": sign(body, key)}}
    atomic_write_text(out_dir / MANIFEST_NAME, json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return manifest


class ManifestError(ValueError):
    """The manifest cannot be read or trusted; the message is one line, naming what is wrong."""


def shown_name(name: str) -> str:
    """A listed name as it may be printed: control characters and lone surrogates escaped."""
    return name if name.isprintable() and name.encode("utf-8", "ignore").decode() == name else ascii(name)[1:-1]


class ListedPathError(Exception):
    """A listed name that verify will not open: its message is the problem line's reason."""


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON value")


def open_listed(root: Path, name: str) -> BinaryIO:
    """Open the listed file `name` of the export folder `root` (resolved) for reading, refusing
    what is not a plain relative name, what resolves outside `root`, and what is not a regular file
    (a FIFO or device would hang the reader); opened non-blocking, checked on the open handle."""
    parts = name.split("/")
    if not name or "\x00" in name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ListedPathError("refused: not a plain relative name inside the export folder")
    try:
        resolved = (root / name).resolve()
    except (OSError, RuntimeError) as error:
        raise ListedPathError(f"refused: cannot be resolved ({error.__class__.__name__})") from None
    if not resolved.is_relative_to(root):
        raise ListedPathError("refused: resolves outside the export folder (a symbolic link?)")
    try:
        fd = os.open(resolved, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ListedPathError("listed in the manifest but missing") from None
    except OSError as error:
        raise ListedPathError(f"cannot be opened ({error.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ListedPathError("refused: not a regular file (a FIFO, device, socket or folder)")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb", buffering=BLOCK)


def _load_manifest(root: Path, max_bytes: int) -> dict:
    """The parsed manifest (bounded read, strict JSON, a signature block); ManifestError otherwise."""
    try:
        with open_listed(root, MANIFEST_NAME) as handle:
            data = handle.read(max_bytes + 1)
    except ListedPathError as error:
        raise ManifestError(f"{root / MANIFEST_NAME}: no manifest" if "missing" in str(error)
                            else f"{root / MANIFEST_NAME}: {error}") from None
    if len(data) > max_bytes:
        raise ManifestError(f"{root / MANIFEST_NAME}: larger than {max_bytes >> 20} MiB; not read "
                            "(raise the limit with --max-manifest-mb if it is genuine)")
    try:
        manifest = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError as error:
        raise ManifestError(f"{root / MANIFEST_NAME}: not valid UTF-8 (byte offset {error.start}); the manifest was altered") from None
    except (ValueError, RecursionError) as error:
        reason = str(error)[:200] if isinstance(error, ValueError) else "nested too deeply"
        raise ManifestError(f"{root / MANIFEST_NAME}: not valid JSON ({reason}); the manifest was altered") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("signature"), dict):
        raise ManifestError(f"{root / MANIFEST_NAME}: has no signature block")
    return manifest


def signing_key_id(out_dir: Path) -> str | None:
    """The key id that signed the manifest in `out_dir`, if there is a readable one."""
    try:
        manifest = _load_manifest(Path(out_dir), MAX_MANIFEST_BYTES)
    except (ManifestError, OSError):
        return None
    key_id = manifest["signature"].get("key_id")
    return key_id if isinstance(key_id, str) else None


def _signature_problems(manifest: dict, key: SigningKey) -> list[str]:
    """Whether this key signed exactly this manifest; checked before anything listed is opened."""
    signature = manifest["signature"]
    key_id, value = signature.get("key_id"), signature.get("value")
    if signature.get("algorithm", ALGORITHM) != ALGORITHM:
        return [f"manifest signature uses {shown_name(str(signature.get('algorithm')))[:40]}, not {ALGORITHM}"]
    if not isinstance(key_id, str) or not isinstance(value, str) or not SHA256_HEX.fullmatch(value):
        return ["manifest signature block is malformed (key_id and a 64-digit hex value expected): manifest.json was altered"]
    if key_id != key.key_id:
        return [f"manifest was signed with key {shown_name(key_id)[:40]}, but the key given ({key.source}) is {key.key_id}"]
    body = {k: v for k, v in manifest.items() if k != "signature"}
    try:
        matches = signature_matches(body, value, key)
    except (ValueError, UnicodeEncodeError):  # text that is not valid Unicode cannot have been signed
        matches = False
    return [] if matches else ["signature does not match the manifest's content: manifest.json was edited or forged"]


def _listed_files(manifest: dict) -> dict[str, dict]:
    """The signed `files` map, its shape checked (a key holder may still sign nonsense)."""
    files = manifest.get("files", {})
    if not isinstance(files, dict):
        raise ManifestError(f"{MANIFEST_NAME}: 'files' is a JSON {type(files).__name__}, not an object")
    for name, entry in files.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str) \
                or not SHA256_HEX.fullmatch(entry["sha256"]):
            raise ManifestError(f"{MANIFEST_NAME}: the entry of {shown_name(name)[:80]} has no 64-digit hex sha256")
        ids, count = entry.get("record_ids"), entry.get("records")
        if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
            raise ManifestError(f"{MANIFEST_NAME}: the record_ids of {shown_name(name)[:80]} are not a list of strings")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool)):
            raise ManifestError(f"{MANIFEST_NAME}: the record count of {shown_name(name)[:80]} is not an integer")
    return files


def _short(ids: list[str], total: int, limit: int = 5) -> str:
    shown = ", ".join(shown_name(i)[:80] for i in ids[:limit])
    return shown + (f" and {total - limit} more" if total > limit else "")


def _id_differences(found: Iterator[str | None], listed: list[str]) -> tuple[int, str]:
    """Records streamed from a file against the manifest's list: how many, which were added or
    removed; holds no more than the manifest's own list."""
    wanted, seen, added, n_added, unreadable, count = set(listed), set(), [], 0, 0, 0
    for record_id in found:
        count += 1
        if record_id is None:
            unreadable += 1
        elif record_id in wanted:
            seen.add(record_id)
        else:
            n_added += 1
            added += [record_id] if len(added) < 5 else []
    removed = [i for i in listed if i not in seen]
    return count, ((f"; removed record(s): {_short(removed, len(removed))}" if removed else "")
                   + (f"; added record(s): {_short(added, n_added)}" if added else "")
                   + (f"; {unreadable} record(s) without a readable record id" if unreadable else ""))


def _changed_file_problem(name: str, handle: BinaryIO, expected: dict) -> str:
    """What changed in a file whose hash differs: its record count and, when the manifest lists
    record ids, which records were added or removed (a JSONL file is read once for both)."""
    suffix, listed = Path(name).suffix, expected.get("record_ids")
    handle.seek(0)
    ids = _record_ids(handle, suffix) if listed else None
    try:
        if ids is not None and suffix == ".jsonl":
            found, differences = _id_differences(ids, listed)
        else:
            differences = _id_differences(ids, listed)[1] if ids is not None else ""
            found = _record_count(handle, suffix)
    except Exception:  # noqa: BLE001  a damaged Parquet page: its hash already says so
        found, differences = _record_count(handle, suffix), ""
    listed_count = expected.get("records")
    detail = f" ({found} records, manifest lists {listed_count})" if listed_count is not None and found != listed_count else ""
    return f"{shown_name(name)}: content changed since signing, SHA-256 differs{detail}{differences}"


def _file_problems(root: Path, files: dict) -> list[str]:
    problems = []
    for name, expected in sorted(files.items()):
        try:
            with open_listed(root, name) as handle:
                if _sha256_of(handle) != expected["sha256"]:
                    problems.append(_changed_file_problem(name, handle, expected))
        except ListedPathError as error:
            problems.append(f"{shown_name(name)}: {error}")
    return problems


def _unlisted_files(root: Path, files: dict) -> list[str]:
    """Entries in the export folder the manifest does not vouch for: files, links, FIFOs...
    (hidden ones are ignored; links are listed, never followed)."""
    present = set()
    for folder, dirs, names in os.walk(root):
        relative = Path(folder).relative_to(root)
        links = [d for d in dirs if os.path.islink(os.path.join(folder, d))]
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in links]
        present.update((relative / n).as_posix() for n in names + links if not n.startswith("."))
    return [f"{shown_name(name)}: present but not listed in the manifest (added after signing?)"
            for name in sorted(present - set(files) - {MANIFEST_NAME})]


def _foreign_manifest(manifest: dict, files: dict, file_problems: list[str]) -> list[str]:
    """When most listed files differ at once, the manifest most likely belongs to another export
    (a single edit changes one or two files, not half of them)."""
    changed = sum(1 for p in file_problems if "content changed" in p)
    if len(files) < 2 or changed < max(2, (len(files) + 1) // 2):
        return []
    lineage = manifest.get("lineage") if isinstance(manifest.get("lineage"), dict) else {}
    run, created = str(lineage.get("run_id", "unknown")), str(manifest.get("created_at", "unknown"))
    return [f"{MANIFEST_NAME}: {changed} of the {len(files)} listed files differ; this manifest likely belongs to another "
            f"export (created {shown_name(created)[:40]}, Dagster run {shown_name(run)[:80]})"]


def verify_out_dir(out_dir: str | os.PathLike[str], key: SigningKey, max_manifest_bytes: int = MAX_MANIFEST_BYTES) -> list[str]:
    """Every problem found; an empty list means signature, key and every listed file are intact.
    The signature is checked first: nothing a manifest lists is opened unless this key signed it,
    and even then only regular files inside the export folder."""
    root = Path(out_dir).resolve()
    try:
        manifest = _load_manifest(root, max_manifest_bytes)
        if problems := _signature_problems(manifest, key):
            return problems
        files = _listed_files(manifest)
    except ManifestError as error:
        return [str(error)]
    file_problems = _file_problems(root, files)
    return _foreign_manifest(manifest, files, file_problems) + file_problems + _unlisted_files(root, files)
