"""Signed, expiring URLs for the files openplum serves itself: ``/files/{appId}/{name}?expires=…&sig=…``.

The signature is an HMAC-SHA256 of the app, the name and the expiry under a key derived from
``OPENPLUM_SECRET_KEY``, or, when that is unset, from a secret generated once and kept in the store, so every
process (and every host on PostgreSQL) signs and verifies alike.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import quote, urlencode

from openplum.settings import Settings
from openplum.store.files import FilesTx

PREFIX = "/files/"
LIFETIME = 24 * 3600
_STORED_AS = "file-urls"  # the row of server_secrets holding the generated secret
_PURPOSE = b"openplum/file-urls/v1"


class NoSigningKey(RuntimeError):
    """No secret is configured and none was stored yet (no file was ever stored through ``services.files``)."""


def ensure_key(tx: FilesTx, settings: Settings, now: float) -> None:
    """Store a generated secret unless one is configured or stored already; called before a file is stored."""
    if not settings.secret_key:
        tx.ensure_secret(_STORED_AS, secrets.token_urlsafe(32), now)


def signing_key(tx: FilesTx, settings: Settings) -> bytes:
    secret = settings.secret_key or tx.get_secret(_STORED_AS)
    if secret is None:
        raise NoSigningKey("no secret to sign file URLs with")
    return hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()  # a key for this purpose only


def _signature(key: bytes, app_id: str, name: str, expires: int) -> str:
    message = f"{app_id}\x00{name}\x00{expires}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signed_path(key: bytes, app_id: str, name: str, now: float) -> str:
    """The path (with query) that serves ``name`` until ``now`` + 24 h."""
    expires = int(now) + LIFETIME
    query = urlencode({"expires": expires, "sig": _signature(key, app_id, name, expires)})
    return f"{PREFIX}{quote(app_id, safe='')}/{quote(name, safe='/')}?{query}"


def verify(key: bytes, app_id: str, name: str, expires: str, signature: str, now: float) -> bool:
    """Whether the signature is right (compared in constant time) and the URL has not expired."""
    if not expires.isdigit() or len(expires) > 12:
        return False
    expected = _signature(key, app_id, name, int(expires))
    return hmac.compare_digest(expected.encode(), signature.encode()) and now <= int(expires)
