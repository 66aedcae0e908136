"""A compressed tar's members are read from one inflated copy per block of work (extract/listed_tars.py):
the same documents as read from the archive, the archive inflated once for all its members (in the
parent, never in a forked worker), its budgets unchanged, and no copy left after the block."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import tempfile
import zipfile
from contextlib import nullcontext
from pathlib import Path

import pytest
from click.testing import CliRunner

from mbdg_assets.extract.extraction import ExtractionError
from mbdg_assets.extract.limits import DEFAULT_LIMITS, ExtractionLimits
from mbdg_assets.extract.listed_tars import listed_tar, listed_tars
from mbdg_assets.extract.members import extract_source, scan_documents, source_sha256

NOTES = {f"notes/day{n:02d}.md": f"# Day {n}\n\nThe roaster ran {n} batches of the blend called number {n * 7}.".encode()
         for n in range(12)}


def _tar(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder the copies are made in (tempfile's), to see what is left there."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


@pytest.fixture
def inflations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every gzip stream opened in this process, counted; one opened in a forked worker fails the read."""
    parent, opened, original = os.getpid(), [], gzip.GzipFile

    class Counting(original):
        def __init__(self, *args, **kwargs) -> None:
            if os.getpid() != parent:
                raise RuntimeError("a worker inflated the archive again")
            opened.append(1)
            super().__init__(*args, **kwargs)
    monkeypatch.setattr(gzip, "GzipFile", Counting)
    return opened


def _documents(docs: Path) -> dict[str, tuple]:
    keys = scan_documents(docs)
    return {key: (doc.text, doc.doc_id, doc.title, doc.path, [b.kind for b in doc.blocks], source_sha256(docs / key))
            for key in keys for doc in [extract_source(docs / key)]}


@pytest.mark.parametrize("suffix", [".tar.gz", ".tar.bz2", ".tar.xz", ".tar"])
def test_members_read_through_the_list_are_the_documents_read_from_the_archive(tmp_path: Path, temp_root: Path,
                                                                               suffix: str) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    inner_zip = io.BytesIO()
    with zipfile.ZipFile(inner_zip, "w") as archive:
        archive.writestr("inside/deep.md", "# Deep\n\nA nested archive is read in memory.")
    mode = "w" + suffix.replace(".tar", "").replace(".", ":")
    (docs / f"bundle{suffix}").write_bytes(_tar({"./notes//intro.md": b"# Intro\n\nA name to clean."} | NOTES
                                                | {"nested.zip": inner_zip.getvalue()}, mode))
    before = _documents(docs)
    assert len(before) == 14 and f"bundle{suffix}/nested.zip/inside/deep.md" in before
    with listed_tars():
        after = _documents(docs)
        copies = [p.suffix for p in temp_root.rglob("*") if p.is_file()]
        assert copies == ([] if suffix == ".tar" else [".tar"])  # a compressed tar inflated once, on first use
    assert after == before
    assert not any(temp_root.iterdir())  # the copy and its folder went with the block


def test_the_archive_is_inflated_once_for_all_its_members(tmp_path: Path, temp_root: Path,
                                                          inflations: list[int]) -> None:
    archive = tmp_path / "notes.tar.gz"
    archive.write_bytes(_tar(NOTES))
    changed = _tar(NOTES | {"notes/day00.md": b"# Day 0\n\nChanged since."})
    keys = [tmp_path / "notes.tar.gz" / name for name in NOTES]
    inflations.clear()
    for key in keys[:3]:
        extract_source(key)
    assert len(inflations) >= 3  # without a block every member inflates the archive again
    inflations.clear()
    with listed_tars():
        texts = [extract_source(key).text for key in keys] + [source_sha256(key) for key in keys]
        assert len(inflations) == 1
        archive.write_bytes(changed)  # a new identity
        assert extract_source(keys[0]).text.endswith("Changed since.")  # not the stale copy
        assert len(inflations) == 2
    assert texts[0].endswith("number 0.") and None not in texts


@pytest.mark.parametrize("mode", ["w", "w:gz"])
def test_each_header_is_parsed_once_not_once_per_member_after_it(tmp_path: Path, temp_root: Path,
                                                                  monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    """A plain tar needs no inflating, but reading member i from its bytes parses the i headers before it."""
    archive = tmp_path / "notes.tar"
    archive.write_bytes(_tar(NOTES, mode))
    parsed, original = [], tarfile.TarInfo.fromtarfile.__func__
    monkeypatch.setattr(tarfile.TarInfo, "fromtarfile", classmethod(lambda cls, tar: parsed.append(1) or original(cls, tar)))
    for name in NOTES:
        source_sha256(archive / name)
    walked = len(parsed)
    parsed.clear()
    with listed_tars():
        hashes = [source_sha256(archive / name) for name in NOTES]
    assert walked >= len(NOTES) * (len(NOTES) + 1) // 2  # member i: headers 1..i
    assert len(parsed) <= 2 * len(NOTES) + 1  # the listing, and the first header when the tar is opened
    assert None not in hashes


def test_an_archive_over_the_inflate_budget_fails_as_before(tmp_path: Path, temp_root: Path) -> None:
    """Over max_decompressed_bytes the copy is not made and each member is read as before: the
    members before the large one read, the large one fails with the same code."""
    big = b"".join(b"Line %07d of a long log that inflates past the budget.\n" % n for n in range(40_000))
    archive = tmp_path / "logs.tar.gz"
    archive.write_bytes(_tar({"a.md": b"# Small\n\nRead before the large member.", "big.txt": big}))
    tight = ExtractionLimits(max_decompressed_bytes=1_000_000)
    outcomes = []
    for block in (False, True):
        with listed_tars() if block else nullcontext():
            assert extract_source(archive / "a.md", limits=tight).title == "Small"
            with pytest.raises(ExtractionError) as error:
                extract_source(archive / "big.txt", limits=tight)
            outcomes.append((error.value.code, "max_decompressed_bytes" in error.value.message))
            if block:
                assert listed_tar(archive, tight) is None  # tried once, over the budget: none
                assert listed_tar(archive, DEFAULT_LIMITS) is None  # remembered for this archive
    assert outcomes == [("too_large", True), ("too_large", True)]
    assert not any(temp_root.iterdir())  # the partial copy was removed at once


def test_pipeline_and_mbdg_extract_inflate_once_in_the_parent_and_leave_no_copy(
        tmp_path: Path, temp_root: Path, inflations: list[int]) -> None:
    """Through the source_documents phase (members read in forked workers) and through ``mbdg extract``."""
    import dagster as dg
    import duckdb

    from mbdg_assets.cli.main import main
    from mbdg_assets.cli.run import sync_partitions
    from mbdg_assets.defs.extract import extract_documents
    from mbdg_assets.storage.project import ProjectPaths
    from resources import ProjectResource, WarehouseResource

    docs, paths = tmp_path / "docs", ProjectPaths(tmp_path / "project")
    docs.mkdir()
    (docs / "notes.tgz").write_bytes(_tar(NOTES))
    (docs / "plain.md").write_text("# Plain\n\nBeside the archive.")
    project = ProjectResource(project_dir=str(paths.root), docs_dir=str(docs), extraction_workers=2)
    with dg.instance_for_test() as instance:
        keys = sync_partitions(instance, docs, paths)
        inflations.clear()
        extract_documents(keys, project, WarehouseResource(path=str(paths.warehouse)))
    assert len(inflations) == 1  # once in the parent; a worker inflating would have failed its document
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        stored = dict(con.execute("SELECT path, title FROM documents").fetchall())
        assert con.execute("SELECT count(*) FROM extraction_errors").fetchone() == (0,)
    assert stored == {"plain.md": "Plain"} | {f"notes.tgz/{name}": f"Day {int(name[9:11])}" for name in NOTES}
    assert not any(temp_root.iterdir())

    inflations.clear()
    result = CliRunner().invoke(main, ["extract", str(docs)])
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["status"] for line in lines] == ["ok"] * 13 and len(inflations) == 1
    assert not any(temp_root.iterdir())
