import json
import os
import stat
from pathlib import Path

import pytest

from mbdg_assets.manifest.signed_manifest import MANIFEST_NAME, describe_files, verify_out_dir, write_signed_manifest
from mbdg_assets.manifest.signing import KeyFileError, canonical_json, load_or_create_key


@pytest.fixture
def key_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("MBDG_SIGNING_KEY", raising=False)
    return tmp_path / "keys"


@pytest.fixture
def signed_out(tmp_path: Path, key_dir: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    (out / "dataset.jsonl").write_text('{"instruction": "q1", "output": "a1"}\n{"instruction": "q2", "output": "a2"}\n')
    (out / "review.jsonl").write_text("")
    body = {"sources": [{"path": "a.md", "sha256": "00" * 32}], "files": describe_files(out, ["dataset.jsonl", "review.jsonl"])}
    write_signed_manifest(out, body, load_or_create_key(key_dir))
    return out


def test_key_file_is_created_private_and_reused(key_dir: Path):
    first = load_or_create_key(key_dir)
    path = key_dir / "signing.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(key_dir).secret == first.secret
    assert first.key_id.startswith("k-") and first.secret.decode() not in first.key_id


def test_env_key_wins_and_no_file_is_written(key_dir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MBDG_SIGNING_KEY", "correct horse battery staple")
    key = load_or_create_key(key_dir)
    assert key.secret == b"correct horse battery staple"
    assert not key_dir.exists()


def test_group_readable_key_file_is_refused(key_dir: Path):
    load_or_create_key(key_dir)
    os.chmod(key_dir / "signing.key", 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_or_create_key(key_dir)


def test_canonical_json_ignores_key_order_and_spacing():
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": 3}]}) == canonical_json({"a": [1, {"c": 3, "d": 2}], "b": 1})
    assert canonical_json({"a": "é"}) == '{"a":"é"}'.encode()


def test_intact_output_verifies(signed_out: Path, key_dir: Path):
    assert verify_out_dir(signed_out, load_or_create_key(key_dir)) == []


def test_manifest_never_contains_the_key(signed_out: Path, key_dir: Path):
    secret = load_or_create_key(key_dir).secret.decode()
    assert secret not in (signed_out / MANIFEST_NAME).read_text()


def _flip_one_byte(path: Path, offset: int = 5) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_one_changed_byte_in_the_dataset_is_caught(signed_out: Path, key_dir: Path):
    _flip_one_byte(signed_out / "dataset.jsonl")
    problems = verify_out_dir(signed_out, load_or_create_key(key_dir))
    assert len(problems) == 1 and problems[0].startswith("dataset.jsonl: content changed")


def test_removed_record_is_caught_with_counts(signed_out: Path, key_dir: Path):
    path = signed_out / "dataset.jsonl"
    path.write_text(path.read_text().splitlines(keepends=True)[0])
    problems = verify_out_dir(signed_out, load_or_create_key(key_dir))
    assert problems == ["dataset.jsonl: content changed since signing, SHA-256 differs (1 records, manifest lists 2)"]


def test_edited_manifest_is_caught(signed_out: Path, key_dir: Path):
    manifest_path = signed_out / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    manifest["sources"][0]["path"] = "b.md"
    manifest_path.write_text(json.dumps(manifest))
    problems = verify_out_dir(signed_out, load_or_create_key(key_dir))
    assert problems == ["signature does not match the manifest's content: manifest.json was edited or forged"]


def test_one_changed_byte_in_the_manifest_is_caught(signed_out: Path, key_dir: Path):
    text = (signed_out / MANIFEST_NAME).read_text()
    offset = text.index("a.md")
    _flip_one_byte(signed_out / MANIFEST_NAME, offset)
    assert verify_out_dir(signed_out, load_or_create_key(key_dir))


def test_wrong_key_is_named(signed_out: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MBDG_SIGNING_KEY", "some other key")
    problems = verify_out_dir(signed_out, load_or_create_key("/nonexistent"))
    assert len(problems) == 1 and "signed with key k-" in problems[0] and "env:MBDG_SIGNING_KEY" in problems[0]


def test_missing_file_and_missing_manifest(signed_out: Path, key_dir: Path, tmp_path: Path):
    (signed_out / "review.jsonl").unlink()
    assert verify_out_dir(signed_out, load_or_create_key(key_dir)) == ["review.jsonl: listed in the manifest but missing"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no manifest" in verify_out_dir(empty, load_or_create_key(key_dir))[0]
