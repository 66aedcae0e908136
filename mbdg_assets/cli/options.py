"""Options shared by several `mbdg` commands, in a module of their own so that every command
module can import them (cli.py imports the command modules, so they cannot import cli.py)."""

from __future__ import annotations

from collections.abc import Callable

import click

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
