"""Progress of long work (model calls), published to listeners such as the CLI's progress bar.

Assets publish; whoever drives the run (the CLI in this process) may listen. With no listener
publishing costs a function call, so the asset code is the same under the UI and the CLI.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mbdg_assets.llm.backends import Generation


@dataclass
class CallProgress:
    label: str
    planned: int
    done: int = 0
    failed: int = 0
    tokens: int = 0
    started: float = field(default_factory=time.monotonic)
    first_error: str = ""  # the first failed call's one-line reason (names the backend and, for servers, the URL)

    def record(self, result: Generation) -> None:
        self.done += 1
        self.failed += not result.ok
        self.tokens += result.prompt_tokens + result.completion_tokens
        if not result.ok and not self.first_error:
            self.first_error = result.error or "no answer text"

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def eta_seconds(self) -> float | None:
        """Time left at the pace so far; None before the first call returns."""
        if not self.done:
            return None
        return max(self.planned - self.done, 0) * self.elapsed / self.done


_listeners: list[Callable[[CallProgress], None]] = []


def add_listener(listener: Callable[[CallProgress], None]) -> None:
    _listeners.append(listener)


def remove_listener(listener: Callable[[CallProgress], None]) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def publish(progress: CallProgress) -> None:
    for listener in list(_listeners):
        listener(progress)
