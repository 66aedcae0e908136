from __future__ import annotations

import dagster as dg
from pydantic import Field

from mbdg_assets.llm.backends import LLM, make_llm


class LLMResource(dg.ConfigurableResource):
    """Which model writes the candidates. Switching to Ollama or an OpenAI-compatible server is
    configuration: backend="ollama", model="llama3.2:3b" (host from OLLAMA_HOST or `host`)."""

    backend: str = Field(default="embedded", description="embedded | ollama | openai")
    model: str = Field(default="", description="Model name; empty = the backend's default (embedded: SmolLM2-135M-Instruct)")
    host: str = Field(default="", description="Server URL for ollama/openai; empty = OLLAMA_HOST or the backend default")
    api_key: str = Field(default="", description="API key for an OpenAI-compatible server, if it wants one")
    timeout: float = Field(default=120.0, description="Seconds per request before it counts as failed")

    @classmethod
    def from_project(cls, config: dict[str, dict]) -> "LLMResource":
        """The model the project configuration names (what `mbdg run` used); the embedded model
        when nothing is saved yet. Unknown keys are ignored, so an older project.json still loads."""
        saved = {k: v for k, v in (config.get("llm") or {}).items() if k in cls.model_fields and v not in (None, "")}
        return cls(**saved)

    def client(self) -> LLM:
        return make_llm(self.backend, self.model or None, self.host or None, self.api_key or None, self.timeout)
