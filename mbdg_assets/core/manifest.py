"""The signed run manifest: what went in, how it was made, what came out, and proof that none of
it changed afterwards. `verify_out_dir` lists every problem it finds, most fundamental first."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .signing import ALGORITHM, SigningKey, sign, signature_matches

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def atomic_write_text(path: Path, text: str) -> None:
    """Write beside the target and rename, so a crash never leaves a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def describe_files(out_dir: Path, names: list[str]) -> dict[str, dict]:
    return {name: {"sha256": file_sha256(out_dir / name), "bytes": (out_dir / name).stat().st_size,
                   "records": count_lines(out_dir / name)} for name in names}


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


def _file_problems(out_dir: Path, files: dict) -> list[str]:
    problems = []
    for name, expected in sorted(files.items()):
        path = out_dir / name
        if not path.exists():
            problems.append(f"{name}: listed in the manifest but missing")
        elif file_sha256(path) != expected["sha256"]:
            found, listed = count_lines(path), expected.get("records")
            detail = f" ({found} records, manifest lists {listed})" if listed is not None and found != listed else ""
            problems.append(f"{name}: content changed since signing, SHA-256 differs{detail}")
    return problems


def verify_out_dir(out_dir: str | os.PathLike[str], key: SigningKey) -> list[str]:
    """Every problem found; an empty list means signature, key and every listed file are intact."""
    out_dir = Path(out_dir)
    manifest, problem = _load_manifest(out_dir)
    if problem:
        return [problem]
    problems = _signature_problems(manifest, key)
    return problems + _file_problems(out_dir, manifest.get("files", {}))
