"""When generation may start on a document.

A run that prepares its documents before it generates (few documents, the embedded model, a
subset without extraction) finds every document ready: `Readiness`, the default. Over a large
range against a server the document step overlaps the two (defs/lanes.py): it generates the
whole range while a prepare process is still extracting and embedding later slices, and a
`SliceReadiness` makes each document wait until its slice is prepared. One long generation keeps
the request pool fed from the first slice to the last: a generation per slice ended with a drain
(its last calls trickling in, no new ones started) and began with a fill, which left a batch
server's slots unused at every boundary. No Dagster imports here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

AHEAD_GROUP = 16  # documents whose validation work ahead is passed on together (an embedding batch of ~160 texts)


class Readiness:
    """Every document is prepared: generation starts at once. A subclass may make `wait` block."""

    def wait(self, path: str) -> str | None:
        """Return once `path` is prepared (None), or with the reason it never will be in this run
        (its slice failed as a whole): the document is then skipped with that reason."""
        return None

    def generated(self, path: str) -> None:
        """`path` is done in this run: its candidates are written, or it was skipped."""

    def stop(self) -> None:
        """The run is being stopped (interrupted): a document still waiting returns at once."""


class SliceReadiness(Readiness):
    """The prepare process's progress as generation sees it: a document waits until its slice has
    been prepared, and each group of AHEAD_GROUP documents of a slice goes to `on_generated` once
    all of them are done (their validation work ahead may start: a whole slice waited for its
    last document, so the last slice's work was still ahead when the server was done)."""

    def __init__(self, slices: list[list[str]], on_generated: Callable[[list[str]], None]) -> None:
        groups = [piece[i:i + AHEAD_GROUP] for piece in slices for i in range(0, len(piece), AHEAD_GROUP)]
        self._lock = threading.Lock()
        self._slice_of = {key: index for index, piece in enumerate(slices) for key in piece}
        self._group_of = {key: index for index, group in enumerate(groups) for key in group}
        self._groups, self._left = groups, [len(group) for group in groups]
        self._ended = [threading.Event() for _ in slices]
        self._failure = [""] * len(slices)
        self._on_generated = on_generated

    def prepared(self, index: int, failure: str = "") -> None:
        """Slice `index` is prepared (`failure` empty), or failed as a whole: its documents may go (or be skipped)."""
        self._failure[index] = failure
        self._ended[index].set()

    def stop(self) -> None:
        with self._lock:
            for index, ended in enumerate(self._ended):
                if not ended.is_set():
                    self._failure[index] = "the run was interrupted"
                    ended.set()

    def wait(self, path: str) -> str | None:
        index = self._slice_of.get(path)
        if index is None:
            return None
        self._ended[index].wait()
        return self._failure[index] or None

    def generated(self, path: str) -> None:
        group = self._group_of.get(path)
        if group is None:
            return
        with self._lock:
            self._left[group] -= 1
            done = self._left[group] == 0 and not self._failure[self._slice_of[path]]
        if done:
            self._on_generated(self._groups[group])
