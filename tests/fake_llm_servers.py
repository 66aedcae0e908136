"""A scripted stand-in for an Ollama daemon and an OpenAI-compatible server, for tests.

It speaks just enough of both wire formats (``POST /api/chat`` and ``POST /v1/chat/completions``,
non-streaming; and their embedding routes ``POST /api/embed`` and ``POST /v1/embeddings``) to exercise the real client libraries end to end, without a model or a network:
responses come from a queue the test fills, and every request body is recorded so a test can
assert on exactly what went over the wire. It listens only on 127.0.0.1 (port chosen by the OS)
and is shut down when the context manager / fixture exits.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

OLLAMA_CHAT_PATH = "/api/chat"
OPENAI_CHAT_PATH = "/v1/chat/completions"
OLLAMA_EMBED_PATH = "/api/embed"
OPENAI_EMBED_PATH = "/v1/embeddings"


@dataclass
class Scripted:
    """One scripted reply: answer ``content``, or an HTTP error ``status`` with ``error_body``.

    ``delay`` seconds pass before anything is written, to make a client time out.
    """

    content: str = "ok"
    status: int = 200
    error_body: str = '{"error": "scripted failure"}'
    delay: float = 0.0
    prompt_tokens: int = 11
    completion_tokens: int = 7
    headers: dict[str, str] = field(default_factory=dict)  # e.g. {"Retry-After": "1"} on a 429
    embeddings: list[list[float]] | None = None  # an embedding route's vectors as given (wrong count, ragged...)


@dataclass
class Received:
    """A request as the server saw it."""

    method: str
    path: str
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeLLMServer:
    """Handle a test uses: where to point clients, what to reply, what was received."""

    host: str
    port: int
    replies: deque[Scripted] = field(default_factory=deque)
    requests: list[Received] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    # Answers computed from the request, used when no scripted reply is queued.
    responder: Callable[[Any], Scripted] | None = None
    in_flight: int = 0
    max_in_flight: int = 0
    # What GET /api/tags lists (Ollama's installed models: {"model": "name:tag", "digest": ...}).
    models: list[dict] = field(default_factory=list)
    embed_dimension: int = 48  # length of the vectors the embedding routes answer with
    # (start, end) wall-clock seconds of each call a batch_responder served (GET /served)
    served: list[tuple[float, float]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        """Base URL, e.g. for ``OLLAMA_HOST`` or ``ollama.Client(host=...)``."""
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """Base URL as the openai client wants it (with the /v1 prefix)."""
        return f"{self.url}/v1"

    def script(self, *replies: Scripted) -> None:
        """Queue replies; once the queue is empty the server answers ``Scripted()`` ("ok")."""
        self.replies.extend(replies)

    def next_reply(self, body: Any = None) -> Scripted:
        if self.replies:
            return self.replies.popleft()
        return self.responder(body) if self.responder else Scripted()

    def enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


def _ollama_body(model: str, reply: Scripted) -> dict[str, Any]:
    """A non-streaming /api/chat response, field for field as Ollama sends it."""
    return {
        "model": model,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime()),
        "message": {"role": "assistant", "content": reply.content},
        "done": True,
        "done_reason": "stop",
        "total_duration": 123_456_789,
        "load_duration": 1_234_567,
        "prompt_eval_count": reply.prompt_tokens,
        "prompt_eval_duration": 2_345_678,
        "eval_count": reply.completion_tokens,
        "eval_duration": 98_765_432,
    }


def _openai_body(model: str, reply: Scripted) -> dict[str, Any]:
    """A non-streaming chat.completion object as OpenAI-compatible servers send it."""
    return {
        "id": "chatcmpl-fake-0001",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        },
    }


def hashed_embedding(text: str, dimension: int) -> list[float]:
    """A bag-of-words vector: each lower-cased word adds 1 at a hashed position, so texts sharing
    words point alike (cosine of a text with itself 1, with an unrelated one near 0), as a real
    embedding model's would, and the same text always gets the same vector."""
    import hashlib

    vector = [0.0] * dimension
    for word in text.lower().split():
        vector[int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big") % dimension] += 1.0
    return vector


def _embedding_rows(body: Any, reply: Scripted, dimension: int) -> list[list[float]]:
    if reply.embeddings is not None:
        return reply.embeddings
    texts = body.get("input", []) if isinstance(body, dict) else []
    return [hashed_embedding(t, dimension) for t in ([texts] if isinstance(texts, str) else texts)]


def _ollama_embed_body(model: str, rows: list[list[float]]) -> dict[str, Any]:
    """/api/embed's answer: {"model", "embeddings": [[...], ...]} (Ollama sends them normalised)."""
    return {"model": model, "embeddings": rows, "total_duration": 1_234_567, "prompt_eval_count": len(rows)}


def _openai_embed_body(model: str, rows: list[list[float]]) -> dict[str, Any]:
    """/v1/embeddings' answer, items in reverse order: clients must place them by `index`."""
    data = [{"object": "embedding", "index": i, "embedding": row} for i, row in enumerate(rows)]
    return {"object": "list", "model": model, "data": data[::-1], "usage": {"prompt_tokens": 0, "total_tokens": 0}}


_BODY_BUILDERS = {OLLAMA_CHAT_PATH: _ollama_body, OPENAI_CHAT_PATH: _openai_body}
_EMBED_BUILDERS = {OLLAMA_EMBED_PATH: _ollama_embed_body, OPENAI_EMBED_PATH: _openai_embed_body}


def _make_handler(state: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    """Bind a request handler class to one server's state."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes; without TCP_NODELAY, Nagle's algorithm and
            # the client's delayed ACK add ~40 ms to every response, which real servers don't.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            if self.path == "/api/tags":
                self._send(200, json.dumps({"models": state.models}))
            elif self.path == "/stats":
                chat = sum(r.path in _BODY_BUILDERS for r in state.requests)
                self._send(200, json.dumps({"calls": chat, "max_in_flight": state.max_in_flight}))
            elif self.path == "/served":
                self._send(200, json.dumps(state.served))
            else:
                self._send(404, json.dumps({"error": f"no route {self.path}"}))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            text = self.rfile.read(length).decode("utf-8")
            try:
                body: Any = json.loads(text)
            except ValueError:
                body = text
            state.requests.append(Received("POST", self.path, body, dict(self.headers)))
            builder = _BODY_BUILDERS.get(self.path) or _EMBED_BUILDERS.get(self.path)
            if builder is None:
                self._send(404, json.dumps({"error": f"no route {self.path}"}))
                return
            state.enter()
            try:
                # the responder writes chat answers; an embedding route answers scripted replies, else vectors
                embedding = self.path in _EMBED_BUILDERS
                reply = state.next_reply(body) if not embedding or state.replies else Scripted()
                if reply.delay and state.stopping.wait(reply.delay):
                    self.close_connection = True  # server is shutting down: drop the request and the connection
                    return
                if reply.status != 200:
                    self._send(reply.status, reply.error_body, reply.headers)
                    return
                model = body.get("model", "") if isinstance(body, dict) else ""
                if embedding:
                    self._send(200, json.dumps(builder(model, _embedding_rows(body, reply, state.embed_dimension))))
                else:
                    self._send(200, json.dumps(builder(model, reply)))
            finally:
                state.leave()

        def _send(self, status: int, payload: str, headers: dict[str, str] | None = None) -> None:
            data = payload.encode("utf-8")
            try:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout); nothing to do

    return Handler


class _Server(ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: at 100+ simultaneous connections the kernel drops
    # and resets some, which no real model server (uvicorn: 2048) does.
    request_queue_size = 1024


@contextmanager
def running_fake_llm_server() -> Iterator[FakeLLMServer]:
    """Start the fake server on 127.0.0.1:<free port> in a thread; stop it on exit."""
    state = FakeLLMServer(host="127.0.0.1", port=0)
    httpd = _Server(("127.0.0.1", 0), _make_handler(state))
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    # A short poll interval keeps shutdown (and so every test teardown) fast.
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-llm-server", daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        state.stopping.set()  # wake any handler sleeping on a scripted delay
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def fake_llm_server() -> Iterator[FakeLLMServer]:
    """Pytest fixture: a fresh fake server per test (import it into the test module to use it)."""
    with running_fake_llm_server() as server:
        yield server


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: bind a port, then release it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _seed_of(body: Any) -> int:
    if not isinstance(body, dict):
        return 0
    return int(body.get("seed", (body.get("options") or {}).get("seed", 0)) or 0)


def instruction_pair_responder(delay: float = 0.0) -> Callable[[Any], Scripted]:
    """Answers like a competent model would: a question about one sentence of the passage (which
    sentence depends on the seed) and that sentence as the answer. Lets generation, rewards and
    validation run on real-looking output without a model."""

    def respond(body: Any) -> Scripted:
        prompt = next((m["content"] for m in reversed(body.get("messages", [])) if m["role"] == "user"), "")
        passage = prompt.split('"""')[1] if prompt.count('"""') >= 2 else prompt
        sentences = [s.strip() for s in passage.replace("\n", " ").split(". ") if len(s.split()) >= 4]
        sentence = sentences[_seed_of(body) % len(sentences)].rstrip(".") + "." if sentences else "Nothing."
        topic = " ".join(sentence.split()[:6])
        content = json.dumps({"instruction": f"What does the document say about {topic}?", "input": "", "output": sentence})
        return Scripted(content=content, delay=delay, completion_tokens=len(content.split()))

    return respond


def batch_responder(answer: Callable[[Any], Scripted], latency: float, slots: int,
                    served: list[tuple[float, float]] | None = None) -> Callable[[Any], Scripted]:
    """A batch server's timing (vLLM's continuous batching): up to `slots` requests are served at
    once, each taking `latency` seconds; the others wait their turn, as they would in its queue.
    `served`, when given, gets each call's (start, end) wall-clock time in its slot."""
    gate = threading.BoundedSemaphore(slots)

    def respond(body: Any) -> Scripted:
        with gate:
            start = time.time()
            time.sleep(latency)
            if served is not None:
                served.append((start, time.time()))
        return answer(body)

    return respond


def serve_batch_forever(latency: float, slots: int, port_file: str, embed_dimension: int = 48) -> None:
    """A fake batch server in a process of its own (bench_scale starts it with `python -c`): it
    answers like instruction_pair_responder, writes its URL to `port_file`, and serves until
    killed. GET /stats returns {"calls": n, "max_in_flight": m}; GET /served each call's
    (start, end) in its slot, for bench_scale's timeline. Its embedding routes answer at once with
    vectors of `embed_dimension`."""
    with running_fake_llm_server() as server:
        server.embed_dimension = embed_dimension
        server.responder = batch_responder(instruction_pair_responder(), latency, slots, server.served)
        server.models = [{"model": "fake:latest", "digest": "sha256:fake"}]
        Path(port_file).write_text(server.url)
        threading.Event().wait()
