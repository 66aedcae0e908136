"""Subtitles and captions (.vtt WebVTT, .srt SubRip): what was said, as paragraphs.

Recorded meetings, trainings and webinars come with caption files; their words are the content.
Cue numbers, timings, styling tags and WebVTT's header, NOTE, STYLE and REGION blocks are
dropped; a WebVTT voice tag (``<v Ann>``) becomes "Ann:" at the start of what Ann says. Cues run
together into one paragraph until a pause, a new speaker, or the paragraph's length.
"""

from __future__ import annotations

import re
from pathlib import Path

from .base import Drafts, ExtractionError, Parsed, decode

_TIMING = re.compile(r"^\s*((?:\d+:)?\d{1,2}:\d{2}[.,]\d{3})\s*-->\s*((?:\d+:)?\d{1,2}:\d{2}[.,]\d{3})")
_VOICE = re.compile(r"<v(?:\.[^ >]*)?\s+([^>]+)>")
_TAG = re.compile(r"</?[a-zA-Z][^>]*>|<\d[^>]*>")  # <i>, <c.yellow>, <00:00:01.000> karaoke times
_SKIPPED_BLOCKS = ("NOTE", "STYLE", "REGION")
PAUSE_S = 2.0  # a longer silence between cues starts a new paragraph
PARAGRAPH_CHARS = 700


def _seconds(stamp: str) -> float:
    parts = [float(p) for p in stamp.replace(",", ".").split(":")]
    return sum(value * 60 ** power for power, value in enumerate(reversed(parts)))


def _cues(text: str) -> list[tuple[float, float, str, str]]:
    """(start, end, speaker, words) of every cue, in file order."""
    cues = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        lines = [line for line in block.split("\n") if line.strip()]
        timing_at = next((i for i, line in enumerate(lines) if _TIMING.match(line)), None)
        if timing_at is None or lines[0].split()[0] in _SKIPPED_BLOCKS:
            continue  # the WEBVTT header, a note, a style or region block, or stray text
        start, end = (_seconds(s) for s in _TIMING.match(lines[timing_at]).groups())
        words = " ".join(lines[timing_at + 1:])
        voice = _VOICE.search(words)
        words = " ".join(_TAG.sub("", words).split())
        if words:
            cues.append((start, end, voice.group(1).strip() if voice else "", words))
    return cues


def extract_subtitles(path: Path, data: bytes) -> Parsed:
    """Cues joined into paragraphs (see the module docstring); a file without a single timed cue
    is not a caption file."""
    cues = _cues(decode(path, data))
    if not cues:
        raise ExtractionError("corrupt_file", f"{path.name}: no timed cues ('00:00:01.000 --> 00:00:02.000') found")
    drafts, paragraph, speaker, last_end = Drafts(), [], None, None
    for start, end, voice, words in cues:
        new_speaker = bool(voice) and voice != speaker
        if paragraph and (new_speaker or start - last_end > PAUSE_S or sum(map(len, paragraph)) > PARAGRAPH_CHARS):
            drafts.add("paragraph", " ".join(paragraph))
            paragraph = []
        if new_speaker or (voice and not paragraph):
            words = f"{voice}: {words}"
        speaker, last_end = voice or speaker, end
        paragraph.append(words)
    drafts.add("paragraph", " ".join(paragraph))
    return Parsed(drafts.items)
