"""File helpers more than one phase needs: the document id and the manifest's file digests are
the same sha256 of a file's bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: str | Path, block: int = 1 << 20) -> str:
    """sha256 of a file's bytes, read in blocks so a large file is never held in memory;
    raises OSError when the file cannot be read."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()
