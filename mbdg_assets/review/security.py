"""The review page's guards: session cookie + CSRF token, access token, Host check, strict headers.

Records and documents are untrusted text (LLM output, HTML from the web), so the page escapes
everything (Jinja2 autoescape) and forbids inline script with a Content-Security-Policy as a second
line. A state-changing POST must carry the CSRF token derived from the session cookie, so another
site open in the same browser cannot decide records. Bound to a non-loopback address, every
request must also prove the access token given at start; on loopback the Host header must name
the loopback, which stops DNS-rebinding pages from reading the queue.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field

SESSION_COOKIE = "mbdg_review_session"
ACCESS_COOKIE = "mbdg_review_access"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")
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

    def new_session(self) -> str:
        return secrets.token_urlsafe(32)

    def csrf_token(self, session: str) -> str:
        return hmac.new(self.secret, f"csrf:{session}".encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: str | None, token: str | None) -> bool:
        return bool(session and token) and hmac.compare_digest(self.csrf_token(session), token)

    def access_cookie(self) -> str:
        return hmac.new(self.secret, f"access:{self.access_token}".encode(), hashlib.sha256).hexdigest()

    def token_ok(self, given: str | None) -> bool:
        return bool(self.access_token and given) and hmac.compare_digest(given.encode(), self.access_token.encode())

    def access_ok(self, bearer: str | None, cookie: str | None) -> bool:
        """No token configured: open (loopback). Otherwise the bearer header or the access cookie."""
        if not self.access_token:
            return True
        return self.token_ok(bearer) or bool(cookie and hmac.compare_digest(cookie, self.access_cookie()))

    def host_ok(self, host_header: str) -> bool:
        return not self.loopback_only or host_name(host_header) in LOOPBACK_NAMES
