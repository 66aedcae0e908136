"""The signed run manifest: what went in, how it was made, what came out, and proof that none of
it changed afterwards. `verify_out_dir` lists every problem it finds, most fundamental first."""

from __future__ import annotations

import json
import os
from pathlib import Path

from mbdg_assets.shared.files import file_sha256
from mbdg_assets.manifest.signing import ALGORITHM, SigningKey, sign, signature_matches

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1


def count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def atomic_write_text(path: Path, text: str) -> None:
    """Write beside the target and rename, so a crash never leaves a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def read_record_ids(path: Path) -> list[str] | None:
    """The record ids a data file holds, in order; None when it is not a data file or cannot be read
    (a damaged file is reported by its hash, the ids only add detail)."""
    try:
        if path.suffix == ".jsonl":
            lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            ids = [line.get("record_id") if isinstance(line, dict) else None for line in lines]
        elif path.suffix == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
            ids = table.column("record_id").to_pylist() if "record_id" in table.column_names else [None] * table.num_rows
        else:
            return None
    except Exception:  # noqa: BLE001  a damaged file of any kind: its hash already says so
        return None
    return None if any(not isinstance(i, str) for i in ids) else ids


def _record_count(path: Path) -> int | None:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(path).metadata.num_rows
        except Exception:  # noqa: BLE001  damaged: reported by its hash
            return None
    return count_lines(path) if path.suffix == ".jsonl" else None


def describe_file(path: Path, written: dict | None = None) -> dict:
    """SHA-256 and size of one file, plus its record count and record ids when it is a data file.
    `written`: what the writer says the file holds ({records, record_ids}); without it the file is
    parsed again to find out."""
    entry = {"sha256": file_sha256(path), "bytes": path.stat().st_size}
    if written is None:
        entry["records"], ids = _record_count(path), read_record_ids(path)
    else:
        entry["records"], ids = written.get("records"), written.get("record_ids")
    if ids:
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


def _load_manifest(out_dir: Path) -> tuple[dict | None, str | None]:
    path = out_dir / MANIFEST_NAME
    if not path.exists():
        return None, f"{path}: no manifest"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return None, f"{path}: not valid JSON ({error}); the manifest was altered"
    if not isinstance(manifest, dict) or not isinstance(manifest.get("signature"), dict):
        return None, f"{path}: has no signature block"
    return manifest, None


def _signature_problems(manifest: dict, key: SigningKey) -> list[str]:
    signature = manifest["signature"]
    if signature.get("key_id") != key.key_id:
        return [f"manifest was signed with key {signature.get('key_id')}, but the key given ({key.source}) is {key.key_id}"]
    body = {k: v for k, v in manifest.items() if k != "signature"}
    if not signature_matches(body, str(signature.get("value", "")), key):
        return ["signature does not match the manifest's content: manifest.json was edited or forged"]
    return []


def _short(ids: list[str], limit: int = 5) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _record_differences(path: Path, expected: dict) -> str:
    """Which records were added or removed, when both the manifest and the file name them."""
    listed, found = expected.get("record_ids"), read_record_ids(path)
    if not listed or found is None:
        return ""
    added = [i for i in found if i not in set(listed)]
    removed = [i for i in listed if i not in set(found)]
    return (f"; removed record(s): {_short(removed)}" if removed else "") + (f"; added record(s): {_short(added)}" if added else "")


def _changed_file_problem(name: str, path: Path, expected: dict) -> str:
    found, listed = _record_count(path), expected.get("records")
    detail = f" ({found} records, manifest lists {listed})" if listed is not None and found != listed else ""
    return f"{name}: content changed since signing, SHA-256 differs{detail}{_record_differences(path, expected)}"


def _file_problems(out_dir: Path, files: dict) -> list[str]:
    problems = []
    for name, expected in sorted(files.items()):
        path = out_dir / name
        if not path.exists():
            problems.append(f"{name}: listed in the manifest but missing")
        elif file_sha256(path) != expected["sha256"]:
            problems.append(_changed_file_problem(name, path, expected))
    return problems


def _unlisted_files(out_dir: Path, files: dict) -> list[str]:
    """Files in the export folder the manifest does not vouch for (hidden files are ignored)."""
    present = {p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*")
               if p.is_file() and not any(part.startswith(".") for part in p.relative_to(out_dir).parts)}
    return [f"{name}: present but not listed in the manifest (added after signing?)"
            for name in sorted(present - set(files) - {MANIFEST_NAME})]


def _foreign_manifest(manifest: dict, files: dict, file_problems: list[str]) -> list[str]:
    """When most listed files differ at once, the manifest most likely belongs to another export
    (a single edit changes one or two files, not half of them)."""
    changed = sum(1 for p in file_problems if "content changed" in p)
    if len(files) < 2 or changed < max(2, (len(files) + 1) // 2):
        return []
    run = (manifest.get("lineage") or {}).get("run_id", "unknown")
    return [f"{MANIFEST_NAME}: {changed} of the {len(files)} listed files differ; this manifest likely belongs to another "
            f"export (created {manifest.get('created_at', 'unknown')}, Dagster run {run})"]


def verify_out_dir(out_dir: str | os.PathLike[str], key: SigningKey) -> list[str]:
    """Every problem found; an empty list means signature, key and every listed file are intact."""
    out_dir = Path(out_dir)
    manifest, problem = _load_manifest(out_dir)
    if problem:
        return [problem]
    files = manifest.get("files", {})
    file_problems = _file_problems(out_dir, files)
    return (_signature_problems(manifest, key) + _foreign_manifest(manifest, files, file_problems) + file_problems
            + _unlisted_files(out_dir, files))
