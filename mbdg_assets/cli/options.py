"""Options shared by several `mbdg` commands, in a module of their own so that every command
module can import them (cli.py imports the command modules, so they cannot import cli.py)."""

from __future__ import annotations

from collections.abc import Callable

import click

from mbdg_assets.enrich.embeddings import EMBED_BACKENDS
from mbdg_assets.llm.backends import BACKENDS

PROJECT_OPTION = click.option("--project", "project_dir", default=None, help="State folder (default: $MBDG_PROJECT_DIR or ./.mbdg).")


def llm_options(command: Callable) -> Callable:
    """--backend, --model, --host (repeatable): which model a command talks to (resources.LLMResource's fields)."""
    for option in reversed((
        click.option("--backend", default="embedded", show_default=True, type=click.Choice(list(BACKENDS))),
        click.option("--model", default="", help="Model name (default: the backend's default)."),
        click.option("--host", "hosts", multiple=True, metavar="URL",
                     help="Server URL for ollama/openai (default: OLLAMA_HOST / backend default). Repeat it for "
                          "replicas of one model: each request goes to the one with the fewest in flight."),
    )):
        command = option(command)
    return command


def embed_options(command: Callable) -> Callable:
    """--embed-backend, --embed-model, --embed-host (repeatable), --embed-batch-size: the one
    embedding model a command's vectors come from (resources.VectorStoreResource's fields)."""
    for option in reversed((
        click.option("--embed-backend", default="local", show_default=True, type=click.Choice(list(EMBED_BACKENDS)),
                     help="local: the bundled all-MiniLM-L6-v2 on this machine; ollama: /api/embed; openai: an "
                          "OpenAI-compatible /v1/embeddings (vLLM, TEI, llama.cpp)."),
        click.option("--embed-model", default="", help="Embedding model name (default: all-MiniLM-L6-v2 locally, "
                                                       "nomic-embed-text on ollama; openai needs one)."),
        click.option("--embed-host", "embed_hosts", multiple=True, metavar="URL",
                     help="Embedding server URL (default: OLLAMA_HOST / OPENAI_BASE_URL / the backend's default); "
                          "repeat it for replicas of one model."),
        click.option("--embed-batch-size", default=0, type=click.IntRange(0, 4096),
                     help="Texts per embedding request (default: 64 for a server, 32 locally)."),
        click.option("--embed-api-key-env", default="", metavar="NAME",
                     help="Environment variable holding the embedding server's API key (the key is never stored)."),
    )):
        command = option(command)
    return command


EMBED_PARAMETERS = ("embed_backend", "embed_model", "embed_hosts", "embed_batch_size", "embed_api_key_env")


def embed_settings(embed_backend: str, embed_model: str, embed_hosts: tuple[str, ...], embed_batch_size: int,
                   embed_api_key_env: str) -> dict:
    """The options above as resources.VectorStoreResource fields (the project configuration's `embed`)."""
    return {"embed_backend": embed_backend, "embedding_model": embed_model, "embed_hosts": list(embed_hosts),
            "embed_batch_size": embed_batch_size, "embed_api_key_env": embed_api_key_env}
