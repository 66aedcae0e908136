"""Issue 16, extraction side: every hostile file is built here, `mbdg extract` reads it next to the
others under a memory cap, and each one ends in a bounded, specific per-file line (or is read
correctly) while the command goes on to the next file."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from format_files import write_docx, write_epub, write_odt

from mbdg_assets.enrich.chunking import chunk_document, count_words
from mbdg_assets.extract.extraction import ExtractionError, extract_document
from mbdg_assets.extract.folder_scan import scan_folder
from mbdg_assets.extract.members import scan_documents
from mbdg_assets.extract.limits import DEFAULT_LIMITS, ExtractionLimits
from mbdg_assets.extract.worker import run_bounded

ROOT = Path(__file__).resolve().parents[2]
GIB = 2**30
ADDRESS_CAP = 6 * GIB  # the whole command's address space: the bugs needed 2-128 GB
RSS_CAP_KB = 1_000_000  # <= 1 GB resident for the command and every worker it ran
_CAPPED = """
import json, resource, subprocess, sys
cap = int(sys.argv[1])
run = subprocess.run(sys.argv[2:], preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (cap, cap)),
                     capture_output=True, text=True, errors="replace")
print(json.dumps({"rc": run.returncode, "stderr": run.stderr[-3000:],
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def mbdg_capped(*args: str) -> dict:
    """`mbdg ARGS` in a child process under RLIMIT_AS; its exit code, stderr tail and the peak
    RSS of it and its workers (getrusage of a fresh parent, so no other test's children count)."""
    cli = [sys.executable, "-c", "import sys; from mbdg_assets.cli.main import main; main(sys.argv[1:])", *args]
    env = os.environ | {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", _CAPPED, str(ADDRESS_CAP), *cli], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _zip_member_of_zeros(archive: zipfile.ZipFile, name: str, size: int, head: bytes = b"", tail: bytes = b"") -> None:
    """A member inflating to ``size`` bytes, written in 1 MiB steps (the test never holds it)."""
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    info._compresslevel = 1  # fast, and still ~1000:1 on a run of one byte
    with archive.open(info, "w", force_zip64=True) as member:
        member.write(head)
        block = b" " * 2**20
        for _ in range(size // len(block)):
            member.write(block)
        member.write(tail)


def _rezip(source: Path, target: Path, extra: dict[str, int] | None = None, replace: dict[str, bytes] | None = None) -> Path:
    """Copy a zip-based document, swapping some members and adding members of ``size`` spaces."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as new:
        for info in old.infolist():
            new.writestr(info.filename, (replace or {}).get(info.filename, old.read(info.filename)))
        for name, size in (extra or {}).items():
            _zip_member_of_zeros(new, name, size)
    return target


def odt_bomb(path: Path, tmp: Path) -> Path:
    """392 KB-ish .odt whose one paragraph is 256 MiB (issue 16, item 1)."""
    plain = write_odt(tmp / "plain.odt")
    with zipfile.ZipFile(plain) as old, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as new:
        for info in old.infolist():
            if info.filename != "content.xml":
                new.writestr(info.filename, old.read(info.filename))
        head = (b'<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
                b'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:text><text:p>')
        _zip_member_of_zeros(new, "content.xml", 256 * 2**20, head, b"</text:p></office:text></office:body></office:document-content>")
    return path


def epub_spine_bomb(path: Path, tmp: Path, repeats: int = 2000) -> Path:
    """A small EPUB whose spine lists one chapter ``repeats`` times, half of them through a second
    manifest id (issue 16, item 3)."""
    plain = write_epub(tmp / "plain.epub")
    opf = ('<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0"><manifest>'
           '<item id="c1" href="ch1.xhtml" media-type="application/xhtml+xml"/>'
           '<item id="alias" href="./ch1.xhtml#top" media-type="application/xhtml+xml"/></manifest><spine>'
           + "".join(f'<itemref idref="{"c1" if i % 2 else "alias"}"/>' for i in range(repeats)) + "</spine></package>")
    return _rezip(plain, path, replace={"OEBPS/content.opf": opf.encode()})


def xlsx_huge_dimension(path: Path) -> Path:
    """A tiny .xlsx declaring A1:XFD1048576 with a cell in the last row (issue 16, item 4)."""
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["Name", "Role"])
    book.active.append(["Ana", "Roaster"])
    book.save(tmp := path.with_suffix(".plain.xlsx"))
    with zipfile.ZipFile(tmp) as old:
        sheet = old.read("xl/worksheets/sheet1.xml").decode()
    sheet = sheet.replace('<dimension ref="A1:B2"/>', '<dimension ref="A1:XFD1048576"/>')
    sheet = sheet.replace("</sheetData>", '<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>Last</t></is></c></row></sheetData>')
    assert "XFD1048576" in sheet and "A1048576" in sheet
    _rezip(tmp, path, replace={"xl/worksheets/sheet1.xml": sheet.encode()})
    tmp.unlink()
    return path


@pytest.fixture
def hostile_docs(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("SECRET TOKEN from outside the docs folder.")
    (docs / "commas_empty.csv").write_text("h1,h2\n" + "," * 2_500_000 + "\n")
    (docs / "commas_full.csv").write_text("h1,h2\n" + "a," * 2_500_000 + "\n")
    (docs / "code.md").write_text("# Code\n\n```\n" + "\n".join(f"x = {i} * {i}  # step" for i in range(50_000)) + "\n```\n")
    odt_bomb(docs / "bomb.odt", tmp_path)
    _rezip(write_docx(tmp_path / "plain.docx"), docs / "bomb.docx", extra={"word/media/blob.bin": GIB})
    _rezip(write_epub(tmp_path / "plain.epub"), docs / "bomb.epub", extra={"OEBPS/big.bin": 256 * 2**20})
    epub_spine_bomb(docs / "spine.epub", tmp_path)
    xlsx_huge_dimension(docs / "dimension.xlsx")
    (docs / os.fsdecode(b"caf\xe9.md")).write_text("# Caf\u00e9\n\nA name that is not UTF-8.\n")
    os.symlink(outside / "secret.txt", docs / "secret.txt")
    os.symlink("/dev/zero", docs / "zero.txt")
    os.mkfifo(docs / "pipe.txt")
    (docs / "zz_last.md").write_text("# Last\n\nRead after all the others.\n")
    return docs


def test_hostile_folder_every_file_bounded_and_the_command_goes_on(hostile_docs: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.jsonl"
    ran = mbdg_capped("extract", str(hostile_docs), "--report", str(report), "--parser", "native")
    assert ran["rc"] == 0, ran["stderr"]
    assert ran["maxrss_kb"] < RSS_CAP_KB, ran
    lines = {Path(line["path"]).name: line for line in map(json.loads, report.read_bytes().decode("utf-8").splitlines())}
    outcome = {name: (line["status"], line["code"]) for name, line in lines.items()}
    assert outcome == {
        "commas_empty.csv": ("ok", None),           # read: the row of empty cells is dropped
        "commas_full.csv": ("error", "too_large"),  # 2.5 M cells render to more text than max_text_chars
        "code.md": ("ok", None),                    # cut between lines, never tokenized whole
        "bomb.odt": ("error", "too_large"),
        "bomb.docx": ("error", "too_large"),
        "bomb.epub": ("error", "too_large"),
        "spine.epub": ("ok", None),
        "dimension.xlsx": ("ok", None),
        "caf\\xe9.md": ("ok", None),
        "secret.txt": ("skipped", "symlink_outside"),
        "zero.txt": ("skipped", "symlink_outside"),
        "pipe.txt": ("skipped", "special_file"),
        "zz_last.md": ("ok", None),
    }
    assert all(line["seconds"] <= 30 for line in lines.values())
    assert lines["spine.epub"]["pages"] == 1 and lines["spine.epub"]["chunks"] == 1  # one chapter, read once
    assert lines["dimension.xlsx"]["chunks"] == 1 and lines["dimension.xlsx"]["characters"] < 200
    assert "max_compression_ratio" in lines["bomb.odt"]["reason"] or "max_decompressed_bytes" in lines["bomb.odt"]["reason"]
    assert "max_text_chars" in lines["commas_full.csv"]["reason"]
    assert "--follow-symlinks" in lines["secret.txt"]["reason"]
    assert "files: 10 (6 ok, 4 failed, 3 skipped)" in ran["stderr"]


def test_code_and_table_pieces_stay_within_max_tokens(tmp_path: Path) -> None:
    (tmp_path / "code.md").write_text("# Code\n\n```\n" + "\n".join(f"x = {i} * {i}  # step" for i in range(5_000)) + "\n```\n")
    doc = extract_document(tmp_path / "code.md")
    chunks = chunk_document(doc, 40, 80, count_tokens=count_words)
    assert len(chunks) > 100 and max(count_words(c.text) for c in chunks) <= 80


def test_follow_symlinks_reads_links_out_of_the_folder_but_never_devices(tmp_path: Path) -> None:
    docs, outside = tmp_path / "docs", tmp_path / "outside"
    docs.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("SECRET TOKEN.")
    (outside / "sub").mkdir()
    (outside / "sub" / "more.md").write_text("# More\n\nText.")
    os.symlink(outside / "secret.txt", docs / "secret.txt")
    os.symlink(outside / "sub", docs / "linked")
    os.symlink(docs, docs / "loop")  # a link back to the folder itself
    os.symlink("/dev/zero", docs / "zero.txt")
    os.symlink(tmp_path / "missing.md", docs / "dangling.md")
    default = scan_folder(docs)
    assert default.documents == {} and scan_documents(docs) == {}
    assert {s.path.as_posix(): s.code for s in default.skipped} == {
        "dangling.md": "broken_symlink", "linked": "symlink_outside", "loop": "symlink_folder",
        "secret.txt": "symlink_outside", "zero.txt": "symlink_outside"}
    followed = scan_folder(docs, follow_symlinks=True)
    assert list(followed.documents) == ["linked/more.md", "secret.txt"]
    assert {s.path.as_posix(): s.code for s in followed.skipped} == {
        "dangling.md": "broken_symlink", "loop": "symlink_folder", "zero.txt": "special_file"}
    report = tmp_path / "r.jsonl"
    ran = mbdg_capped("extract", str(docs), "--follow-symlinks", "--report", str(report))
    statuses = {json.loads(line)["path"].split("/docs/")[1]: json.loads(line)["status"] for line in report.read_text().splitlines()}
    assert statuses["secret.txt"] == "ok" and statuses["linked/more.md"] == "ok" and statuses["zero.txt"] == "skipped"
    assert ran["rc"] == 0


def test_a_fifo_or_device_named_directly_is_an_error_not_a_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.md")
    os.symlink("/dev/zero", tmp_path / "zero.txt")
    started = time.monotonic()
    assert _code(tmp_path / "pipe.md") == ("unreadable", "pipe.md: not a regular file (a FIFO (named pipe))")
    assert _code(tmp_path / "zero.txt") == ("unreadable", "zero.txt: not a regular file (a character device)")
    assert time.monotonic() - started < 5


def test_non_utf8_names_are_escaped_in_the_report_and_left_out_of_the_pipeline(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    name = os.fsdecode(b"r\xe9sum\xe9.md")
    (docs / name).write_text("# R\n\nText.")
    (docs / "fine.md").write_text("# F\n\nText.")
    assert list(scan_folder(docs).documents) == ["fine.md", name]
    assert list(scan_documents(docs)) == ["fine.md"]  # not a valid partition key / warehouse string
    ran = mbdg_capped("extract", str(docs), "--report", str(tmp_path / "r.jsonl"))
    assert ran["rc"] == 0, ran["stderr"]
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_bytes().decode("utf-8").splitlines()]
    assert [(Path(line["path"]).name, line["status"]) for line in lines] == [("fine.md", "ok"), ("r\\xe9sum\\xe9.md", "ok")]
    assert "r\\xe9sum\\xe9.md: ok" in ran["stderr"]


# --------------------------------------------------------------------------- budgets, one by one


def _limits(**values: object) -> ExtractionLimits:
    return DEFAULT_LIMITS.with_values(**values)


def _code(path: Path, **values: object) -> tuple[str, str]:
    with pytest.raises(ExtractionError) as error:
        extract_document(path, limits=_limits(**values))
    return error.value.code, error.value.message


def test_each_budget_has_its_own_code(tmp_path: Path) -> None:
    md = tmp_path / "many.md"
    md.write_text("\n\n".join(f"Paragraph {i} of text." for i in range(50)))
    assert _code(md, max_blocks=10)[0] == "too_many_parts"
    assert _code(md, max_text_chars=100) == ("too_large", "many.md: 120 characters of text is over the limit of 100 (max_text_chars)")
    assert _code(md, max_file_bytes=10)[0] == "too_large"
    assert _code(md, timeout_s=1e-9)[0] == "timeout"
    docx = write_docx(tmp_path / "w.docx")
    assert _code(docx, max_archive_entries=3)[0] == "too_many_parts"
    assert _code(docx, max_decompressed_bytes=1000)[0] == "too_large"
    assert _code(write_epub(tmp_path / "b.epub"), max_pages=1)[0] == "too_many_parts"
    doc = extract_document(md)
    with pytest.raises(ExtractionError) as error:
        chunk_document(doc, 4, 8, count_tokens=count_words, max_chunks=5)
    assert error.value.code == "too_many_parts" and "max_chunks" in error.value.message
    assert len(chunk_document(doc, 4, 8, count_tokens=count_words)) == 50  # the default allows it


def test_limits_are_validated_and_set_from_config_and_cli(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mbdg_assets.cli.main import main
    from resources import ProjectResource

    with pytest.raises(ValueError, match="unknown extraction limit"):
        DEFAULT_LIMITS.with_values(max_bananas=3)
    with pytest.raises(ValueError, match="must be positive"):
        ExtractionLimits(timeout_s=0)
    assert ProjectResource(timeout_s=7, max_pages=9).extraction_limits() == _limits(timeout_s=7, max_pages=9)
    (tmp_path / "a.md").write_text("\n\n".join(f"Paragraph {i}." for i in range(20)))
    runner = CliRunner()
    result = runner.invoke(main, ["extract", str(tmp_path / "a.md"), "--limit", "max_blocks=5"])
    line = json.loads(result.stdout.splitlines()[0])
    assert (line["status"], line["code"]) == ("error", "too_many_parts")
    slow = runner.invoke(main, ["extract", str(tmp_path / "a.md"), str(tmp_path / "a.md"), "--timeout", "0.000001"])
    assert [json.loads(x)["code"] for x in slow.stdout.splitlines()] == ["timeout", "timeout"]  # and it went on
    bad = runner.invoke(main, ["extract", str(tmp_path / "a.md"), "--limit", "max_blocks"])
    assert bad.exit_code == 2 and "NAME=VALUE" in bad.output


# --------------------------------------------------------------------------- the bounded worker


def _sleep(seconds: float) -> str:
    time.sleep(seconds)
    return "woke"


def _allocate(size: int) -> int:
    return len(bytearray(size))


def _abort() -> None:
    import faulthandler

    faulthandler.disable()  # pytest's crash dump would only be noise here
    os.abort()  # what a failed allocation in Rust or C++ does to the process


def _fail() -> None:
    raise ExtractionError("corrupt_file", "x.md: broken")


def test_worker_stops_slow_and_greedy_readers_and_the_caller_goes_on() -> None:
    limits = _limits(timeout_s=1, max_memory_bytes=256 * 2**20)
    started = time.monotonic()
    with pytest.raises(ExtractionError) as error:
        run_bounded(_sleep, (60,), "slow.pdf", limits)
    assert error.value.code == "timeout" and time.monotonic() - started < 10
    with pytest.raises(ExtractionError) as error:
        run_bounded(_allocate, (4 * GIB,), "big.docx", limits)
    assert error.value.code == "too_large" and "max_memory_bytes" in error.value.message
    with pytest.raises(ExtractionError) as error:
        run_bounded(_abort, (), "abort.csv", limits)
    assert error.value.code == "too_large" and "SIGABRT" in error.value.message
    with pytest.raises(ExtractionError) as error:
        run_bounded(_fail, (), "x.md", limits)
    assert (error.value.code, error.value.message) == ("corrupt_file", "x.md: broken")
    assert run_bounded(_sleep, (0,), "fine.md", limits) == "woke"
    assert run_bounded(_allocate, (64 * 2**20,), "fine.md", limits) == 64 * 2**20
    assert resource.getrlimit(resource.RLIMIT_AS)[0] == resource.RLIM_INFINITY  # only the worker was capped


@pytest.mark.slow
def test_tiff_of_blank_frames_is_bounded(tmp_path: Path) -> None:
    from PIL import Image

    frames = [Image.new("L", (2480, 3508), 255) for _ in range(30)]
    path = tmp_path / "blank.tiff"
    frames[0].save(path, "TIFF", save_all=True, append_images=frames[1:], compression="tiff_deflate")
    started = time.monotonic()
    assert _code(path)[0] == "no_text"
    assert time.monotonic() - started < 30  # was over 120 s: every blank A4 frame went through OCR (7-10 s)
    assert _code(path, max_pages=10)[0] == "too_many_parts"


def test_mbdg_run_lists_what_it_skips(tmp_path: Path) -> None:
    from mbdg_assets.cli.run import _echo_skipped

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "fine.md").write_text("# F\n\nText.")
    (docs / os.fsdecode(b"caf\xe9.md")).write_text("# C\n\nText.")
    os.symlink("/etc/hostname", docs / "host.txt")
    os.mkfifo(docs / "pipe.md")
    lines: list[str] = []
    _echo_skipped(docs, False, lines.append)
    assert [line.split(":")[0] for line in lines] == ["skipped host.txt", "skipped pipe.md", "skipped caf\\xe9.md"]
    assert all(line.encode("utf-8") for line in lines)


def test_xlsx_declaring_a_huge_range_is_read_natively_even_when_docling_would_be_chosen(tmp_path: Path) -> None:
    started = time.monotonic()
    doc = extract_document(xlsx_huge_dimension(tmp_path / "d.xlsx"), parser="auto")  # docling pads to the range
    assert "| Ana | Roaster |" in doc.text and "Last" in doc.text and len(doc.text) < 200
    assert time.monotonic() - started < 10


def test_pipeline_reads_only_regular_files_inside_and_records_a_budget_error(tmp_path: Path) -> None:
    import dagster as dg
    import duckdb

    from mbdg_assets.cli.run import sync_partitions
    from mbdg_assets.defs.extract import extract_documents, extraction_result
    from mbdg_assets.storage.project import ProjectPaths
    from resources import ProjectResource, WarehouseResource

    docs, project = tmp_path / "docs", tmp_path / "project"
    docs.mkdir()
    write_epub(docs / "book.epub")  # two chapters: over max_pages=1 below
    (docs / "fine.md").write_text("# Fine\n\nRead in a worker process.")
    (tmp_path / "secret.md").write_text("# Secret\n\nSECRET TOKEN.")
    os.symlink(tmp_path / "secret.md", docs / "secret.md")
    os.mkfifo(docs / "pipe.md")
    paths = ProjectPaths(project)
    resource_ = ProjectResource(project_dir=str(project), docs_dir=str(docs), max_pages=1)
    warehouse = WarehouseResource(path=str(paths.warehouse))
    with dg.instance_for_test() as instance:
        assert sync_partitions(instance, docs, paths) == ["book.epub", "fine.md"]
        extraction_result(["fine.md"], extract_documents(["fine.md"], resource_, warehouse))
        with pytest.raises(dg.Failure) as failure:
            extraction_result(["book.epub"], extract_documents(["book.epub"], resource_, warehouse))
    assert failure.value.metadata["error_code"].value == "too_many_parts"
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        assert con.execute("SELECT path, code FROM extraction_errors").fetchall() == [("book.epub", "too_many_parts")]
        assert [row[0] for row in con.execute("SELECT path FROM documents").fetchall()] == ["fine.md"]


def test_a_worker_forked_beside_an_open_lancedb_prints_no_fork_warning(tmp_path) -> None:
    """The prepare lane has LanceDB loaded when it forks readers; LanceDB's fork warning (twice per
    file, on the user's console) is silenced in extract/worker.py, where it says why that is safe.
    Run in a fresh process: inside the test process the warning did not appear even unsilenced."""
    script = ("import os, sys, lancedb\n"
              f"lancedb.connect({str(tmp_path / 'vectors')!r}).create_table('chunks', data=[{{'vector': [0.1, 0.2]}}])\n"
              "from mbdg_assets.extract.worker import run_bounded\n"
              "assert run_bounded(os.getpid, (), 'fine.md') != os.getpid()\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert "fork support is experimental" not in done.stderr


def test_a_clean_worker_comes_from_the_forkserver_and_is_bounded_the_same() -> None:
    """A file whose reader needs nothing this process prepared is read in a worker forked from the
    small forkserver (cheaper than forking a large prepare lane); its time and memory bounds hold."""
    limits = _limits(timeout_s=1, max_memory_bytes=256 * 2**20)
    assert run_bounded(os.getppid, (), "x.md", limits, clean=True) != os.getpid()  # forked by the forkserver
    assert run_bounded(os.getppid, (), "x.md", limits) == os.getpid()  # forked from here
    with pytest.raises(ExtractionError) as error:
        run_bounded(_sleep, (60,), "slow.md", limits, clean=True)
    assert error.value.code == "timeout"
    with pytest.raises(ExtractionError) as error:
        run_bounded(_allocate, (4 * GIB,), "big.md", limits, clean=True)
    assert error.value.code == "too_large"
    with pytest.raises(ExtractionError) as error:
        run_bounded(_abort, (), "abort.csv", limits, clean=True)
    assert error.value.code == "too_large" and "SIGABRT" in error.value.message
    assert run_bounded(_allocate, (64 * 2**20,), "fine.md", limits, clean=True) == 64 * 2**20


def test_clean_workers_of_a_module_run_with_dash_m_print_nothing(tmp_path) -> None:
    """`python -m mbdg_assets.cli.main` (and the prepare lane) have a module as main: each forkserver
    worker runs it again, which runpy warned about once per file read."""
    (tmp_path / "runner_pkg").mkdir()
    (tmp_path / "runner_pkg" / "__init__.py").write_text("")
    (tmp_path / "runner_pkg" / "runner.py").write_text(
        "import os\nfrom mbdg_assets.extract.worker import clean_context, run_bounded\n"
        "if __name__ == '__main__':\n    clean_context()\n"
        "    assert all(run_bounded(os.getppid, (), 'x.md', clean=True) != os.getpid() for _ in range(3))\n")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "runner_pkg.runner"], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env=os.environ | {"PYTHONPATH": f"{root}{os.pathsep}{tmp_path}"})
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_a_clean_worker_runs_at_the_priority_of_the_process_that_asked(tmp_path) -> None:
    """The prepare lane lowers its priority after its first slice, so that the generate lane keeps
    the server fed; its readers must not run above it because the forkserver started earlier."""
    script = ("import os\nfrom mbdg_assets.extract.worker import clean_context, run_bounded\n"
              "clean_context()\nos.nice(5)\n"
              "print(run_bounded(os.getpriority, (os.PRIO_PROCESS, 0), 'x.md', clean=True), os.getpriority(os.PRIO_PROCESS, 0))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    worker, asking = map(int, done.stdout.split())
    assert worker == asking >= 5
