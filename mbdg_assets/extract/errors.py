"""The one error a reader raises for a bad file, in a module of its own so that the budgets
(limits.py) and the format readers (formats/) can both raise it without importing each other."""

from __future__ import annotations


class ExtractionError(Exception):
    """A per-file failure with a short machine code and a human message.

    Callers record ``code`` per file and keep going with the other files, so one bad file
    never stops a run. Codes: empty_file, unsupported_format, wrong_extension, corrupt_file,
    truncated, encrypted, too_large, too_many_parts, timeout, no_text, unreadable, internal_error.
    """

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message
