"""The DuckDB warehouse: one file holding documents, chunks, candidates, records and the LLM cache.

Connections are short-lived on purpose: DuckDB lets one process write at a time, and Dagster may
run two document partitions in two processes, so each unit of work opens, writes and closes, and
a connection attempt waits for a lock held by another process instead of failing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import duckdb

from mbdg_assets.storage.sql_files import sql_text

LOCK_WAIT_SECONDS = 120.0
T = TypeVar("T")
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


ROWS_PER_STATEMENT = 256


def insert_rows(con: duckdb.DuckDBPyConnection, head: str, rows: list[list]) -> None:
    """`head` ("INSERT INTO t", "INSERT OR REPLACE INTO t (a, b)") with `rows`, many rows per
    statement: DuckDB's executemany runs one statement per row (~5-15 ms each here; 2,000
    records took 10 s of a dataset run)."""
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        part = rows[start:start + ROWS_PER_STATEMENT]
        values = ", ".join(["(" + ", ".join("?" * len(part[0])) + ")"] * len(part))
        con.execute(f"{head} VALUES {values}", [v for row in part for v in row])


class WarehouseGate:
    """Short connections on behalf of many threads. Work any thread hands to `run` is done in
    batches by one thread, on a connection opened for the batch and closed right after it, so no
    connection stays open while the model works (another process, such as the review page, can
    write in between) and the ~50 ms an open costs is shared by everything the batch holds.
    Batches start at least twice the last batch's duration apart (at most MAX_GAP_SECONDS), which
    keeps the file closed most of the time under load and answers a lone caller at once."""

    MAX_GAP_SECONDS = 0.5

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.batches = 0
        self._queue: list[tuple[Callable[[duckdb.DuckDBPyConnection], object], Future]] = []
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._serve, name="mbdg-warehouse-gate", daemon=True)
        self._thread.start()

    def run(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Do `work(con)` in the next batch and return its result (or raise its exception)."""
        future: Future = Future()
        with self._cond:
            if self._closing:
                raise RuntimeError("the warehouse gate is closed")
            self._queue.append((work, future))
            self._cond.notify()
        return future.result()

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()

    def __enter__(self) -> WarehouseGate:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        gap = 0.0
        last = float("-inf")
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
            time.sleep(max(0.0, last + gap - time.monotonic()))
            with self._cond:
                batch, self._queue = self._queue, []
            started = time.monotonic()
            self._do(batch)
            last = time.monotonic()
            gap = min(2 * (last - started), self.MAX_GAP_SECONDS)

    def _do(self, batch: list[tuple[Callable, Future]]) -> None:
        """The batch in one transaction (one commit, not one per write: a commit costs a WAL sync);
        if any work fails, the transaction is rolled back and each work is done on its own."""
        try:
            with connect(self.path) as con:
                self.batches += 1
                con.execute("BEGIN TRANSACTION")
                try:
                    results = [work(con) for work, _future in batch]
                    con.execute("COMMIT")
                except Exception:  # noqa: BLE001 - redone one by one below, each caller gets its own outcome
                    con.execute("ROLLBACK")
                    self._one_by_one(con, batch)
                    return
                for (_work, future), result in zip(batch, results):
                    future.set_result(result)
        except Exception as error:  # noqa: BLE001 - the file could not be opened: every caller learns why
            for _work, future in batch:
                if not future.done():
                    future.set_exception(error)

    @staticmethod
    def _one_by_one(con: duckdb.DuckDBPyConnection, batch: list[tuple[Callable, Future]]) -> None:
        for work, future in batch:
            try:
                future.set_result(work(con))
            except Exception as error:  # noqa: BLE001 - handed to the caller, who raises it
                future.set_exception(error)
