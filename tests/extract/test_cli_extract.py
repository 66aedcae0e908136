"""`mbdg extract`: one JSON line per file, ok or error, never stopping at a bad file."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from mbdg_assets.cli.main import main

KEYS = {"path", "format", "status", "code", "reason", "parser", "pages", "chunks", "characters", "seconds"}


def test_extract_reports_every_file_and_goes_on_after_bad_ones(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.md").write_text("# A\n\nAlpha text.\n")
    (docs / "sub" / "b.csv").write_text("x,y\n1,2\n")
    (docs / "broken.pptx").write_bytes(b"PK\x03\x04 cut")
    (docs / "empty.txt").write_bytes(b"")
    (docs / "odd.xyz").write_text("?")
    (docs / ".hidden.md").write_text("# skipped")
    single = tmp_path / "single.json"
    single.write_text('{"k": "v"}')
    report = tmp_path / "report.jsonl"
    result = CliRunner().invoke(main, ["extract", str(docs), str(single), "--report", str(report)])
    assert result.exit_code == 0, result.output
    lines = {Path(line["path"]).name: line for line in map(json.loads, report.read_text().splitlines())}
    assert set(lines) == {"a.md", "b.csv", "broken.pptx", "empty.txt", "odd.xyz", "single.json"}
    assert all(set(line) == KEYS for line in lines.values())
    assert lines["a.md"] | {"seconds": 0} == {"path": str(docs / "a.md"), "format": "markdown", "status": "ok", "code": None,
                                              "reason": None, "parser": "native", "pages": None, "chunks": 1, "characters": 16,
                                              "seconds": 0}
    assert lines["b.csv"]["format"] == "csv" and lines["single.json"]["status"] == "ok"
    assert {n: lines[n]["code"] for n in ("broken.pptx", "empty.txt", "odd.xyz")} == {
        "broken.pptx": "truncated", "empty.txt": "empty_file", "odd.xyz": "unsupported_format"}
    assert lines["broken.pptx"]["format"] == "pptx" and "broken.pptx" in lines["broken.pptx"]["reason"]
    assert "files: 6 (3 ok, 3 failed)" in result.output


def test_extract_to_stdout_and_strict_exit(tmp_path: Path) -> None:
    (tmp_path / "ok.txt").write_text("Hello there.")
    (tmp_path / "bad.pdf").write_text("not a pdf")
    runner = CliRunner()
    result = runner.invoke(main, ["extract", str(tmp_path / "ok.txt"), str(tmp_path / "bad.pdf")])
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [line["status"] for line in lines] == ["ok", "error"] and lines[1]["code"] == "wrong_extension"
    strict = runner.invoke(main, ["extract", "--strict", str(tmp_path / "ok.txt"), str(tmp_path / "bad.pdf")])
    assert strict.exit_code == 1
    assert runner.invoke(main, ["extract", str(tmp_path / "bad.pdf")]).exit_code == 1
