"""The signed manifest of a full export (every format and the data card) and what `verify` says
about each kind of tampering: a changed byte in any file, a removed or added record, an added file,
a manifest from another run, a wrong key."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from export_fixtures import export_and_sign
from mbdg_assets.cli.main import main
from mbdg_assets.manifest.signed_manifest import MANIFEST_NAME, verify_out_dir


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MBDG_SIGNING_KEY", raising=False)
        root = tmp_path_factory.mktemp("signed")
        out, key, ids = export_and_sign(root / "a")
    return out, key, ids


@pytest.fixture
def copy(signed, tmp_path: Path):
    """A fresh copy of the signed export per test, so tampering never leaks between tests."""
    out, key, ids = signed
    target = tmp_path / "out"
    shutil.copytree(out, target)
    return target, key, ids


def _manifest(out: Path) -> dict:
    return json.loads((out / MANIFEST_NAME).read_text())


def test_manifest_lists_every_exported_file_and_the_facts(signed):
    out, key, _ = signed
    manifest = _manifest(out)
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {MANIFEST_NAME}
    assert set(manifest["files"]) == on_disk and "README.md" in on_disk and "dpo/train.parquet" in on_disk
    generation = manifest["parameters"]["generation"][0]
    assert {"backend", "model", "temperature", "k", "prompt_version", "seed_min", "seed_max"} <= set(generation)
    assert manifest["parameters"]["validation"]["grounding_gate"] == 0.6
    assert manifest["parameters"]["export"]["dpo_min_gap"] == 0.05
    assert manifest["summary"]["split_sizes"]["train"] + manifest["summary"]["split_sizes"]["eval"] == 6
    record = manifest["records"][0]
    assert record["selection"]["winner_rank"] == 0 and len(record["selection"]["sibling_rewards"]) == 3
    assert set(manifest["machine"]) >= {"platform", "python", "cpu_count", "hostname_sha256"}
    assert set(manifest["timestamps"]) == {"records_validated_at", "dataset_exported_at", "manifest_signed_at"}
    assert manifest["signature"]["key_id"] == key.key_id and verify_out_dir(out, key) == []


def test_manifest_holds_no_key_and_no_hostname(signed):
    import socket

    out, key, _ = signed
    text = (out / MANIFEST_NAME).read_text()
    assert key.secret.decode() not in text
    assert socket.gethostname() not in text


def _every_file(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())


def test_a_changed_byte_in_any_file_is_named(copy):
    out, key, _ = copy
    for name in _every_file(out):
        path = out / name
        original = path.read_bytes()
        data = bytearray(original)
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        problems = verify_out_dir(out, key)
        path.write_bytes(original)
        assert problems, name
        if name == MANIFEST_NAME:
            assert "manifest" in problems[0] or "signature" in problems[0]
        else:
            assert problems == [problems[0]] and problems[0].startswith(f"{name}: content changed"), (name, problems)
    assert verify_out_dir(out, key) == []


def test_removed_and_added_records_are_named(copy):
    out, key, ids = copy
    dataset = out / "dataset.jsonl"
    lines = dataset.read_text().splitlines(keepends=True)
    removed = json.loads(lines[0])["record_id"]
    dataset.write_text("".join(lines[1:]))
    [problem] = verify_out_dir(out, key)
    assert f"removed record(s): {removed}" in problem and "(5 records, manifest lists 6)" in problem

    smuggled = json.loads(lines[0]) | {"record_id": "forged-record"}
    dataset.write_text("".join(lines) + json.dumps(smuggled) + "\n")
    [problem] = verify_out_dir(out, key)
    assert "added record(s): forged-record" in problem and "(7 records, manifest lists 6)" in problem


def test_an_added_file_is_named(copy):
    out, key, _ = copy
    (out / "chat" / "extra.jsonl").write_text("{}\n")
    assert verify_out_dir(out, key) == ["chat/extra.jsonl: present but not listed in the manifest (added after signing?)"]


def test_a_manifest_from_another_run_is_caught_naming_the_files(tmp_path: Path):
    run_a, key, _ = export_and_sign(tmp_path / "a", tag="alpha")
    run_b, _, _ = export_and_sign(tmp_path / "b", tag="beta")
    assert verify_out_dir(run_b, key) == []
    shutil.copy(run_a / MANIFEST_NAME, run_b / MANIFEST_NAME)
    problems = verify_out_dir(run_b, key)
    assert "likely belongs to another export" in problems[0] and "alpha-dagster-run" in problems[0]
    named = {p.split(":", 1)[0] for p in problems[1:]}
    assert {"dataset.jsonl", "chat/train.jsonl", "dpo/train.parquet"} <= named  # README.md is identical: same facts


def test_wrong_key_is_named_by_the_cli(copy, monkeypatch: pytest.MonkeyPatch):
    out, key, _ = copy
    monkeypatch.setenv("MBDG_SIGNING_KEY", "not the key that signed")
    result = CliRunner().invoke(main, ["verify", str(out)])
    assert result.exit_code == 1
    assert f"signed with key {key.key_id}" in result.output and "env:MBDG_SIGNING_KEY" in result.output


def test_manifest_show_summarises(signed):
    out, key, _ = signed
    result = CliRunner().invoke(main, ["manifest", "show", str(out)])
    assert result.exit_code == 0, result.output
    for expected in (key.key_id, "a.md", "SmolLM2-135M-Instruct", "splits: eval=", "dpo/train.parquet", "README.md"):
        assert expected in result.output, expected
    missing = CliRunner().invoke(main, ["manifest", "show", str(out / "nowhere")])
    assert missing.exit_code == 1 and "no manifest" in missing.output
