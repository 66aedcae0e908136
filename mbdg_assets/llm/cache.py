"""Every LLM call cached in the warehouse by (backend, model, messages, schema, parameters, seed).

A rerun, or a run resumed after a crash, replays finished calls from here instead of asking the
model again. Failed calls are not cached: they are retried next time.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone

import duckdb

from mbdg_assets.llm.backends import LLM, Generation
from mbdg_assets.shared.text import stable_id


class CachedLLM:
    """Wraps any LLM backend; same interface, answers from the cache when it can."""

    def __init__(self, llm: LLM, con: duckdb.DuckDBPyConnection):
        self.llm, self.con = llm, con
        self.backend, self.model = llm.backend, llm.model
        self.model_digest = getattr(llm, "model_digest", None)
        self.hits = self.misses = 0
        self._lock = threading.Lock()  # one DuckDB connection, shared by concurrent request threads

    def _key(self, request: dict) -> str:
        return stable_id(json.dumps(request, sort_keys=True, ensure_ascii=False), length=64)

    def generate(self, messages: list[dict[str, str]], *, json_schema: dict | None = None,
                 temperature: float = 0.7, seed: int = 0, max_tokens: int = 512) -> Generation:
        request = {"backend": self.backend, "model": self.model, "messages": messages, "json_schema": json_schema,
                   "temperature": temperature, "seed": seed, "max_tokens": max_tokens}
        if self.model_digest:  # the weights, not just the name (a re-pulled model is a new model)
            request["model_digest"] = self.model_digest
        key = self._key(request)
        with self._lock:
            row = self.con.execute(
                "SELECT text, prompt_tokens, completion_tokens, seconds FROM llm_calls WHERE cache_key = ?", [key]
            ).fetchone()
            self.hits += bool(row)
            self.misses += not row
        if row:
            return Generation(text=row[0], raw=row[0], error=None, prompt_tokens=row[1],
                              completion_tokens=row[2], seconds=row[3])
        result = self.llm.generate(messages, json_schema=json_schema, temperature=temperature,
                                   seed=seed, max_tokens=max_tokens)
        if result.ok:
            with self._lock:
                self._store(key, request, result)
        return result

    def generate_batch(self, messages: list[dict[str, str]], *, seeds: list[int], json_schema: dict | None = None,
                       temperature: float = 0.7, max_tokens: int = 512) -> list[Generation]:
        """Answers per seed: cached ones from the cache, the rest in one batched call of the
        wrapped backend (each answer cached under the same key as a single call with its seed).
        A backend without generate_batch answers the missing seeds one call at a time."""
        requests = [{"backend": self.backend, "model": self.model, "messages": messages, "json_schema": json_schema,
                     "temperature": temperature, "seed": seed, "max_tokens": max_tokens} for seed in seeds]
        if self.model_digest:
            for request in requests:
                request["model_digest"] = self.model_digest
        keys = [self._key(r) for r in requests]
        found: dict[int, Generation] = {}
        with self._lock:
            for i, key in enumerate(keys):
                row = self.con.execute("SELECT text, prompt_tokens, completion_tokens, seconds FROM llm_calls "
                                       "WHERE cache_key = ?", [key]).fetchone()
                if row:
                    found[i] = Generation(text=row[0], raw=row[0], error=None, prompt_tokens=row[1],
                                          completion_tokens=row[2], seconds=row[3])
            self.hits += len(found)
            self.misses += len(seeds) - len(found)
        missing = [i for i in range(len(seeds)) if i not in found]
        if missing and callable(getattr(self.llm, "generate_batch", None)):
            fresh = self.llm.generate_batch(messages, seeds=[seeds[i] for i in missing], json_schema=json_schema,
                                            temperature=temperature, max_tokens=max_tokens)
        else:
            fresh = [self.llm.generate(messages, json_schema=json_schema, temperature=temperature, seed=seeds[i],
                                       max_tokens=max_tokens) for i in missing]
        if missing:
            for i, result in zip(missing, fresh):
                found[i] = result
                if result.ok:
                    with self._lock:
                        self._store(keys[i], requests[i], result)
        return [found[i] for i in range(len(seeds))]

    def _store(self, key: str, request: dict, result: Generation) -> None:
        """Committed at once (DuckDB autocommit), so a run killed right after still keeps it."""
        self.con.execute(
            "INSERT OR REPLACE INTO llm_calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [key, self.backend, self.model, json.dumps(request, ensure_ascii=False), result.text,
             result.prompt_tokens, result.completion_tokens, result.seconds, datetime.now(timezone.utc)],
        )
