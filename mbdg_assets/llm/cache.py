"""Every LLM call cached in the warehouse by (backend, model, messages, schema, parameters, seed).

A rerun, or a run resumed after a crash, replays finished calls from here instead of asking the
model again. Failed calls are not cached: they are retried next time.
"""

from __future__ import annotations

import functools
import json
import threading
from datetime import datetime, timezone

import duckdb

from mbdg_assets.llm.backends import LLM, Generation
from mbdg_assets.llm.journal import AnswerJournal, recover
from mbdg_assets.shared.text import stable_id
from mbdg_assets.storage.warehouse import WarehouseGate, insert_rows


class CachedLLM:
    """Wraps any LLM backend (or a RequestPool); same interface, answers from the cache when it can.

    `store` is a DuckDB connection (shared by this object's threads under a lock) or a
    WarehouseGate (short connections in batches: nothing stays open while the model works).
    An answer is returned only after it is committed, so a killed run never asks it again. A
    request pool's answers are first written to a journal beside the warehouse while the call
    still holds its slot (llm/journal.py), so neither does a run killed before the commit; the
    answers a dead run journaled are committed when this opens.
    """

    def __init__(self, llm: LLM, store: duckdb.DuckDBPyConnection | WarehouseGate):
        self.llm = llm
        self.backend, self.model = llm.backend, llm.model
        self.model_digest = getattr(llm, "model_digest", None)
        self.hosts = getattr(llm, "hosts", None)  # a pool's endpoints, recorded with each candidate
        self.hits = self.misses = 0
        self._unstored: list[list] = []
        self._lock = threading.Lock()
        self._run = store.run if isinstance(store, WarehouseGate) else self._on_connection(store)
        self._journal: AnswerJournal | None = None
        self.recovered = 0  # answers a killed run had journaled but not committed
        if self.pooled and isinstance(store, WarehouseGate):
            directory = store.path.with_name("llm_journal")
            self.recovered = recover(directory, lambda rows: self._run(functools.partial(_insert, rows=rows)))
            self._journal = AnswerJournal(directory)

    def close(self) -> None:
        """Delete the journal's segments that are all committed (the others wait for a rerun)."""
        if self._journal is not None:
            self._journal.close()

    def __enter__(self) -> CachedLLM:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _on_connection(self, con: duckdb.DuckDBPyConnection):
        lock = threading.Lock()  # one DuckDB connection, shared by concurrent request threads

        def run(work):
            with lock:
                return work(con)
        return run

    def stop(self) -> None:
        """Stop the request pool's queued calls (llm.pool: RequestPool.stop); a bare backend has none."""
        if self.pooled:
            self.llm.stop()

    def submit(self, fn, *args):
        """Run `fn` on the wrapped pool's threads (generation's calls of a whole run share them)."""
        return self.llm.submit(fn, *args)

    @property
    def can_batch(self) -> bool:
        """Whether the wrapped model decodes several seeds of one prompt together (the embedded model)."""
        return bool(getattr(self.llm, "can_batch", callable(getattr(self.llm, "generate_batch", None))))

    @property
    def pooled(self) -> bool:
        """True when the wrapped model is a RequestPool (its threads run the calls)."""
        return bool(getattr(self.llm, "pooled", False))

    def _key(self, request: dict) -> str:
        return stable_id(json.dumps(request, sort_keys=True, ensure_ascii=False), length=64)

    def _request(self, messages: list[dict[str, str]], json_schema: dict | None, temperature: float, seed: int,
                 max_tokens: int) -> dict:
        request = {"backend": self.backend, "model": self.model, "messages": messages, "json_schema": json_schema,
                   "temperature": temperature, "seed": seed, "max_tokens": max_tokens}
        if self.model_digest:  # the weights, not just the name (a re-pulled model is a new model)
            request["model_digest"] = self.model_digest
        return request

    def _cached(self, keys: list[str]) -> dict[str, Generation]:
        """The stored answers among `keys`, counted as hits; the others count as misses."""
        def lookup(con: duckdb.DuckDBPyConnection) -> dict:
            return {key: con.execute("SELECT text, prompt_tokens, completion_tokens, seconds FROM llm_calls "
                                     "WHERE cache_key = ?", [key]).fetchone() for key in keys}
        rows = {key: row for key, row in self._run(lookup).items() if row}
        with self._lock:
            self.hits += len(rows)
            self.misses += len(keys) - len(rows)
        return {key: Generation(text=row[0], raw=row[0], error=None, prompt_tokens=row[1], completion_tokens=row[2],
                                seconds=row[3]) for key, row in rows.items()}

    def generate(self, messages: list[dict[str, str]], *, json_schema: dict | None = None,
                 temperature: float = 0.7, seed: int = 0, max_tokens: int = 512) -> Generation:
        request = self._request(messages, json_schema, temperature, seed, max_tokens)
        key = self._key(request)
        if found := self._cached([key]):
            return found[key]
        options = {"json_schema": json_schema, "temperature": temperature, "seed": seed, "max_tokens": max_tokens}
        if self.pooled:
            return self._pooled(key, request, messages, options)
        result = self.llm.generate(messages, **options)
        if result.ok:
            self._keep(self._row(key, request, result))
        return result

    def _pooled(self, key: str, request: dict, messages: list[dict[str, str]], options: dict) -> Generation:
        """One call through the request pool: the answer is journaled while its slot is held (a
        request sent after it means it is kept), committed after the slot is free (the commit
        waits on the warehouse's next batch, which would leave the slot unused), and returned
        once committed."""
        journaled: list[tuple[list, int | None]] = []

        def journal(result: Generation) -> None:
            row = self._row(key, request, result)
            journaled.append((row, self._journal.write(row) if self._journal is not None else None))

        result = self.llm.generate(messages, on_answer=journal, **options)
        for row, segment in journaled:  # one at most: only an answered call is journaled, and it ends the call
            self._keep(row)
            if self._journal is not None:
                self._journal.committed(segment)
        return result

    def generate_batch(self, messages: list[dict[str, str]], *, seeds: list[int], json_schema: dict | None = None,
                       temperature: float = 0.7, max_tokens: int = 512) -> list[Generation]:
        """One answer per seed: stored ones from the cache, the rest decoded together in one batch
        when the model can (the embedded model: the prompt evaluated once), else one call per seed.
        Each answer is cached under the same key as a single call with its seed."""
        options = {"json_schema": json_schema, "temperature": temperature, "max_tokens": max_tokens}
        if not self.can_batch:  # one call per seed, each committed before the next
            return [self.generate(messages, seed=seed, **options) for seed in seeds]
        requests = [self._request(messages, json_schema, temperature, seed, max_tokens) for seed in seeds]
        keys = [self._key(r) for r in requests]
        found = self._cached(keys)
        missing = [i for i, key in enumerate(keys) if key not in found]
        fresh = self.llm.generate_batch(messages, seeds=[seeds[i] for i in missing], **options) if missing else []
        for i, result in zip(missing, fresh):
            found[keys[i]] = result
            if result.ok:
                self._keep(self._row(keys[i], requests[i], result))
        return [found[key] for key in keys]

    def _row(self, key: str, request: dict, result: Generation) -> list:
        """One answer as an llm_calls row."""
        return [key, self.backend, self.model, json.dumps(request, ensure_ascii=False), result.text,
                result.prompt_tokens, result.completion_tokens, result.seconds, datetime.now(timezone.utc)]

    def _keep(self, row: list) -> None:
        """Store one answer; returns once it is committed (maybe by a sibling's store)."""
        with self._lock:
            self._unstored.append(row)
        self._run(self._store)

    def _store(self, con: duckdb.DuckDBPyConnection) -> None:
        """Every answer not stored yet, many per statement: the concurrent answers that reach one
        warehouse batch are written together. Committed with the batch, before the callers go on,
        so a run killed right after still keeps them."""
        with self._lock:
            rows, self._unstored = list({row[0]: row for row in self._unstored}.values()), []  # a key once
        _insert(con, rows)


def _insert(con: duckdb.DuckDBPyConnection, rows: list[list]) -> None:
    insert_rows(con, "INSERT OR REPLACE INTO llm_calls", rows)
