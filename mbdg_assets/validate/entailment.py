"""The grounding stage's entailment judge: an LLM asked whether a source window supports a claim.

Lexical and embedding evidence find near-verbatim support but rate reworded support and quiet
contradictions poorly (AUROC 0.64 on the hand-written paraphrase set). No NLI cross-encoder
installs from PyPI with its weights under a licence the default install can carry, so the judge
is the project's own LLM client: `entailment` prompt template, JSON-Schema-constrained verdict,
temperature 0, through CachedLLM so a verdict is asked once per (model, claim, window).

The judge never stops validation: a malformed answer or a failed call is an abstention with its
reason (the claim keeps its lexical + embedding score, and the reason goes into the record), and
after a few transport failures in a row it stops calling a server that is evidently down.
"""

from __future__ import annotations

import threading
from collections import Counter

from mbdg_assets.validate.grounding import Entailment
from mbdg_assets.llm.json_parsing import parse_json_object
from mbdg_assets.llm.prompts import load_entailment_template

JUDGE_MODES = ("auto", "on", "off")
# A verdict as an entailment probability: "not in the passage" is unsupported (below the grounding
# gate), but an omission is less damning than a contradiction.
VERDICT_PROBABILITY = {"supported": 1.0, "not_in_passage": 0.2, "contradicted": 0.0}
MAX_FAILURES_IN_A_ROW = 3  # then the server is taken to be down: no more calls, every claim abstains
VERDICT_MAX_TOKENS = 32    # {"verdict": "not_in_passage"} is ~10 tokens


def judge_enabled(mode: str, backend: str) -> bool:
    """'auto' asks the judge only of server models: measured on the paraphrase set, the embedded
    SmolLM2-135M judges no better than chance (see bench/bench_grounding.py --judge)."""
    if mode not in JUDGE_MODES:
        raise ValueError(f"entailment judge must be one of {', '.join(JUDGE_MODES)}, not {mode!r}")
    return mode == "on" or (mode == "auto" and backend != "embedded")


def parse_verdict(text: str | None) -> tuple[str | None, str | None]:
    """(verdict, None) or (None, why the answer is unusable); tolerant of prose, fences, case and
    'not in passage' spelt with spaces or hyphens."""
    answer, error = parse_json_object(text)
    if error:
        return None, error
    verdict = str(answer.get("verdict", "")).strip().lower().replace(" ", "_").replace("-", "_")
    if verdict not in VERDICT_PROBABILITY:
        return None, f"unknown verdict {str(answer.get('verdict'))[:40]!r}"
    return verdict, None


class EntailmentJudge:
    """Callable (claim, window text) -> Entailment for core.grounding's `judge` hook, over any LLM
    client of the project (core.llm backends, wrapped in CachedLLM by the callers). Thread-safe
    counters; `stats()` is what the asset and the CLI report."""

    def __init__(self, llm, max_failures_in_a_row: int = MAX_FAILURES_IN_A_ROW, max_tokens: int = VERDICT_MAX_TOKENS):
        self.llm, self.max_failures, self.max_tokens = llm, max_failures_in_a_row, max_tokens
        self.template = load_entailment_template()
        self.counts: Counter[str] = Counter()
        self.failures_in_a_row = 0
        self.stopped: str | None = None  # why the judge stopped calling the model
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        return self.template.version

    def __call__(self, claim: str, passage: str) -> Entailment:
        if self.stopped:
            return self._abstain(self.stopped)
        messages = self.template.render(passage=passage, claim=claim)
        try:
            result = self.llm.generate(messages, json_schema=self.template.decoding_schema, temperature=0.0, seed=0,
                                       max_tokens=self.max_tokens)
        except Exception as error:  # noqa: BLE001 - a judge must never stop validation
            return self._failed(f"{type(error).__name__}: {error}")
        if not result.ok:
            return self._failed(result.error or "no answer")
        with self._lock:
            self.failures_in_a_row = 0
        verdict, why = parse_verdict(result.text)
        if verdict is None:
            return self._abstain(f"malformed judge answer: {why}")
        with self._lock:
            self.counts[verdict] += 1
        return Entailment(VERDICT_PROBABILITY[verdict], verdict)

    def _failed(self, error: str) -> Entailment:
        with self._lock:
            self.failures_in_a_row += 1
            if self.failures_in_a_row >= self.max_failures and not self.stopped:
                self.stopped = f"judge stopped after {self.failures_in_a_row} failed calls in a row; last: {error}"
        return self._abstain(f"judge call failed: {error}")

    def _abstain(self, why: str) -> Entailment:
        with self._lock:
            self.counts["abstained"] += 1
        return Entailment(None, f"abstained: {why[:200]}")

    def stats(self) -> dict:
        """Verdict and abstention counts, the template version and, if so, why it stopped."""
        return {"entailment_" + k: v for k, v in sorted(self.counts.items())} | {
            "entailment_prompt": self.version, "entailment_stopped": self.stopped or ""}
