"""Management API tokens: created by ``openplum admin-token create``, stored only as hashes.

A token reads ``opk_<id>_<secret>``; the id finds the stored hash, and the secret's hash is compared in
constant time. Tokens are shown once, when created.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from openplum.store.base import Tx

PREFIX = "opk_"


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def create(tx: Tx, name: str, now: float) -> str:
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    tx.add_admin_token(token_id, name, _hash(secret), now)
    tx.audit(None, now, "cli", "admin-token.create", token_id, None)
    return f"{PREFIX}{token_id}_{secret}"


def verify(hashes: dict[str, bytes], token: str) -> str | None:
    """The token's id when ``token`` is valid, else None."""
    if not token.startswith(PREFIX):
        return None
    token_id, _, secret = token[len(PREFIX):].partition("_")
    stored = hashes.get(token_id)
    if stored is None or not secret:
        hmac.compare_digest(_hash(secret or "x"), _hash("y"))  # same work whether or not the id exists
        return None
    return token_id if hmac.compare_digest(_hash(secret), stored) else None


def revoke(tx: Tx, token_id: str, now: float) -> bool:
    """Revoke a token by its id (the part after ``opk_``, before the second ``_``); False if unknown."""
    token_id = token_id.removeprefix(PREFIX).split("_")[0]
    done = tx.revoke_admin_token(token_id, now)
    if done:
        tx.audit(None, now, "cli", "admin-token.revoke", token_id, None)
    return done
