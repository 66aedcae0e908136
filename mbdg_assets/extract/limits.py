"""Budgets for reading one file: hostile or broken input must fail that file, bounded in memory and time.

One object shared by every reader (formats, archives, chunking), so each limit is set in one place.
Over a budget a reader raises ExtractionError with a specific code (`too_large`,
`too_many_parts`, `timeout`); the rest of the run goes on. The defaults are generous for real office
files and small enough that one file stays far under 1 GB of memory on a 2-core, 24 GiB machine.

Readers do not take the limits as an argument (that would thread one more parameter through every
format function and every library callback): ``extract_document`` opens a ``Budget`` for the file
being read with ``reading(...)``, and readers ask ``current_budget()`` for it. A context variable
keeps two files read at once in different threads apart. Outside ``reading`` the defaults apply.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields, replace

from mbdg_assets.extract.errors import ExtractionError


@dataclass(frozen=True)
class ExtractionLimits:
    max_file_bytes: int = 50_000_000            # the file as stored
    max_decompressed_bytes: int = 512 * 2**20    # all members read from one zip-based file or archive
    max_compression_ratio: float = 200.0         # a member inflating more than this is a zip bomb
    max_archive_entries: int = 10_000            # members of one zip/tar container
    max_archive_depth: int = 3                   # archives inside archives, mail attachments inside mail
    max_text_chars: int = 20_000_000             # extracted text of one document
    max_blocks: int = 200_000                    # blocks of one document
    max_chunks: int = 20_000                     # chunks of one document (each may become model calls)
    max_pages: int = 5_000                       # pages, slides, sheets, TIFF frames
    timeout_s: float = 300.0                     # wall time to read one file
    max_memory_bytes: int = 1536 * 2**20         # address space a worker reading one file may add

    def __post_init__(self) -> None:
        bad = [f.name for f in fields(self) if not getattr(self, f.name) > 0]
        if bad:
            raise ValueError(f"extraction limits must be positive: {', '.join(bad)}")

    def with_values(self, **values: object) -> ExtractionLimits:
        """A copy with some limits changed, each converted to the field's type (CLI and config
        give strings and ints); an unknown name is an error that lists the known ones."""
        types = {f.name: f.type for f in fields(self)}
        unknown = sorted(set(values) - set(types))
        if unknown:
            raise ValueError(f"unknown extraction limit(s) {', '.join(unknown)}; known: {', '.join(types)}")
        return replace(self, **{k: (float if types[k] == "float" else int)(v) for k, v in values.items()})


DEFAULT_LIMITS = ExtractionLimits()
LIMIT_NAMES: tuple[str, ...] = tuple(f.name for f in fields(ExtractionLimits))


class Budget:
    """The limits of one file being read, with its deadline."""

    def __init__(self, name: str, limits: ExtractionLimits = DEFAULT_LIMITS) -> None:
        self.name = name
        self.limits = limits
        self.deadline = time.monotonic() + limits.timeout_s
        self._inflated: dict[tuple[str, int], int] = {}

    def inflate(self, container: tuple[str, int], size: int, label: str) -> None:
        """Count ``size`` bytes inflated from one container (keyed by its name and stored size) against
        ``max_decompressed_bytes`` for the whole file: archives inside archives and an office file
        inside an archive share one budget, so nesting cannot multiply it. A container opened twice
        (a format that checks a zip, then reads it) keeps its largest figure instead of counting twice."""
        self._inflated[container] = max(self._inflated.get(container, 0), size)
        others = " and the containers read with it" if len(self._inflated) > 1 else ""
        self.check_size(f"bytes inflated from the {label}{others}", sum(self._inflated.values()), "max_decompressed_bytes")

    def fail(self, code: str, what: str):
        """Raise the per-file error; ``what`` says which budget and by how much."""
        raise ExtractionError(code, f"{self.name}: {what}")

    def check_time(self) -> None:
        """Called in the readers' loops (pages, chapters, blocks): a cooperative timeout that also
        works where no worker process can be used."""
        if time.monotonic() > self.deadline:
            self.fail("timeout", f"reading took longer than the limit of {self.limits.timeout_s:g} s (timeout_s)")

    def check_count(self, what: str, count: int, limit_name: str) -> None:
        """Pages, frames, entries, blocks, chunks: over the limit is ``too_many_parts``."""
        limit = getattr(self.limits, limit_name)
        if count > limit:
            self.fail("too_many_parts", f"{count:,} {what} is over the limit of {limit:,} ({limit_name})")

    def check_size(self, what: str, size: int, limit_name: str) -> None:
        """Bytes or characters: over the limit is ``too_large``."""
        limit = getattr(self.limits, limit_name)
        if size > limit:
            self.fail("too_large", f"{size:,} {what} is over the limit of {limit:,} ({limit_name})")


_CURRENT: ContextVar[Budget | None] = ContextVar("mbdg_extraction_budget", default=None)


@contextmanager
def reading(name: str, limits: ExtractionLimits = DEFAULT_LIMITS) -> Iterator[Budget]:
    """Open the budget of one file for everything read inside the ``with`` block."""
    budget = Budget(name, limits)
    token = _CURRENT.set(budget)
    try:
        yield budget
    finally:
        _CURRENT.reset(token)


def current_budget() -> Budget:
    """The budget of the file being read; a fresh default one outside ``reading``."""
    return _CURRENT.get() or Budget("(input)")
