"""Legacy Word (.doc) and PowerPoint (.ppt) through LibreOffice headless, when it is installed.

No maintained, offline, non-GPL Python library reads the binary Word / PowerPoint formats
(antiword and catdoc are GPL programs; olefile only opens the container). LibreOffice converts
them faithfully: ``soffice --headless --convert-to docx`` / ``pptx`` in a private profile and a
temporary folder, and the result goes through our own DOCX / PPTX readers, so headings, lists and
tables come out as for a modern file. Cost (Debian 12, measured on this project's CI machine):
``apt-get install --no-install-recommends libreoffice-writer-nogui libreoffice-impress-nogui`` is
61 packages, 91 MB to download, 274 MB on disk; the first conversion in a process starts
LibreOffice (~2-4 s), see ``bench/bench_extraction.py --only doc``. Without LibreOffice the file
fails with ``parser_unavailable`` naming the package to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from .base import OLE_MAGIC, ExtractionError, Parsed
from .docx import extract_docx
from .markup import extract_rtf
from .office import extract_pptx
from .text import extract_text

INSTALL_HINT = ("install LibreOffice (Debian/Ubuntu: apt-get install --no-install-recommends "
                "libreoffice-writer-nogui libreoffice-impress-nogui; macOS: brew install --cask libreoffice)")
TIMEOUT_S = 120.0


def soffice() -> str | None:
    """The LibreOffice program, if installed."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def check_ole_magic(path: Path, head: bytes) -> None:
    if not head.startswith(OLE_MAGIC):
        raise ExtractionError("corrupt_file", f"{path.name}: named {path.suffix} but is not a legacy Office (OLE) file")


def convert(path: Path, data: bytes, target: str, timeout_s: float = TIMEOUT_S) -> bytes:
    """``data`` converted by LibreOffice to ``target`` ("docx" / "pptx"); each call has its own
    profile folder, so parallel conversions never share LibreOffice's lock."""
    program = soffice()
    if program is None:
        raise ExtractionError("parser_unavailable", f"{path.name}: legacy {path.suffix} files need LibreOffice: {INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="mbdg-soffice-") as tmp:
        source = Path(tmp) / f"input{path.suffix.lower()}"
        source.write_bytes(data)
        command = [program, f"-env:UserInstallation=file://{tmp}/profile", "--headless", "--norestore",
                   "--convert-to", target, "--outdir", str(Path(tmp) / "out"), str(source)]
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout_s, env=os.environ | {"HOME": tmp})
        except subprocess.TimeoutExpired as exc:
            raise ExtractionError("timeout", f"{path.name}: LibreOffice took over {timeout_s:.0f} s to convert it") from exc
        result = Path(tmp) / "out" / f"input.{target}"
        if not result.exists():
            said = (done.stderr or done.stdout).decode("utf-8", "replace").strip()[-300:]
            raise ExtractionError("corrupt_file", f"{path.name}: LibreOffice could not convert it ({said or 'no output'})")
        return result.read_bytes()


def extract_via(path: Path, data: bytes, target: str, reader: Callable[[Path, bytes], Parsed]) -> Parsed:
    """Convert with LibreOffice to ``target`` and read the result with ``reader`` (our own DOCX /
    PPTX reader, passed in by the dispatcher); the document says it was read that way."""
    parsed = reader(path, convert(path, data, target))
    parsed.parser = "libreoffice+native"
    return parsed


def extract_doc(path: Path, data: bytes) -> Parsed:
    """Legacy Word: LibreOffice converts the binary (OLE) format to .docx, our DOCX reader reads it.
    Word also saves RTF under .doc, and old plain-text manuals carry .doc: read as what they are."""
    if data.lstrip()[:5] == b"{\\rtf":
        return extract_rtf(path, data)
    if not data.startswith(OLE_MAGIC):
        return extract_text(path, data)
    return extract_via(path, data, "docx", extract_docx)


def extract_ppt(path: Path, data: bytes) -> Parsed:
    return extract_via(path, data, "pptx", extract_pptx)
