"""Archives in a docs folder are folders of documents (extract/members.py): each member is a
document of its own keyed ``archive.zip/inner/path``, read under one budget for the whole tree of
nested archives, and a changed archive re-reads only the members whose bytes changed."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from click.testing import CliRunner

from format_files import pdf_bytes
from mbdg_assets.extract import extraction
from mbdg_assets.extract.extraction import ExtractionError, extract_document
from mbdg_assets.extract.limits import DEFAULT_LIMITS, ExtractionLimits
from mbdg_assets.extract.members import extract_source, scan_documents, scan_sources, source_sha256


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _tar_gz_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


Q1 = b"# Quarter one\n\nSales rose by nine percent."
NOTE = b"The deepest note mentions basil."


def _docs(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    (docs / "reports").mkdir(parents=True)
    (docs / "plain.md").write_bytes(b"# Plain\n\nA file beside the archives.")
    (docs / "reports" / "bundle.zip").write_bytes(_zip_bytes({
        "q1/summary.md": Q1,
        "q1/warehouse.pdf": pdf_bytes(["The PDF says the warehouse moved."]),
        "nested.tar.gz": _tar_gz_bytes({"./deep/note.txt": NOTE}),
        "broken.zip": b"PK\x03\x04 not really a zip",
        "bad...name.txt": b"a name Dagster refuses as a partition key",
        "__MACOSX/._summary.md": b"resource fork",
    }))
    (docs / "damaged.zip").write_bytes(b"PK\x03\x04 cut off")
    return docs


def test_members_are_documents_keyed_by_their_path_through_the_archives(tmp_path: Path) -> None:
    docs = _docs(tmp_path)
    found = scan_documents(docs)
    archive_print = found["reports/bundle.zip/q1/summary.md"]
    assert list(found) == ["damaged.zip", "plain.md", "reports/bundle.zip/broken.zip",
                           "reports/bundle.zip/nested.tar.gz/deep/note.txt", "reports/bundle.zip/q1/summary.md",
                           "reports/bundle.zip/q1/warehouse.pdf"]
    assert found["reports/bundle.zip/q1/warehouse.pdf"] == archive_print  # members carry their archive's fingerprint
    skipped = scan_sources(docs).skipped
    assert [(s.path.as_posix(), s.code) for s in skipped] == [("reports/bundle.zip/bad...name.txt", "unusable_name")]

    summary = extract_source(docs / "reports/bundle.zip/q1/summary.md")
    assert summary.format == "markdown" and summary.title == "Quarter one" and "nine percent" in summary.text
    assert summary.doc_id == hashlib.sha256(Q1).hexdigest() == source_sha256(docs / "reports/bundle.zip/q1/summary.md")
    assert summary.path == str(docs / "reports/bundle.zip/q1/summary.md")
    assert "warehouse moved" in extract_source(docs / "reports/bundle.zip/q1/warehouse.pdf").text
    assert extract_source(docs / "reports/bundle.zip/nested.tar.gz/deep/note.txt").text == NOTE.decode()
    assert extract_source(docs / "plain.md").title == "Plain"  # a plain file reads as before
    for key, code in (("reports/bundle.zip/broken.zip", "truncated"), ("damaged.zip", "truncated"),
                      ("reports/bundle.zip/q1/gone.md", "unreadable")):
        with pytest.raises(ExtractionError) as error:  # what cannot be listed stays one document and says why
            extract_source(docs / key)
        assert error.value.code == code, key


def test_archives_deeper_than_the_limit_stay_one_member_that_says_so(tmp_path: Path) -> None:
    nested = _zip_bytes({"x.txt": b"deep text"})
    for level in (3, 2, 1, 0):  # z0 > z1 > z2 > z3 > z4 > x.txt
        nested = _zip_bytes({f"z{level + 1}.zip": nested, "readme.txt": b"Level %d" % level})
    (tmp_path / "z0.zip").write_bytes(nested)
    keys = sorted(scan_documents(tmp_path))
    assert keys == ["z0.zip/readme.txt", "z0.zip/z1.zip/readme.txt", "z0.zip/z1.zip/z2.zip/readme.txt",
                    "z0.zip/z1.zip/z2.zip/z3.zip"]  # members at most max_archive_depth archives deep
    assert extract_source(tmp_path / "z0.zip/z1.zip/z2.zip/readme.txt").text == "Level 2"
    with pytest.raises(ExtractionError, match=f"nested deeper than {DEFAULT_LIMITS.max_archive_depth} levels"):
        extract_source(tmp_path / "z0.zip/z1.zip/z2.zip/z3.zip")


def test_inflated_bytes_are_summed_over_the_whole_tree_of_nested_archives(tmp_path: Path) -> None:
    """Each nested zip alone is under max_decompressed_bytes, together they are over: the file fails
    whether it is read as one document or listed as a folder."""
    text = b"The inflated budget is one for the whole file. " * 20  # 940 bytes
    inner = [_zip_bytes({f"part{n}.txt": text}) for n in range(3)]
    outer = tmp_path / "outer.zip"
    outer.write_bytes(_zip_bytes({f"inner{n}.zip": data for n, data in enumerate(inner)}))
    roomy, tight = ExtractionLimits(max_decompressed_bytes=10_000), ExtractionLimits(max_decompressed_bytes=2_500)
    assert "part2.txt" in extract_document(outer, limits=roomy).text
    with pytest.raises(ExtractionError) as error:
        extract_document(outer, limits=tight)
    assert error.value.code == "too_large" and "containers read with it" in error.value.message
    assert len(scan_documents(tmp_path, limits=roomy)) == 3
    assert list(scan_documents(tmp_path, limits=tight)) == ["outer.zip"]  # not listed: one document that fails
    with pytest.raises(ExtractionError, match="max_decompressed_bytes"):
        extract_source(outer, limits=tight)
    gz = tmp_path / "docs.tar.gz"  # tar members are counted as read, across the tar and what it holds
    gz.write_bytes(_tar_gz_bytes({f"n{n}.zip": data for n, data in enumerate(inner)}))
    with pytest.raises(ExtractionError, match="max_decompressed_bytes"):
        extract_document(gz, limits=tight)


def test_mbdg_extract_reports_each_member(tmp_path: Path) -> None:
    from mbdg_assets.cli.main import main

    docs = _docs(tmp_path)
    result = CliRunner().invoke(main, ["extract", str(docs / "reports" / "bundle.zip")])
    lines = {Path(line["path"]).relative_to(docs).as_posix(): line
             for line in map(json.loads, result.stdout.splitlines())}
    assert lines["reports/bundle.zip/q1/summary.md"]["status"] == "ok"
    assert lines["reports/bundle.zip/nested.tar.gz/deep/note.txt"]["chunks"] == 1
    assert lines["reports/bundle.zip/broken.zip"]["code"] == "truncated"
    assert lines["reports/bundle.zip/bad...name.txt"]["status"] == "skipped"


def test_a_changed_archive_rereads_changed_members_only_and_drops_removed_ones(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from mbdg_assets.cli.run import sync_partitions
    from mbdg_assets.defs.extract import extract_documents, extraction_result
    from mbdg_assets.storage.project import ProjectPaths
    from resources import ProjectResource, WarehouseResource

    parsed: list[str] = []
    formats = tuple(extraction._Format(f.name, f.suffixes, lambda path, data, *rest, _inner=f.extract:
                                       parsed.append(Path(path).name) or _inner(path, data, *rest), f.check_magic, f.nested)
                    for f in extraction._FORMATS)
    monkeypatch.setattr(extraction, "_FORMATS", formats)
    monkeypatch.setattr(extraction, "_BY_SUFFIX", {s: f for f in formats for s in f.suffixes})
    docs, paths = tmp_path / "docs", ProjectPaths(tmp_path / "project")
    docs.mkdir()
    archive = docs / "minutes.zip"
    archive.write_bytes(_zip_bytes({"jan.md": b"# January\n\nThe board met.", "feb.md": b"# February\n\nBudget passed.",
                                    "mar.md": b"# March\n\nNew roaster bought."}))
    project = ProjectResource(project_dir=str(paths.root), docs_dir=str(docs), isolate_extraction=False)
    warehouse = WarehouseResource(path=str(paths.warehouse))

    def run(instance) -> list[str]:
        present = sync_partitions(instance, docs, paths)
        for key in present:
            extraction_result([key], extract_documents([key], project, warehouse))
        return present

    with dg.instance_for_test() as instance:
        assert run(instance) == ["minutes.zip/feb.md", "minutes.zip/jan.md", "minutes.zip/mar.md"]
        assert sorted(parsed) == ["feb.md", "jan.md", "mar.md"]
        parsed.clear()
        archive.write_bytes(_zip_bytes({"jan.md": b"# January\n\nThe board met.", "feb.md": b"# February\n\nBudget cut."}))
        assert run(instance) == ["minutes.zip/feb.md", "minutes.zip/jan.md"]
        assert parsed == ["feb.md"]  # jan.md's bytes are unchanged: not parsed again
        assert instance.get_dynamic_partitions("documents") == ["minutes.zip/feb.md", "minutes.zip/jan.md"]
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        rows = dict(con.execute("SELECT path, title FROM documents").fetchall())
    assert rows == {"minutes.zip/feb.md": "February", "minutes.zip/jan.md": "January"}  # mar.md's rows went
