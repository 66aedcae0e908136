"""A model's answer made safe against a kill the moment it arrives, before the warehouse has it.

The warehouse commits answers in batches (storage/warehouse.py: WarehouseGate), up to half a
second apart. Holding a request's pool slot until that commit left a batch server's slot unused
meanwhile; freeing it first let the next request go out before the answer was kept, so a run
killed in between asked that question again on resume. The journal closes the gap: each answer
is appended to a file (one `write`, which a SIGKILL cannot undo: the kernel holds it) while the
slot is held, and the next run's cache puts any answer found in a dead run's journal into the
warehouse before it asks anything.

Files are segments of SEGMENT_ANSWERS answers, each locked (flock) by the process writing it; a
segment is deleted once every answer in it is committed, so a run's journal stays a few segments
long. A segment nobody holds a lock on belongs to a run that died: `recover` takes it over.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import IO

SEGMENT_ANSWERS = 512


class AnswerJournal:
    """Append-only segments of answers not yet committed, in `directory` (one per project)."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._prefix = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._lock = threading.Lock()
        self._open: dict[int, IO[str]] = {}      # segment -> its file, open (and locked) until deleted
        self._outstanding: dict[int, int] = {}   # segment -> answers written but not yet committed
        self._segment, self._written = 0, 0
        self._start_segment()

    def _path(self, segment: int) -> Path:
        return self.directory / f"{self._prefix}-{segment:06d}.jsonl"

    def _start_segment(self) -> None:
        """Locked under a name `recover` does not look at, then renamed: it never sees it unlocked."""
        path = self._path(self._segment)
        handle = open(path.with_suffix(".new"), "a", encoding="utf-8")  # noqa: SIM115 - held until deleted
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.replace(handle.name, path)
        self._open[self._segment], self._outstanding[self._segment] = handle, 0

    def write(self, row: list) -> int | None:
        """Append one answer's warehouse row; returns its segment, to hand to `committed` (None
        once closed: an answer that comes back after an interrupted run's journal is closed is
        only asked again)."""
        line = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in row], ensure_ascii=False)
        with self._lock:
            if not self._open:
                return None
            if self._written >= SEGMENT_ANSWERS:
                self._segment, self._written = self._segment + 1, 0
                self._start_segment()
            handle = self._open[self._segment]
            handle.write(line + "\n")
            handle.flush()  # in the kernel now: survives a kill of this process (not a power cut)
            self._written += 1
            self._outstanding[self._segment] += 1
            return self._segment

    def committed(self, segment: int | None) -> None:
        """One answer of `segment` is in the warehouse; a full segment with none left is deleted."""
        with self._lock:
            if segment not in self._outstanding:
                return  # closed meanwhile (None), or the journal is closed
            self._outstanding[segment] -= 1
            if segment != self._segment and not self._outstanding[segment]:
                self._delete(segment)

    def close(self) -> None:
        """Delete the segments whose answers are all committed; keep the others for `recover`."""
        with self._lock:
            for segment in [s for s, left in self._outstanding.items() if not left]:
                self._delete(segment)
            for handle in self._open.values():
                handle.close()
            self._open.clear()
            self._outstanding.clear()

    def _delete(self, segment: int) -> None:
        self._path(segment).unlink(missing_ok=True)
        self._open.pop(segment).close()
        del self._outstanding[segment]


def recover(directory: str | Path, store: Callable[[list[list]], None]) -> int:
    """Hand the answers in dead runs' segments to `store` (which commits them), then delete those
    segments. A segment still locked belongs to a live run and is left alone; a torn last line
    (the kill came mid-write) is skipped. Returns the number of answers recovered."""
    recovered = 0
    for path in sorted(Path(directory).glob("*.jsonl")) if Path(directory).is_dir() else []:
        with open(path, encoding="utf-8") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            rows = rows_of(handle.read())
            if rows:
                store(rows)
            path.unlink()
            recovered += len(rows)
    return recovered


def rows_of(text: str) -> list[list]:
    """A segment's text as warehouse rows (`llm_calls`' columns), a torn line left out."""
    rows = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # the line being written when the run was killed: its call is simply asked again
        row[-1] = datetime.fromisoformat(row[-1])
        rows.append(row)
    return rows
