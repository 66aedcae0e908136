"""The review page's guards: session cookie + CSRF token, access token, Host check, strict headers.

Records and documents are untrusted text (LLM output, HTML from the web), so the page escapes
everything (Jinja2 autoescape) and forbids inline script with a Content-Security-Policy as a second
line. A state-changing POST must carry the CSRF token derived from the session cookie, so another
site open in the same browser cannot decide records. Bound to a non-loopback address, every
request must also prove the access token given at start; on loopback the Host header must name
the loopback, which stops DNS-rebinding pages from reading the queue.

Hostile requests are bounded before any work: `BodyLimit` (the outermost layer of the app) refuses a
declared body over the limit and stops reading an undeclared one at the limit; secrets are compared
as bytes, so odd characters in a cookie or form value are a refusal, never a 500; and an access
token must carry real entropy (`token_weakness`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import re
import secrets
from dataclasses import dataclass, field

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "mbdg_review_session"
ACCESS_COOKIE = "mbdg_review_access"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")
MAX_BODY_BYTES = 1_000_000             # the largest form the page sends is an edited record
MIN_TOKEN_BITS = 64
SESSION_FORMAT = re.compile(r"[A-Za-z0-9_-]{20,100}")  # what new_session() makes
TOKEN_ADVICE = "e.g. python -c 'import secrets; print(secrets.token_urlsafe(24))'"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: the addresses only this machine can reach."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name part of a Host header (without the port), lower case."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[: header.find("]") + 1] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


@dataclass
class Guard:
    """Per-process secrets: a restart invalidates open pages' CSRF tokens (reload to continue)."""

    access_token: str = ""
    loopback_only: bool = True
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def __post_init__(self) -> None:
        if self.access_token and (weakness := token_weakness(self.access_token)):
            raise ValueError(weakness)

    def session_ok(self, session: str | None) -> bool:
        """A cookie this server could have issued; anything else gets a fresh session."""
        return bool(session) and SESSION_FORMAT.fullmatch(session) is not None

    def new_session(self) -> str:
        return secrets.token_urlsafe(32)

    def csrf_token(self, session: str) -> str:
        return hmac.new(self.secret, f"csrf:{session}".encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: str | None, token: str | None) -> bool:
        return bool(session and token) and _same(self.csrf_token(session), token)

    def access_cookie(self) -> str:
        return hmac.new(self.secret, f"access:{self.access_token}".encode(), hashlib.sha256).hexdigest()

    def token_ok(self, given: str | None) -> bool:
        return bool(self.access_token and given) and _same(given, self.access_token)

    def access_ok(self, bearer: str | None, cookie: str | None) -> bool:
        """No token configured: open (loopback). Otherwise the bearer header or the access cookie."""
        if not self.access_token:
            return True
        return self.token_ok(bearer) or bool(cookie and _same(cookie, self.access_cookie()))

    def host_ok(self, host_header: str) -> bool:
        return not self.loopback_only or host_name(host_header) in LOOPBACK_NAMES


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison of two strings of any characters (compare_digest refuses non-ASCII str)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def _token_bits(token: str) -> float:
    """A cautious entropy estimate: log2 of the character pool per character, but about 1 bit for a
    character that repeats the previous one, continues a run (abc, 246, 987) or ends a 3-character
    sequence seen earlier in the token (passwordpassword, ababab)."""
    pool = sum(size for test, size in ((str.islower, 26), (str.isupper, 26), (str.isdigit, 10))
               if any(test(c) for c in token)) + (33 if any(not c.isalnum() for c in token) else 0)
    bits = 0.0
    for i, char in enumerate(token):
        step = ord(char) - ord(token[i - 1]) if i else None
        run = i >= 2 and step is not None and abs(step) <= 2 and step == ord(token[i - 1]) - ord(token[i - 2])
        cheap = step == 0 or run or (i >= 2 and token[i - 2:i + 1] in token[:i])
        bits += 1.0 if cheap else math.log2(pool)
    return bits


def token_weakness(token: str) -> str | None:
    """Why `token` is not fit to guard the review page (None when it is): at least 16 printable
    ASCII characters without spaces (it travels in a URL) and an estimated MIN_TOKEN_BITS bits."""
    if len(token) < 16:
        return f"the access token must be at least 16 characters ({TOKEN_ADVICE})"
    if not all("!" <= c <= "~" for c in token):
        return f"the access token must be printable ASCII without spaces: it travels in a URL ({TOKEN_ADVICE})"
    bits = _token_bits(token)
    if bits < MIN_TOKEN_BITS:
        return (f"the access token is too easy to guess (about {bits:.0f} bits of entropy, at least {MIN_TOKEN_BITS} "
                f"needed: no repeated characters, runs or repeated parts; {TOKEN_ADVICE})")
    return None


class BodyTooLarge(Exception):
    """The request body went past the limit while it was being read."""


def _only_body_too_large(error: BaseException) -> bool:
    """BodyTooLarge itself, or a task group's bundle of nothing else (Starlette's BaseHTTPMiddleware
    reads the body in a task group)."""
    if isinstance(error, BaseExceptionGroup):
        return error.split(BodyTooLarge)[1] is None
    return isinstance(error, BodyTooLarge)


def plain_response(status: int, message: str) -> Response:
    """A short text response carrying the security headers (every refusal the page sends)."""
    return secured(Response(message + "\n", status_code=status, media_type="text/plain; charset=utf-8"))


def secured(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


class BodyLimit:
    """Outermost ASGI layer: a body over `limit` bytes is refused with 413 before any other work,
    from its Content-Length when declared, else as soon as the bytes read pass the limit (memory
    stays bounded whatever the client sends). An error deeper in the app still answers with the
    security headers."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"0").strip()
        if not declared.isdigit() or len(declared) > 12 or int(declared) > self.limit:
            status, why = (413, f"request body over {self.limit} bytes") if declared.isdigit() else (400, "malformed Content-Length")
            await plain_response(status, f"{why}: refused")(scope, receive, send)
            return
        received, started = 0, False

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise BodyTooLarge
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracked_send)
        except Exception as error:
            if _only_body_too_large(error):
                if not started:
                    await plain_response(413, f"request body over {self.limit} bytes: refused")(scope, receive, send)
                return
            logging.getLogger(__name__).exception("review page: unexpected error")
            if not started:
                await plain_response(500, "internal error (see the server log)")(scope, receive, send)
            raise
