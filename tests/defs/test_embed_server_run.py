"""A whole `mbdg run` with its vectors from an embedding server (fake LLM and fake /api/embed):
every LanceDB table has the server's dimension, the manifest and project.json name the embedder,
and choosing another embedding model re-embeds every document into re-created tables."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import lancedb
from click.testing import CliRunner

from fake_llm_servers import OLLAMA_EMBED_PATH, instruction_pair_responder, running_fake_llm_server
from mbdg_assets.cli.main import main
from mbdg_assets.storage.vectors import CHUNKS_TABLE, table_space
from mbdg_assets.validate.accepted_records import ACCEPTED_TABLE

DOCS = {
    "roasting.md": "# Roasting\n\nGreen coffee beans are roasted at about 200 degrees Celsius for twelve minutes. "
                   "The first crack happens near 196 degrees Celsius and marks a light roast. "
                   "Dark roasts continue until the second crack begins near 224 degrees.\n",
    "brewing.md": "# Brewing\n\nA pour-over uses 60 grams of coffee per litre of water at 94 degrees Celsius. "
                  "The bloom lasts thirty seconds before the rest of the water is poured in slow circles. "
                  "Total brewing time should stay between three and four minutes.\n",
}


def _run(tmp_path: Path, server, *embed: str):
    args = ["run", str(tmp_path / "docs"), "--out", str(tmp_path / "out"), "--project", str(tmp_path / "project"),
            "--backend", "openai", "--model", "fake", "--host", server.openai_base_url, "--k", "1",
            "--max-targets", "2", "--kinds", "base", "--concurrency", "4", *embed]
    return CliRunner().invoke(main, args, catch_exceptions=False)


def _spaces(lance: Path) -> dict[str, tuple[str, int]]:
    db = lancedb.connect(str(lance))
    return {name: table_space(db.open_table(name).schema) for name in db.list_tables().tables}


def _text_vector_sizes(tmp_path: Path) -> set[int]:
    with duckdb.connect(str(tmp_path / "project" / "warehouse.duckdb"), read_only=True) as con:
        return {n for (n,) in con.execute("SELECT DISTINCT len(vector) FROM text_vectors").fetchall()}


def test_run_with_server_embeddings_then_another_embedding_model(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    for name, text in DOCS.items():
        (tmp_path / "docs" / name).write_text(text)
    with running_fake_llm_server() as server:
        server.responder = instruction_pair_responder()
        server.models = [{"model": "fake-embed:latest", "digest": "sha256:feed"}]
        result = _run(tmp_path, server, "--embed-backend", "ollama", "--embed-model", "fake-embed",
                      "--embed-host", server.url, "--embed-batch-size", "2")
        assert result.exit_code == 0, result.output
        identity = "ollama:fake-embed@sha256:feed;dim=48"
        spaces = _spaces(tmp_path / "project" / "lancedb")
        assert spaces[CHUNKS_TABLE] == (identity, 48) and _text_vector_sizes(tmp_path) == {48}
        assert spaces.get(ACCEPTED_TABLE, (identity, 48)) == (identity, 48)
        embed_requests = [r for r in server.requests if r.path == OLLAMA_EMBED_PATH]
        assert embed_requests and all(len(r.body["input"]) <= 2 for r in embed_requests)
        manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
        embedding = manifest["parameters"]["embedding"]
        assert (embedding["backend"], embedding["model"], embedding["dimension"]) == ("ollama", "fake-embed", 48)
        assert manifest["project"]["embed"]["embed_backend"] == "ollama"

        server.embed_dimension = 24  # another model, another dimension: a rerun naming it re-embeds everything
        before = len(server.requests)
        result = _run(tmp_path, server, "--embed-backend", "openai", "--embed-model", "small-embed",
                      "--embed-host", server.url)
        assert result.exit_code == 0, result.output
        assert "project configuration changed" in result.output
        spaces = _spaces(tmp_path / "project" / "lancedb")
        assert spaces[CHUNKS_TABLE] == ("openai:small-embed;dim=24", 24)
        assert _text_vector_sizes(tmp_path) == {24}  # the other model's validation vectors left the warehouse
        db = lancedb.connect(str(tmp_path / "project" / "lancedb"))
        assert db.open_table(CHUNKS_TABLE).count_rows() > 0
        assert not [r for r in server.requests[before:] if r.path == OLLAMA_EMBED_PATH]
        assert json.loads((tmp_path / "out" / "manifest.json").read_text())["parameters"]["embedding"]["dimension"] == 24


def test_a_dead_embedding_server_fails_the_run_naming_its_url(tmp_path: Path) -> None:
    from fake_llm_servers import closed_port_url

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "roasting.md").write_text(DOCS["roasting.md"])
    dead = closed_port_url()
    with running_fake_llm_server() as server:
        server.responder = instruction_pair_responder()
        result = CliRunner().invoke(main, [
            "run", str(tmp_path / "docs"), "--out", str(tmp_path / "out"), "--project", str(tmp_path / "project"),
            "--backend", "openai", "--model", "fake", "--host", server.openai_base_url, "--kinds", "base",
            "--embed-backend", "openai", "--embed-model", "e", "--embed-host", dead])
    assert result.exit_code != 0
    assert f"{dead}/v1/embeddings" in result.output and "unreachable" in result.output
