"""Images (PNG, JPEG, TIFF incl. multi-page, BMP, HEIC) through OCR: RapidOCR on onnxruntime.

RapidOCR's wheel ships its PP-OCR detection and recognition models (about 16 MB), so it works
offline from a plain pip install; tesseract would need a system package, docling's OCR pipeline
needs model-hub weights. Cost: ~1 s to load once per process, then 1-4 s per page on 2 cores for
short pages; a full A4 page of text costs ~17 s of CPU, nearly all in the recognition model (its
cost follows the amount of text, not the pixels), see ``bench/bench_extraction.py --only scan``.
Pages are not OCRed in parallel: onnxruntime already uses every core for one page.
Known limits: no headings or tables (text lines grouped into paragraphs only), and the shipped
recognition model is trained mostly on Chinese + English, so spaces between words are sometimes
lost.
"""

from __future__ import annotations

import io
import re
import threading
from functools import cache
from pathlib import Path

from mbdg_assets.extract.limits import current_budget
from mbdg_assets.extract.sniffing import sniff

from .base import Drafts, ExtractionError, Parsed, clean

OCR_SIDE = 2000  # RapidOCR's own working size (its max_side_len): larger scans are scaled down once, here
USE_ANGLE_CLASSIFIER = False  # document pages are upright; the 0/180 degree classifier flipped whole lines into
# garbage (2 of 31 lines of an A4 scan, then dropped by the score filter), and costs time per line
REC_BATCH = 1  # text lines recognised one at a time: a batch pads every line to its widest one; measured on
# a full A4 scan, CPU seconds 14.4 at 1, 18.4 at RapidOCR's default 6, 24.3 at 16
BLANK_RANGE = 24  # a frame whose grey levels span less than this is blank: no OCR (7-10 s each, measured)
_lock = threading.Lock()


@cache
def _engine(rec_batch: int):
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR(rec_batch_num=rec_batch)


def _lines(boxes: list) -> list[tuple[float, float, str]]:
    """(top, height, text) per visual line: boxes whose vertical centres fall within half a box
    height of each other are one line, read left to right."""
    items = sorted(
        ((min(p[1] for p in box), max(p[1] for p in box), min(p[0] for p in box), text) for box, text, *_ in boxes),
        key=lambda b: (b[0] + b[1]) / 2,
    )
    lines: list[list] = []
    for top, bottom, left, text in items:
        centre, height = (top + bottom) / 2, bottom - top
        if lines and abs(centre - lines[-1][0]) < height / 2:
            lines[-1][2].append((left, text))
        else:
            lines.append([centre, height, [(left, text)], top])
    return [(line[3], line[1], " ".join(t for _, t in sorted(line[2]))) for line in lines]


def _paragraphs(lines: list[tuple[float, float, str]]) -> list[str]:
    """A vertical gap wider than one line height starts a new paragraph."""
    paragraphs: list[list[str]] = []
    previous_bottom = None
    for top, height, text in lines:
        if previous_bottom is None or top - previous_bottom > height:
            paragraphs.append([])
        paragraphs[-1].append(clean(text).strip())
        previous_bottom = top + height
    return ["\n".join(p) for p in paragraphs]


def _heif_opener() -> None:
    """HEIC / HEIF (iPhone photos) through pi-heif: its wheels bundle libheif and libde265 (LGPL)
    only; pillow-heif's also bundle the GPL x265 encoder, which an Apache-2.0 tool should not ship."""
    try:
        import pi_heif
    except ImportError as exc:
        raise ExtractionError("parser_unavailable", "HEIC images need pi-heif: pip install pi-heif") from exc
    pi_heif.register_heif_opener()


def _open(path: Path, data: bytes):
    from PIL import Image, UnidentifiedImageError

    if path.suffix.lower() in (".heic", ".heif"):
        try:
            _heif_opener()
        except ExtractionError as error:
            raise ExtractionError(error.code, f"{path.name}: {error.message}") from None
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
        return image
    except Image.DecompressionBombError as exc:
        raise ExtractionError("too_large", f"{path.name}: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise ExtractionError("corrupt_file", f"{path.name}: not a readable image ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        code = "truncated" if "truncated" in str(exc).lower() else "corrupt_file"
        raise ExtractionError(code, f"{path.name}: image is {'cut off' if code == 'truncated' else 'damaged'} ({exc})") from exc


def _is_blank(frame) -> bool:
    """Nearly one grey level all over (an empty scanned page, a padding frame)."""
    low, high = frame.convert("L").getextrema()
    return high - low < BLANK_RANGE


def ocr_paragraphs(image) -> list[str]:
    """OCR one page image (PIL) into paragraphs; images larger than the working size are scaled
    down to it first (OCR time grows with pixels); a blank page is not OCRed at all."""
    import numpy as np

    frame = image.convert("RGB")
    if max(frame.size) > OCR_SIDE:
        frame.thumbnail((OCR_SIDE, OCR_SIDE))
    if _is_blank(frame):
        return []
    with _lock:  # the onnxruntime session is shared; one page at a time keeps memory flat
        result, _ = _engine(REC_BATCH)(np.asarray(frame)[:, :, ::-1], use_cls=USE_ANGLE_CLASSIFIER)
    return _paragraphs(_lines(result or []))


def extract_image(path: Path, data: bytes) -> Parsed:
    """OCR every frame (a multi-page TIFF is one page per frame); paragraphs carry their page.
    Frames count against ``max_pages`` up front and each against Pillow's decompression-bomb
    pixel limit (only the first frame is checked on open); blank frames are not OCRed, the
    budget's deadline is checked before each frame."""
    from PIL import Image

    image = _open(path, data)
    frames = getattr(image, "n_frames", 1)
    budget = current_budget()
    budget.check_count("frames", frames, "max_pages")
    drafts = Drafts()
    for index in range(frames):
        budget.check_time()
        image.seek(index)
        if Image.MAX_IMAGE_PIXELS and image.width * image.height > Image.MAX_IMAGE_PIXELS:
            budget.fail("too_large", f"frame {index + 1} has {image.width * image.height:,} pixels, over Pillow's "
                        f"limit of {Image.MAX_IMAGE_PIXELS:,} (a decompression bomb?)")
        for paragraph in ocr_paragraphs(image):
            drafts.add("paragraph", paragraph, page=index + 1)
    return Parsed(drafts.items, frames)


# Images whose magic is more than a prefix (a text may begin "BM"), so sniffing's table of prefixes
# does not hold them; the other images' signatures are read from there.
_BMP_HEADER_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}  # the DIB header's size, bytes 14-17 of a BMP
_FRAMED_SIGNATURES = {
    "bmp": lambda head: head.startswith(b"BM") and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES,
    "webp": lambda head: head.startswith(b"RIFF") and head[8:12] == b"WEBP",
    # netpbm (SANE's `scanimage` writes it by default): "P1".."P6", then white space
    **dict.fromkeys(("pnm", "ppm", "pgm", "pbm"),
                    lambda head: re.match(rb"P[1-6]\s", head) is not None),
}
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif")


def _image_kind(suffix: str) -> str:
    suffix = suffix.lower().lstrip(".")
    return {"jpg": "jpeg", "tif": "tiff", "heif": "heic"}.get(suffix, suffix)


def check_image_magic(path: Path, head: bytes) -> None:
    kind = _image_kind(path.suffix)
    if kind == "heic":
        if head[4:8] != b"ftyp" or head[8:12] not in _HEIF_BRANDS:
            raise ExtractionError("corrupt_file", f"{path.name}: named {path.suffix} but is not a HEIF image")
        return
    if kind in _FRAMED_SIGNATURES:
        matches = _FRAMED_SIGNATURES[kind](head)
    else:
        sniffed = sniff(head)
        matches = sniffed is not None and _image_kind(sniffed[1]) == kind
    if not matches:
        raise ExtractionError("corrupt_file", f"{path.name}: named {path.suffix} but is not a {kind.upper()} image")
