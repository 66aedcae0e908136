"""Budgets for reading one file: hostile or broken input must fail that file, bounded in memory and time.

One object shared by every reader (formats, archives, chunking), so each limit is set in one place.
Over a budget a reader raises ExtractionError with a specific code (`too_large`,
`too_many_parts`, `timeout`); the rest of the run goes on. The defaults are generous for real office
files and small enough that one file stays far under 1 GB of memory on a 2-core, 24 GiB machine.
"""

from __future__ import annotations

from dataclasses import dataclass


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


DEFAULT_LIMITS = ExtractionLimits()
