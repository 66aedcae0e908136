"""The DuckDB warehouse: one file holding documents, chunks, candidates, records and the LLM cache.

Connections are short-lived on purpose: DuckDB lets one process write at a time, and Dagster may
run two document partitions in two processes, so each unit of work opens, writes and closes, and
a connection attempt waits for a lock held by another process instead of failing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from mbdg_assets.storage.sql_files import sql_text

LOCK_WAIT_SECONDS = 120.0
VIEWS = ("distribution_by_source_topic",)


def _is_lock_error(error: duckdb.Error) -> bool:
    return "lock" in str(error).lower()


def _open(path: Path, wait_seconds: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException as error:
            if not _is_lock_error(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.25)


_prepared: set[Path] = set()
_prepare_lock = threading.Lock()


def _ensure_schema(con: duckdb.DuckDBPyConnection, path: Path, fresh: bool) -> None:
    """Tables and views once per file per process: re-running the DDL on every connection cost
    ~100 ms and made concurrent connections of one process conflict on the catalog."""
    with _prepare_lock:
        if fresh or path.resolve() not in _prepared:
            con.execute(sql_text("schema"))
            for view in VIEWS:
                con.execute(sql_text(view))
            _prepared.add(path.resolve())


@contextmanager
def connect(path: str | Path, wait_seconds: float = LOCK_WAIT_SECONDS) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse, creating tables and views on first use; commit on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = not path.exists()
    con = _open(path, wait_seconds)
    try:
        _ensure_schema(con, path, fresh)
        yield con
    finally:
        con.close()


def fetch_dicts(con: duckdb.DuckDBPyConnection, query: str, params: object = None) -> list[dict]:
    """Rows as dicts: the shape the plain logic works with."""
    cursor = con.execute(query, params) if params is not None else con.execute(query)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]
