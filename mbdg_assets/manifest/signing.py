"""HMAC-SHA256 signing of run manifests.

The key comes from `MBDG_SIGNING_KEY`, or from a key file created on first use with 0600
permissions inside the project directory. Only a key *id* (a one-way digest of the key) is ever
written into outputs, so a reader can tell which key signed a manifest without learning it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

KEY_ENV = "MBDG_SIGNING_KEY"
KEY_FILE = "signing.key"
ALGORITHM = "HMAC-SHA256"


@dataclass(frozen=True)
class SigningKey:
    secret: bytes = field(repr=False)
    source: str  # "env:MBDG_SIGNING_KEY" or "file:<path>", for messages; never the key itself

    @property
    def key_id(self) -> str:
        return "k-" + hashlib.sha256(b"mbdg-key-id\x00" + self.secret).hexdigest()[:16]


class KeyFileError(Exception):
    """The key file exists but cannot be trusted or read."""


def _read_key_file(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyFileError(f"{path} is readable by other users (mode {mode:o}); run: chmod 600 {path}")
    secret = path.read_text().strip().encode()
    if not secret:
        raise KeyFileError(f"{path} is empty; delete it to have a new key created")
    return secret


def _create_key_file(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secret + b"\n")
    return secret


def load_or_create_key(key_dir: str | os.PathLike[str]) -> SigningKey:
    """The env key when set, else the project's key file (created on first use)."""
    env_value = os.environ.get(KEY_ENV)
    if env_value:
        return SigningKey(env_value.encode(), f"env:{KEY_ENV}")
    path = Path(key_dir) / KEY_FILE
    try:
        return SigningKey(_read_key_file(path), f"file:{path}")
    except FileNotFoundError:
        try:
            return SigningKey(_create_key_file(path), f"file:{path}")
        except FileExistsError:  # another process created it a moment ago
            return SigningKey(_read_key_file(path), f"file:{path}")


class KeyChangeError(Exception):
    """This run would sign with another key than the project's last manifest."""


ALLOW_HINT = "or allow the change explicitly (`mbdg run --allow-key-change`; in the UI: resources.signer.config.allow_key_change: true)"


def continuing_key(key_dir: str | os.PathLike[str], last_key_id: str | None, allow_change: bool = False) -> SigningKey:
    """The signing key, refused when it is not the one that signed the project's last manifest
    (`last_key_id`) unless the change is explicitly allowed: a UI or sensor run in an environment
    without MBDG_SIGNING_KEY must not create a new key and re-sign with it without a word."""
    path = Path(key_dir) / KEY_FILE
    if last_key_id and not allow_change and not os.environ.get(KEY_ENV) and not path.exists():
        raise KeyChangeError(f"the project's last manifest was signed with key {last_key_id}, and this run has neither "
                             f"{KEY_ENV} nor the key file {path}: set {KEY_ENV} to that key, {ALLOW_HINT}")
    key = load_or_create_key(key_dir)
    if last_key_id and key.key_id != last_key_id and not allow_change:
        raise KeyChangeError(f"this run would sign with key {key.key_id} ({key.source}), but the project's last manifest "
                             f"was signed with key {last_key_id}: use that key, {ALLOW_HINT}")
    return key


def canonical_json(value: object) -> bytes:
    """One byte sequence per JSON value: sorted keys, no insignificant whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def sign(payload: object, key: SigningKey) -> str:
    return hmac.new(key.secret, canonical_json(payload), hashlib.sha256).hexdigest()


def signature_matches(payload: object, signature: str, key: SigningKey) -> bool:
    return hmac.compare_digest(sign(payload, key), signature)
