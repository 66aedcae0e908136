"""When a generate run may start on a document.

A run that prepared its documents itself (a UI backfill, `mbdg run` without lanes or under its
size) finds every document ready: `Readiness`, the default. `mbdg run`'s lanes (cli/range_runs.py)
instead start one generate run over the whole range while the prepare lane is still extracting
and embedding later slices, and bind a readiness that makes each document wait until its slice's
prepare run has ended. One long run keeps the request pool fed from the first slice to the last:
a run per slice ended with a drain (its last calls trickling in, no new ones started) and began
with a fill, which left a batch server's slots unused at every boundary. No Dagster imports here.
"""

from __future__ import annotations


class Readiness:
    """Every document is prepared: generation starts at once. A subclass may make `wait` block."""

    def wait(self, path: str) -> str | None:
        """Return once `path` is prepared (None), or with the reason it never will be in this run
        (its prepare run failed as a whole): the document is then skipped with that reason."""
        return None

    def generated(self, path: str) -> None:
        """`path` is done in this run: its candidates are written, or it was skipped."""

    def stop(self) -> None:
        """The run is being stopped (interrupted): a document still waiting returns at once."""
