from __future__ import annotations

import dagster as dg
from pydantic import Field

from mbdg_assets.llm.backends import make_llm
from mbdg_assets.llm.pool import RequestPool

SERVER_CONCURRENCY = 8  # requests in flight per run when nobody says: fits an Ollama default


class LLMResource(dg.ConfigurableResource):
    """Which model writes the candidates. Switching to Ollama or an OpenAI-compatible server is
    configuration: backend="ollama", model="llama3.2:3b" (host from OLLAMA_HOST or `host`).
    Replicas of one model (several Ollama boxes, vLLM without a load balancer) go in `hosts`."""

    backend: str = Field(default="embedded", description="embedded | ollama | openai")
    model: str = Field(default="", description="Model name; empty = the backend's default (embedded: SmolLM2-135M-Instruct)")
    host: str = Field(default="", description="Server URL for ollama/openai; empty = OLLAMA_HOST or the backend default")
    hosts: list[str] = Field(default_factory=list, description="More servers of the same model (with `host`): each "
                             "request goes to the one with the fewest in flight; one that fails rests and is tried later")
    api_key: str = Field(default="", description="API key for an OpenAI-compatible server, if it wants one")
    timeout: float = Field(default=120.0, description="Seconds per request before it counts as failed")

    @classmethod
    def from_project(cls, config: dict[str, dict]) -> "LLMResource":
        """The model the project configuration names (what `mbdg run` used); the embedded model
        when nothing is saved yet. Unknown keys are ignored, so an older project.json still loads."""
        saved = {k: v for k, v in (config.get("llm") or {}).items() if k in cls.model_fields and v not in (None, "")}
        return cls(**saved)

    def endpoints(self) -> list[str]:
        """Every server URL, in order, once; [""] (the backend's default) when none is given."""
        urls = [u for u in dict.fromkeys([self.host, *self.hosts]) if u]
        return urls or [""]

    def default_concurrency(self) -> int:
        return 1 if self.backend == "embedded" else SERVER_CONCURRENCY * len(self.endpoints())

    def pool(self, concurrency: int = 0) -> RequestPool:
        """All endpoints behind one request pool: the run's model calls share its in-flight limit
        (`concurrency`, 0 = 1 for the embedded model, 8 per server)."""
        clients = [make_llm(self.backend, self.model or None, url or None, self.api_key or None, self.timeout)
                   for url in (self.endpoints() if self.backend != "embedded" else [""])]
        return RequestPool(clients, concurrency or self.default_concurrency())

    def fluency_scorer(self):
        """The model's mean token log-probability of texts (validate/question_fluency.py), where the
        backend can compute it: the embedded model (the same loaded weights that generate); None else."""
        if self.backend != "embedded":
            return None
        return make_llm(self.backend, self.model or None, None, None, self.timeout).mean_logprobs

    def client(self) -> RequestPool:
        """The model as an LLM (calls retried while throttled, spread over the endpoints)."""
        return self.pool()
