"""`mbdg review`: serve the review queue for a project's warehouse (issue 7)."""

from __future__ import annotations

import os
import sys

import click

from mbdg_assets.storage.project import ProjectPaths, load_settings, project_dir_from_env


def _fail(message: str) -> None:
    click.echo(f"mbdg: {message}", err=True)
    sys.exit(1)


@click.command()
@click.option("--project", "project_dir", default=None, help="State folder (default: $MBDG_PROJECT_DIR or ./.mbdg).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; anything but loopback needs --token.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@click.option("--reviewer", default=None, help="Name stored with decisions (default: $MBDG_REVIEWER, project.json `reviewer`, OS user).")
@click.option("--token", default=None, envvar="MBDG_REVIEW_TOKEN",
              help="Access token every request must carry (required off loopback; env MBDG_REVIEW_TOKEN).")
@click.option("--calibrate", is_flag=True, help="Print the calibration (reviewers vs. score, suggested thresholds) and exit.")
def review(project_dir: str | None, host: str, port: int, reviewer: str | None, token: str | None, calibrate: bool) -> None:
    """Serve the review queue: REQUIRE_REVIEW records, most uncertain first, to approve, reject or edit."""
    from mbdg_assets.review.actions import default_reviewer
    from mbdg_assets.review.security import is_loopback, token_weakness

    paths = ProjectPaths(project_dir_from_env(project_dir))
    if not paths.warehouse.exists():
        _fail(f"no warehouse at {paths.warehouse}: run `mbdg run` first (or pass --project)")
    if calibrate:
        _print_calibration(paths)
        return
    loopback = is_loopback(host)
    if not loopback and not token:
        _fail(f"binding to {host} exposes the review page to the network: give --token (or MBDG_REVIEW_TOKEN)")
    if token is not None and (weakness := token_weakness(token)):
        _fail(f"--token refused: {weakness}")
    _serve(paths, host, port, default_reviewer(reviewer, load_settings(paths)), token or "", loopback)


def _print_calibration(paths: ProjectPaths) -> None:
    from mbdg_assets.storage import warehouse
    from mbdg_assets.review.calibration import calibrate, format_calibration, reviewed_rows

    with warehouse.connect(paths.warehouse) as con:
        click.echo(format_calibration(calibrate(reviewed_rows(con))))


def _serve(paths: ProjectPaths, host: str, port: int, reviewer: str, token: str, loopback: bool) -> None:
    import uvicorn

    from mbdg_assets.review.app import ReviewSettings, create_app

    app = create_app(ReviewSettings(paths.warehouse, reviewer, token, loopback_only=loopback))
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    click.echo(f"mbdg review: {url}  (reviewer {reviewer}; Ctrl-C stops)")
    if os.environ.get("MBDG_REVIEW_DRY_RUN"):  # tests: everything up to binding the port
        return
    uvicorn.run(app, host=host, port=port, log_level="warning")
