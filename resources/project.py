from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from pydantic import Field

from mbdg_assets.extract.limits import DEFAULT_LIMITS, LIMIT_NAMES, ExtractionLimits
from mbdg_assets.storage.project import ProjectPaths, load_settings, project_dir_from_env, resolve_folder

DEFAULT_DOCS_DIR = "inbox"


class ProjectResource(dg.ConfigurableResource):
    """Where documents come from, where state and exports go. Empty fields fall back to the
    environment (MBDG_PROJECT_DIR, MBDG_DOCS_DIR) and the project's remembered settings."""

    project_dir: str = Field(default="", description="State folder; empty = $MBDG_PROJECT_DIR or ./.mbdg")
    docs_dir: str = Field(default="", description="Documents folder; empty = $MBDG_DOCS_DIR, else the project "
                          "configuration's (the last `mbdg run`), else ./inbox")
    out_dir: str = Field(default="", description="Export folder; empty = the project configuration's (the last "
                         "`mbdg run --out`), else <project dir>/exports")
    max_file_bytes: int = Field(default=DEFAULT_LIMITS.max_file_bytes, description="Larger files are refused with a per-file error")
    # Per-file budgets (extract/limits.py, README "Limits and hostile input"): over one, that file
    # fails with a specific code (too_large, too_many_parts, timeout) and the run goes on.
    max_decompressed_bytes: int = Field(default=DEFAULT_LIMITS.max_decompressed_bytes,
                                        description="Bytes all members of one zip-based file (docx, xlsx, epub...) may inflate to")
    max_compression_ratio: float = Field(default=DEFAULT_LIMITS.max_compression_ratio,
                                         description="A zip member inflating more than this many times its size is refused")
    max_archive_entries: int = Field(default=DEFAULT_LIMITS.max_archive_entries, description="Members of one zip container")
    max_archive_depth: int = Field(default=DEFAULT_LIMITS.max_archive_depth, description="Containers inside containers")
    max_text_chars: int = Field(default=DEFAULT_LIMITS.max_text_chars, description="Characters of text of one document")
    max_blocks: int = Field(default=DEFAULT_LIMITS.max_blocks, description="Blocks (paragraphs, tables...) of one document")
    max_chunks: int = Field(default=DEFAULT_LIMITS.max_chunks, description="Chunks of one document")
    max_pages: int = Field(default=DEFAULT_LIMITS.max_pages, description="Pages, slides, sheets, chapters or frames of one document")
    timeout_s: float = Field(default=DEFAULT_LIMITS.timeout_s, description="Seconds to read one file")
    max_memory_bytes: int = Field(default=DEFAULT_LIMITS.max_memory_bytes,
                                  description="Address space the worker reading one file may add")
    isolate_extraction: bool = Field(default=True, description="Read each file in a forked worker process, so the "
                                     "timeout and memory cap are hard stops (extract/worker.py)")
    extraction_workers: int = Field(default=0, ge=0, description="Files read at once, each in its own worker "
                                    "(with isolate_extraction; each worker has its own memory cap, so the most "
                                    "memory is workers x max_memory_bytes); 0 = one per CPU core")
    follow_symlinks: bool = Field(default=False, description="Read links that lead out of the docs folder "
                                  "(default: skipped and reported)")
    parser: str = Field(default="auto", description="Document parser: auto (the measured better one per format), "
                        "native (mbdg's own), docling (docling for the formats it converts offline; needs mbdg[docling])")

    def extraction_limits(self) -> ExtractionLimits:
        """The per-file budgets set on this resource (one field per ExtractionLimits field)."""
        return ExtractionLimits(**{name: getattr(self, name) for name in LIMIT_NAMES})

    @property
    def paths(self) -> ProjectPaths:
        return ProjectPaths(project_dir_from_env(self.project_dir or None))

    def docs_path(self) -> Path:
        chosen = self.docs_dir or os.environ.get("MBDG_DOCS_DIR")
        if chosen:
            return Path(chosen).expanduser().resolve()
        saved = load_settings(self.paths).get("docs_dir")  # relative to the project folder (relocatable)
        return resolve_folder(self.paths, saved) if saved else Path(DEFAULT_DOCS_DIR).resolve()

    def out_path(self) -> Path:
        if self.out_dir:
            return Path(self.out_dir).expanduser().resolve()
        saved = load_settings(self.paths).get("out_dir")
        return resolve_folder(self.paths, saved) if saved else self.paths.exports
