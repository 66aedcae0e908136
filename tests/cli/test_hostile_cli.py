"""Issue 16, items 6-8: `mbdg validate`, `mbdg verify` and `mbdg review` against hostile input.
Every hostile file or request is built here; where memory is the point the work runs in a
subprocess under a memory cap (or its peak RSS is read), and every case is bounded in time."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hostile_inputs import review_server_growth, verify_big_file

from mbdg_assets.cli.main import main
from mbdg_assets.manifest.signed_manifest import MANIFEST_NAME, describe_files, verify_out_dir, write_signed_manifest
from mbdg_assets.manifest.signing import SigningKey, sign
from mbdg_assets.validate.decisions import AUTO_APPROVE, AUTO_REJECT

ROOT = Path(__file__).resolve().parents[2]
KEY_TEXT = "hostile-tests-signing-key"
POLICY = ("# Policy\n\n## Response times\n\nThe on-call engineer acknowledges a severity 1 page within 5 minutes. "
          "An incident channel is opened within 15 minutes.\n")
GOOD = {"instruction": "How fast is a severity 1 page acknowledged?", "input": "",
        "output": "The on-call engineer acknowledges a severity 1 page within 5 minutes."}


def _strict_json(text: str):
    """json.loads that refuses NaN/Infinity, as any other JSON reader would."""
    def refuse(name):
        raise ValueError(f"{name} in the report")
    return json.loads(text, parse_constant=refuse)


def _run(args: list[str], timeout: float = 120, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    """A child Python in the worktree, bounded in time (a hang fails the test instead of blocking it)."""
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}, **kwargs)


# --- mbdg validate ------------------------------------------------------------------------------

HOSTILE_LINES = [  # (raw line, expected error fragment or None when the line is validated)
    (json.dumps(GOOD | {"id": "good"}).encode(), None),
    (b"", "blank line"),
    (b"   \t", "blank line"),
    (b'{"id": "bad\xff\xfe", "instruction": "x"}', "not valid UTF-8"),
    (json.dumps(GOOD | {"id": "score-word", "score": "high"}).encode(), None),
    (json.dumps(GOOD | {"id": "score-object", "score": {"value": 0.9, "by": "judge"}}).encode(), None),
    (b'{"id": NaN, "instruction": "x"}', "NaN"),
    (b'{"id": "inf", "reward": -Infinity}', "Infinity"),
    (b"[1, 2]", "not a JSON object"),
    (b'"just a string"', "not a JSON object"),
    (b"[" * 100_000, "not valid JSON"),
    (b'{"a":' * 200 + b"1" + b"}" * 200, "nested more than"),
    (b'{"id": 1, "x": 1', "not valid JSON"),
    (b"\x00\x01garbage", "not valid JSON"),
    (b'{"id": "9' + b"9" * 5000 + b'"}', None),
    (b'{"id": 1' + b"0" * 5000 + b"}", "not valid JSON"),
    (b'{"id": "lone \\ud800 surrogate", "instruction": "How fast is it?", "input": "", "output": "Within 5 minutes."}', None),
    (json.dumps({"id": "huge-reward", **GOOD, "reward": 10 ** 400}).encode(), None),
]


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "policy.md").write_text(POLICY, encoding="utf-8")
    return folder


def test_validate_gives_every_input_line_a_valid_json_report_line(tmp_path: Path, docs: Path):
    records, report = tmp_path / "records.jsonl", tmp_path / "report.jsonl"
    records.write_bytes(b"\n".join(raw for raw, _ in HOSTILE_LINES) + b"\r\n")
    started = time.monotonic()
    result = CliRunner().invoke(main, ["validate", str(records), "--sources", str(docs), "--out", str(report), "--no-embed"])
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 60
    lines = report.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(HOSTILE_LINES)
    parsed = [_strict_json(line) for line in lines]
    assert [p["line"] for p in parsed] == list(range(1, len(HOSTILE_LINES) + 1))
    for (raw, expected), line in zip(HOSTILE_LINES, parsed):
        if expected is None:
            assert line["error"] is None and line["record_id"], (raw[:40], line)
        else:
            assert line["decision"] == AUTO_REJECT and expected in line["error"], (raw[:40], line)
            assert line["reasons"] == [f"input: {line['error']}"]
    by_id = {p["id"]: p for p in parsed if isinstance(p["id"], str)}
    assert by_id["good"]["decision"] == AUTO_APPROVE
    # another tool's "score" is not mbdg's prior: ignored with a warning, the record is still judged
    assert any("'score' is not a number (\"high\")" in w for w in by_id["score-word"]["warnings"])
    assert any("'score' is not a number" in w for w in by_id["score-object"]["warnings"])
    assert by_id["score-word"]["stage_scores"]["grounding"] == by_id["good"]["stage_scores"]["grounding"]
    assert "\\ud800" in next(p["id"] for p in parsed if isinstance(p["id"], str) and "lone" in p["id"])
    assert "lines: 18 (" in result.stderr


def test_validate_with_only_bad_lines_writes_the_report_and_exits_1(tmp_path: Path, docs: Path):
    records, report = tmp_path / "records.jsonl", tmp_path / "report.jsonl"
    records.write_bytes(b"\n\n\xff\xff\n[]\n")
    result = CliRunner().invoke(main, ["validate", str(records), "--sources", str(docs), "--out", str(report), "--no-embed"])
    assert result.exit_code == 1 and "no readable records" in result.stderr and isinstance(result.exception, SystemExit)
    assert [_strict_json(line)["error"][:10] for line in report.read_text().splitlines()] == \
        ["blank line", "blank line", "not valid ", "not a JSON"]


def test_validate_report_stays_valid_utf8_json_with_a_source_name_that_is_not_utf8(tmp_path: Path, docs: Path):
    os.rename(docs / "policy.md", os.path.join(os.fsencode(docs), b"pol\xffcy.md"))
    records, report = tmp_path / "records.jsonl", tmp_path / "report.jsonl"
    records.write_text(json.dumps(GOOD | {"id": "good"}) + "\n")
    result = CliRunner().invoke(main, ["validate", str(records), "--sources", str(docs), "--out", str(report), "--no-embed"])
    assert result.exit_code == 0, result.output
    [line] = [_strict_json(x) for x in report.read_bytes().decode("utf-8").splitlines()]
    assert line["error"] is None and "\\xff" in json.dumps(line)


def test_validate_names_an_unreadable_eval_set_line_in_one_line(tmp_path: Path, docs: Path):
    records, evals = tmp_path / "records.jsonl", tmp_path / "eval.jsonl"
    records.write_text(json.dumps(GOOD) + "\n")
    evals.write_bytes(b'{"q": "fine"}\n{"q": NaN\n')
    result = CliRunner().invoke(main, ["validate", str(records), "--sources", str(docs), "--out", str(tmp_path / "r.jsonl"),
                                       "--no-embed", "--eval-set", str(evals)])
    assert result.exit_code == 1 and f"{evals}:2: not valid JSON" in result.stderr
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1


# --- mbdg verify --------------------------------------------------------------------------------

@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> SigningKey:
    monkeypatch.setenv("MBDG_SIGNING_KEY", KEY_TEXT)
    return SigningKey(KEY_TEXT.encode(), "env:MBDG_SIGNING_KEY")


@pytest.fixture
def export(tmp_path: Path, key: SigningKey) -> Path:
    out = tmp_path / "export" / "out"
    out.mkdir(parents=True)
    (out / "dataset.jsonl").write_text("".join(json.dumps({"record_id": f"r{i}", "instruction": "q"}) + "\n" for i in range(3)))
    write_signed_manifest(out, {"files": describe_files(out, ["dataset.jsonl"])}, key)
    return out


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_manifest(out: Path, files: dict, key: SigningKey | None, **extra) -> None:
    """A manifest listing `files`: signed with `key`, or with a made-up signature when None."""
    body = {"manifest_version": 1, "files": files, **extra}
    value = sign(body, key) if key else "0" * 64
    key_id = key.key_id if key else SigningKey(KEY_TEXT.encode(), "x").key_id
    (out / MANIFEST_NAME).write_text(json.dumps(body | {"signature": {"algorithm": "HMAC-SHA256", "key_id": key_id, "value": value}}))


VERIFY_CHILD = """
import json, os, sys
from mbdg_assets.manifest.signed_manifest import verify_out_dir
from mbdg_assets.manifest.signing import SigningKey
print(json.dumps(verify_out_dir(sys.argv[1], SigningKey(os.environ["MBDG_SIGNING_KEY"].encode(), "env"))))
"""


def _verify_in_child(out: Path) -> list[str]:
    """verify_out_dir in a child process, so a verify that blocks on a FIFO or reads a device
    forever fails the test by its timeout instead of hanging it."""
    done = _run(["-c", VERIFY_CHILD, str(out)], timeout=60, env={"MBDG_SIGNING_KEY": KEY_TEXT})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_an_unsigned_manifest_opens_nothing_it_lists(export: Path, key: SigningKey, tmp_path: Path):
    outside = tmp_path / "export" / "secret.txt"
    outside.write_text("outside the export\n")
    fifo = export / "pipe.jsonl"
    os.mkfifo(fifo)
    answers = []
    for listed in ("../secret.txt", "../missing.txt", str(outside), "/dev/zero", "pipe.jsonl"):
        _write_manifest(export, {listed: {"sha256": _sha(b"outside the export\n")}}, None)
        answers.append(_verify_in_child(export))
    # the same answer whether the listed file exists, is a device or a FIFO: no oracle, no hang
    assert all(a == ["signature does not match the manifest's content: manifest.json was edited or forged"] for a in answers)


def test_a_signed_manifest_cannot_reach_outside_the_export(export: Path, key: SigningKey, tmp_path: Path):
    data = b"outside the export\n"
    outside = tmp_path / "export" / "secret.txt"
    outside.write_bytes(data)
    (export / "sub").mkdir()
    (export / "link.txt").symlink_to(outside)
    (export / "sub" / "up.txt").symlink_to("../../secret.txt")
    listed = {"../secret.txt": {"sha256": _sha(data)}, str(outside): {"sha256": _sha(data)},
              "sub/../../secret.txt": {"sha256": _sha(data)}, "link.txt": {"sha256": _sha(data)},
              "sub/up.txt": {"sha256": _sha(data)}, "./dataset.jsonl": {"sha256": _sha(data)}}
    _write_manifest(export, listed, key)
    problems = verify_out_dir(export, key)
    refused = {p.split(": ", 1)[0]: p.split(": ", 1)[1] for p in problems if "refused" in p}
    assert set(refused) == set(listed), problems
    assert "resolves outside" in refused["link.txt"] and "resolves outside" in refused["sub/up.txt"]
    assert "not a plain relative name" in refused["../secret.txt"] and "not a plain relative name" in refused[str(outside)]
    result = CliRunner().invoke(main, ["verify", str(export)])
    assert result.exit_code == 1 and "OK" not in result.output


@pytest.mark.parametrize("kind", ["fifo", "device-link", "device"])
def test_a_listed_file_replaced_by_a_fifo_or_device_is_refused_without_hanging(export: Path, key: SigningKey, kind: str):
    target = export / "dataset.jsonl"
    target.unlink()
    if kind == "fifo":
        os.mkfifo(target)
    else:
        target.symlink_to("/dev/zero")
    if kind == "device":  # a key holder listing a device directly
        _write_manifest(export, {"../../../../../../dev/zero": {"sha256": "0" * 64}, "dataset.jsonl": {"sha256": "0" * 64}}, key)
    # in a child process: if verify blocked on the FIFO or read /dev/zero forever, the timeout would fail the test
    done = _run(["-c", "import sys; from mbdg_assets.cli.main import main; sys.argv[0] = 'mbdg'; main()", "verify", str(export)],
                timeout=60, env={"MBDG_SIGNING_KEY": KEY_TEXT})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert re.search(r"dataset\.jsonl: (refused: (not a regular file|resolves outside))", done.stderr), done.stderr


MALFORMED = {
    "files-as-list": lambda key: _signed_text({"files": ["dataset.jsonl"]}, key),
    "nan": lambda key: '{"files": {}, "created_at": NaN, "signature": {"key_id": "k", "value": "00"}}',
    "non-ascii-signature": lambda key: json.dumps({"files": {}, "signature": {"key_id": key.key_id, "value": "é" * 64}}),
    "signature-value-int": lambda key: json.dumps({"files": {}, "signature": {"key_id": key.key_id, "value": 7}}),
    "key-id-list": lambda key: json.dumps({"files": {}, "signature": {"key_id": [1], "value": "0" * 64}}),
    "signature-string": lambda key: json.dumps({"files": {}, "signature": "abc"}),
    "top-level-list": lambda key: "[1, 2, 3]",
    "deep": lambda key: "[" * 200_000 + "]" * 200_000,
    "not-utf8": lambda key: b'{"files": {}, "x": "\xff"}',
    "lone-surrogate": lambda key: json.dumps({"files": {}, "x": "\ud800", "signature": {"key_id": key.key_id, "value": "0" * 64}}),
    "entry-not-object": lambda key: _signed_text({"files": {"dataset.jsonl": "abc"}}, key),
    "sha-not-hex": lambda key: _signed_text({"files": {"dataset.jsonl": {"sha256": 12}}}, key),
    "records-string": lambda key: _signed_text({"files": {"dataset.jsonl": {"sha256": "0" * 64, "records": "3"}}}, key),
    "ids-dict": lambda key: _signed_text({"files": {"dataset.jsonl": {"sha256": "0" * 64, "record_ids": {"a": 1}}}}, key),
    "oversized": lambda key: json.dumps({"files": {}, "pad": "x" * (2 << 20)}),
}


def _signed_text(body: dict, key: SigningKey) -> str:
    body = {"manifest_version": 1, **body}
    return json.dumps(body | {"signature": {"algorithm": "HMAC-SHA256", "key_id": key.key_id, "value": sign(body, key)}})


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_manifest_is_a_one_line_error(export: Path, key: SigningKey, case: str):
    text = MALFORMED[case](key)
    (export / MANIFEST_NAME).write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    result = CliRunner().invoke(main, ["verify", str(export), "--max-manifest-mb", "1"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), (case, result.output)
    assert len(result.stderr.strip().splitlines()) == 1 and "verification failed" in result.stderr, (case, result.stderr)
    assert "Traceback" not in result.output


def test_a_manifest_that_is_a_fifo_or_a_link_out_is_refused(export: Path, key: SigningKey, tmp_path: Path):
    outside = tmp_path / "elsewhere.json"
    outside.write_text((export / MANIFEST_NAME).read_text())
    (export / MANIFEST_NAME).unlink()
    (export / MANIFEST_NAME).symlink_to(outside)
    assert "resolves outside" in verify_out_dir(export, key)[0]
    (export / MANIFEST_NAME).unlink()
    os.mkfifo(export / MANIFEST_NAME)
    assert "not a regular file" in _verify_in_child(export)[0]


def test_a_changed_1gib_file_verifies_in_bounded_memory(tmp_path: Path):
    facts = verify_big_file(ROOT, tmp_path / "out", cap_mb=400, timeout=240)  # time: see bench/bench_hostile_cli.py
    [problem] = facts["problems"]
    assert problem.startswith("dataset.jsonl: content changed") and "(1001 records, manifest lists 1000)" in problem
    assert "removed record(s): r0" in problem and "added record(s): forged" in problem
    assert facts["peak_rss_mb"] < 300, facts


# --- mbdg review --------------------------------------------------------------------------------

@pytest.fixture
def review_app(tmp_path: Path):
    from review_fixtures import build_review_warehouse

    from mbdg_assets.review.app import ReviewSettings, create_app

    return create_app(ReviewSettings(build_review_warehouse(tmp_path / "warehouse.duckdb"), "ann"))


async def _call(app, method: str, headers: list[tuple[bytes, bytes]], chunks) -> tuple[int, dict, int]:
    """One request straight through ASGI: status, headers, and how many body bytes the app pulled."""
    pulled, sent = 0, {}
    body = iter(chunks)

    async def receive():
        nonlocal pulled
        chunk = next(body, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message):
        if message["type"] == "http.response.start":
            sent["status"] = message["status"]
            sent["headers"] = {k.decode().lower(): v.decode() for k, v in message["headers"]}

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": "/undo", "raw_path": b"/undo", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1:8765"), *headers], "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8765)}
    await app(scope, receive, send)
    return sent["status"], sent["headers"], pulled


def _megabytes(count: int):
    return (b"x" * (1 << 20) for _ in range(count))


def test_an_oversized_post_is_refused_before_its_body_is_read(review_app):
    import anyio

    declared = [(b"content-length", str(400 << 20).encode()), (b"content-type", b"application/x-www-form-urlencoded")]
    status, headers, pulled = anyio.run(_call, review_app, "POST", declared, _megabytes(64))
    assert status == 413 and pulled == 0 and "content-security-policy" in headers
    chunked = [(b"transfer-encoding", b"chunked"), (b"content-type", b"application/x-www-form-urlencoded")]
    status, headers, pulled = anyio.run(_call, review_app, "POST", chunked, _megabytes(64))
    assert status == 413 and pulled <= 2 << 20 and "content-security-policy" in headers
    status, _, _ = anyio.run(_call, review_app, "POST", [(b"content-length", b"12abc")], [])
    assert status == 400


def test_a_400mb_post_does_not_grow_the_servers_memory(tmp_path: Path):
    grown, answers = review_server_growth(ROOT, tmp_path, megabytes=400)
    assert grown < 50, f"peak RSS grew by {grown:.0f} MB"
    assert all(a.startswith(b"HTTP/1.1 413") for a in answers), answers


@pytest.fixture
def client(review_app):
    from starlette.testclient import TestClient

    return TestClient(review_app, base_url="http://127.0.0.1:8765", follow_redirects=False)


def test_odd_bytes_in_csrf_value_or_cookies_are_refused_with_the_security_headers(client, tmp_path: Path):
    client.get("/")  # a session cookie
    for form in ({"csrf": "é" * 64, "record_id": "rev-near"}, {"csrf": "\udcff", "record_id": "x"}):
        response = client.post("/undo", content=("&".join(f"{k}={v}" for k, v in form.items())).encode("utf-8", "surrogateescape"),
                               headers={"content-type": "application/x-www-form-urlencoded"})
        assert response.status_code == 403 and "content-security-policy" in response.headers
    for cookie in (b"mbdg_review_session=\xc3\xa9\xc3\xa9\xc3\xa9; x=1", b"mbdg_review_session=" + b"\xff" * 40, b"\x80=\x81"):
        fresh = type(client)(client.app, base_url="http://127.0.0.1:8765", follow_redirects=False)
        response = fresh.get("/", headers=[(b"cookie", cookie)])
        assert response.status_code == 200 and "content-security-policy" in response.headers
        assert SESSION_FORMAT_OK.fullmatch(response.cookies["mbdg_review_session"])  # a fresh session replaced it


SESSION_FORMAT_OK = re.compile(r"[A-Za-z0-9_-]{20,100}")


def test_a_non_ascii_access_cookie_or_bearer_is_a_401_not_a_500(tmp_path: Path):
    from review_fixtures import build_review_warehouse
    from starlette.testclient import TestClient

    from mbdg_assets.review.app import ReviewSettings, create_app

    token = secrets.token_urlsafe(24)
    app = create_app(ReviewSettings(build_review_warehouse(tmp_path / "wh.duckdb"), "ann", access_token=token, loopback_only=False))
    client = TestClient(app, base_url="http://review.example:8765", follow_redirects=False)
    for headers in ([(b"cookie", b"mbdg_review_access=\xc3\xa9" * 8)], [(b"authorization", b"Bearer \xc3\xa9\xff")],
                    [(b"cookie", b"mbdg_review_access=" + b"\xff" * 64)]):
        response = client.get("/", headers=headers)
        assert response.status_code == 401 and "content-security-policy" in response.headers
    assert client.get(f"/?token={token}").status_code == 303


@pytest.mark.parametrize("token", [" " * 16, "a" * 16, "Z" * 40, "abcdefghijklmnop", "0123456789abcdef", "passwordpassword",
                                   "abababababababababab", "1234567890123456", "short-Token-1", "tab\there-is-a-long-token"])
def test_a_low_entropy_token_is_refused(tmp_path: Path, token: str):
    from mbdg_assets.review.security import Guard

    project = tmp_path / "project"
    project.mkdir()
    (project / "warehouse.duckdb").write_bytes(b"")
    result = CliRunner().invoke(main, ["review", "--project", str(project), "--host", "0.0.0.0", "--token", token],
                                env={"MBDG_REVIEW_DRY_RUN": "1"})
    assert result.exit_code == 1 and "--token refused: the access token" in result.stderr, result.output
    assert "secrets.token_urlsafe" in result.stderr
    with pytest.raises(ValueError, match="access token"):
        Guard(access_token=token)


def test_a_random_token_is_accepted(tmp_path: Path):
    from mbdg_assets.review.security import token_weakness

    assert all(token_weakness(secrets.token_urlsafe(24)) is None for _ in range(200))
    assert all(token_weakness(secrets.token_hex(16)) is None for _ in range(200))
