"""One pool of model requests for a whole run, across documents and endpoints.

A GPU server (vLLM, Ollama) does its best work with many requests at once; one document rarely
has that many ready. So every model call of a run goes through one :class:`RequestPool`: the
documents submit their calls as they become ready (a document's evolved targets after its base
winners), and the pool keeps up to its in-flight limit of requests at the servers while any work
is queued. It also

* adapts the limit (:class:`AdaptiveLimit`, AIMD): halved at most once per round trip when a server
  throttles (429, 503, a timeout), one more after each limit's worth of healthy answers, between
  a floor and the configured concurrency;
* retries a throttled call after Retry-After (or a growing pause), counted, never lost; after
  ``max_retries`` the call's failure is returned like any other;
* routes each request to the endpoint with the fewest in flight, rests an endpoint that cannot be
  reached and tries it again later; when no endpoint can be reached the call is asked twice more
  (0.5 s, then 1 s later: a connection dropped under load), then fails with that error, so a dead
  server still ends the run with its reason.

Replicas must serve the same weights: different model digests across endpoints is an error.
No Dagster imports here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mbdg_assets.llm.backends import LLM, Generation

DEFAULT_FLOOR = 1
DEFAULT_MAX_RETRIES = 8
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
UNREACHABLE_RETRIES = 2  # with no other endpoint: a connection dropped under load is asked again twice
FIRST_REST_SECONDS = 5.0
MAX_REST_SECONDS = 120.0

T = TypeVar("T")


class EndpointMismatch(ValueError):
    """Endpoints given as replicas serve different weights: their answers must not be mixed."""


class AdaptiveLimit:
    """How many requests may be in flight now: AIMD between `floor` and `ceiling`.

    A cut applies once per round trip (only a request started after the last cut can cause the
    next one), so a burst of 429s from requests sent together halves the limit once, not to the
    floor. Thread-safe; `acquire` blocks while the limit is reached.
    """

    def __init__(self, ceiling: int, floor: int = DEFAULT_FLOOR):
        self.ceiling = max(1, ceiling)
        self.floor = max(1, min(floor, self.ceiling))
        self.limit = self.ceiling
        self.lowest = self.ceiling  # the lowest the limit went: the record of a back-off
        self.in_flight = 0
        self.cuts = 0
        self._healthy = 0
        self._last_cut = float("-inf")
        self._cond = threading.Condition()

    def acquire(self) -> float:
        """Wait for a free slot; returns the start time to hand back to `release`."""
        with self._cond:
            while self.in_flight >= self.limit:
                self._cond.wait()
            self.in_flight += 1
            return time.monotonic()

    def release(self, started: float, throttled: bool) -> None:
        with self._cond:
            self.in_flight -= 1
            if throttled:
                self._healthy = 0
                if started >= self._last_cut:
                    self.limit = max(self.floor, self.limit // 2)
                    self.lowest = min(self.lowest, self.limit)
                    self._last_cut, self.cuts = time.monotonic(), self.cuts + 1
            else:
                self._healthy += 1
                if self._healthy >= self.limit and self.limit < self.ceiling:
                    self.limit, self._healthy = self.limit + 1, 0
            self._cond.notify_all()


@dataclass
class Endpoint:
    """One replica: its client, what it has in flight, and until when it rests after failing."""

    llm: LLM
    in_flight: int = 0
    calls: int = 0
    failures_in_a_row: int = 0
    rested_until: float = 0.0

    @property
    def url(self) -> str:
        return str(getattr(self.llm, "host_url", "") or self.llm.backend)


@dataclass
class PoolStats:
    calls: int = 0
    retries: int = 0  # throttled calls asked again
    rerouted: int = 0  # calls moved to another endpoint after one could not be reached
    failed: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)


class RequestPool:
    """Bounded, adaptive, multi-endpoint model requests for a run; also an LLM (`generate`)."""

    def __init__(self, endpoints: Sequence[LLM], concurrency: int, floor: int = DEFAULT_FLOOR,
                 max_retries: int = DEFAULT_MAX_RETRIES):
        if not endpoints:
            raise ValueError("a request pool needs at least one endpoint")
        self.endpoints = [Endpoint(llm) for llm in endpoints]
        first = endpoints[0]
        self.backend, self.model = first.backend, first.model
        self.limit = AdaptiveLimit(concurrency, floor)
        self.max_retries = max_retries
        self.stats = PoolStats()
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None  # made on the first submit

    pooled = True  # generation submits its calls here (see generate.candidates.run_calls)

    @property
    def hosts(self) -> list[str]:
        return [e.url for e in self.endpoints]

    @property
    def model_digest(self) -> str | None:
        """The digest all endpoints agree on (None when none reports one); an error when they differ."""
        digests = {e.url: getattr(e.llm, "model_digest", None) for e in self.endpoints}
        known = {d for d in digests.values() if d}
        if len(known) > 1:
            listed = ", ".join(f"{url}={digest}" for url, digest in digests.items())
            raise EndpointMismatch(f"the endpoints serve different weights for model {self.model!r}: {listed}")
        return next(iter(known), None)

    # ---------------------------------------------------------------- running work on the pool

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run `fn` on one of the pool's threads (it may call `generate`)."""
        with self._lock:
            if self._executor is None:
                # Twice the limit: a thread also waits on the cache before its call and on the
                # answer's commit after it, neither of which may cost a slot.
                workers = 2 * self.limit.ceiling + 2
                self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mbdg-request")
        return self._executor.submit(fn, *args)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)

    def stop(self) -> None:
        """Drop the calls still queued (their futures are cancelled) and take no new ones; calls
        at a server finish. For an interrupted run, which would otherwise send every queued call."""
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> RequestPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------ one request

    def generate(self, messages: list[dict[str, str]], *, on_answer: Callable[[Generation], None] | None = None,
                 **options: Any) -> Generation:
        """One model call, retried while the servers throttle and moved while one is unreachable.
        `on_answer` (the cache's journal write: fast, llm/journal.py) runs before the call's slot
        is free, so a request sent after an answer means that answer is kept: a killed run never
        asks it again."""
        attempt = 0
        while True:
            endpoint = self._pick()
            started, result = self.limit.acquire(), None
            try:
                result = endpoint.llm.generate(messages, **options)
                if result.ok and on_answer is not None:
                    on_answer(result)
            finally:
                self.limit.release(started, throttled=result is not None and result.fault == "throttled")
                self._done(endpoint)
            if result.fault is None or attempt >= self.max_retries:
                return self._count(endpoint, result)
            attempt += 1
            if result.fault == "unreachable":
                self._rest(endpoint)
                if self._any_awake():
                    self.stats.rerouted += 1
                    continue
                if attempt > UNREACHABLE_RETRIES:  # no endpoint answers: the server is down, say so
                    return self._count(endpoint, result)
                self.stats.retries += 1
                time.sleep(FIRST_BACKOFF_SECONDS * attempt)  # a dropped connection under load: once more
                continue
            self.stats.retries += 1
            time.sleep(result.retry_after if result.retry_after is not None
                       else min(FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS))

    @property
    def can_batch(self) -> bool:
        """One endpoint that decodes several sequences of one prompt together (the embedded model)."""
        return len(self.endpoints) == 1 and callable(getattr(self.endpoints[0].llm, "generate_batch", None))

    def generate_batch(self, messages: list[dict[str, str]], *, seeds: list[int], **options: Any) -> list[Generation]:
        """The answers for `seeds` to one prompt in one batch on one slot (see `can_batch`); a
        backend that cannot batch answers them one request at a time."""
        if not self.can_batch:
            return [self.generate(messages, seed=seed, **options) for seed in seeds]
        endpoint = self._pick()
        started, results = self.limit.acquire(), None
        try:
            results = endpoint.llm.generate_batch(messages, seeds=seeds, **options)
        finally:
            self.limit.release(started, throttled=False)
            self._done(endpoint)
        return [self._count(endpoint, result) for result in results]

    def _pick(self) -> Endpoint:
        """The awake endpoint with the fewest in flight; if all rest, the one that wakes first."""
        with self._lock:
            now = time.monotonic()
            awake = [e for e in self.endpoints if e.rested_until <= now] or \
                [min(self.endpoints, key=lambda e: e.rested_until)]
            endpoint = min(awake, key=lambda e: e.in_flight)
            endpoint.in_flight += 1
            return endpoint

    def _done(self, endpoint: Endpoint) -> None:
        with self._lock:
            endpoint.in_flight -= 1

    def _rest(self, endpoint: Endpoint) -> None:
        with self._lock:
            endpoint.failures_in_a_row += 1
            pause = min(FIRST_REST_SECONDS * 2 ** (endpoint.failures_in_a_row - 1), MAX_REST_SECONDS)
            endpoint.rested_until = time.monotonic() + pause

    def _any_awake(self) -> bool:
        with self._lock:
            now = time.monotonic()
            return any(e.rested_until <= now for e in self.endpoints)

    def _count(self, endpoint: Endpoint, result: Generation) -> Generation:
        with self._lock:
            self.stats.calls += 1
            self.stats.failed += not result.ok
            self.stats.by_endpoint[endpoint.url] = self.stats.by_endpoint.get(endpoint.url, 0) + 1
            endpoint.calls += 1
            if result.ok:
                endpoint.failures_in_a_row = 0
        return result

    def facts(self) -> dict:
        """What the run's metadata and manifest say about the requests."""
        return {"endpoints": self.hosts, "concurrency": self.limit.ceiling, "lowest_limit": self.limit.lowest,
                "limit_cuts": self.limit.cuts, "calls": self.stats.calls, "retries": self.stats.retries,
                "rerouted": self.stats.rerouted, "calls_by_endpoint": dict(self.stats.by_endpoint)}
