"""Apps and their four key classes: creation, lookup and constant-time key classification."""

from __future__ import annotations

import enum
import hmac
import re
import secrets

from openplum.store.base import AppRecord, Tx

__all__ = ["AppExists", "AppRecord", "InvalidAppInput", "KeyClass", "classify_key", "create_app", "new_app"]


class KeyClass(enum.Enum):
    PRODUCTION = "production"
    DEVELOPMENT = "development"
    DATA_EXPORT = "dataExport"
    CONTENT_READ_ONLY = "contentReadOnly"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    KeyClass.PRODUCTION: "production",
    KeyClass.DEVELOPMENT: "development",
    KeyClass.DATA_EXPORT: "data export",
    KeyClass.CONTENT_READ_ONLY: "content read-only",
}
_PREFIXES = {
    KeyClass.PRODUCTION: "prod_",
    KeyClass.DEVELOPMENT: "dev_",
    KeyClass.DATA_EXPORT: "exp_",
    KeyClass.CONTENT_READ_ONLY: "cro_",
}
_TOKEN = re.compile(r"^[A-Za-z0-9_.\-]{1,200}$")


class AppExists(Exception):
    pass


class InvalidAppInput(ValueError):
    pass


def generate_key(cls: KeyClass) -> str:
    return _PREFIXES[cls] + secrets.token_urlsafe(32)


def generate_app_id() -> str:
    return "app_" + secrets.token_urlsafe(24).replace("-", "x").replace("_", "y")


_CLASSES = (KeyClass.PRODUCTION, KeyClass.DEVELOPMENT, KeyClass.DATA_EXPORT, KeyClass.CONTENT_READ_ONLY)
"""The classes in the order of ``_keys``."""


def _keys(app: AppRecord) -> tuple[str, str, str, str]:
    return app.production_key, app.development_key, app.data_export_key, app.content_read_only_key


def keys_of(app: AppRecord) -> dict[KeyClass, str]:
    return dict(zip(_CLASSES, _keys(app), strict=True))


def classify_key(app: AppRecord, client_key: str) -> KeyClass | None:
    """Which class ``client_key`` belongs to; every key is compared, each in constant time.

    Every request asks, so the four comparisons are written out: no tuple, no encoding, no enum member hashed.
    Keys are ASCII (``_TOKEN``), so a key that is not matches none, and is refused without a comparison.
    """
    if not client_key.isascii():
        return None
    found: KeyClass | None = None
    if hmac.compare_digest(client_key, app.production_key):
        found = KeyClass.PRODUCTION
    if hmac.compare_digest(client_key, app.development_key):
        found = KeyClass.DEVELOPMENT
    if hmac.compare_digest(client_key, app.data_export_key):
        found = KeyClass.DATA_EXPORT
    if hmac.compare_digest(client_key, app.content_read_only_key):
        found = KeyClass.CONTENT_READ_ONLY
    return found


def describe(app: AppRecord) -> dict[str, object]:
    """The public JSON shape of an app, as the CLI prints it."""
    return {"appId": app.app_id, "name": app.name, "keys": {c.value: k for c, k in keys_of(app).items()}}


def new_app(
    name: str,
    now: float,
    app_id: str | None = None,
    keys: dict[KeyClass, str | None] | None = None,
) -> AppRecord:
    if not name.strip():
        raise InvalidAppInput("name must not be empty")
    app_id = generate_app_id() if app_id is None else app_id  # an empty id given is an error, not "choose one"
    if not _TOKEN.match(app_id):
        raise InvalidAppInput("app id must be 1-200 characters of letters, digits, '_', '-' or '.'")
    chosen = {cls: (keys or {}).get(cls) or generate_key(cls) for cls in KeyClass}
    for cls, key in chosen.items():
        if not _TOKEN.match(key):
            raise InvalidAppInput(f"{cls.label} key must be 1-200 characters of letters, digits, '_', '-' or '.'")
    if len(set(chosen.values())) != len(chosen):
        raise InvalidAppInput("the four keys must be different from each other")
    return AppRecord(
        app_id=app_id,
        name=name,
        production_key=chosen[KeyClass.PRODUCTION],
        development_key=chosen[KeyClass.DEVELOPMENT],
        data_export_key=chosen[KeyClass.DATA_EXPORT],
        content_read_only_key=chosen[KeyClass.CONTENT_READ_ONLY],
        created=now,
    )


def rotate_key(tx: Tx, app_id: str, key_class: KeyClass, now: float, actor: str) -> AppRecord:
    """Replace one of the app's keys with a new random one; the old key stops working at once."""
    import dataclasses

    app = tx.get_app(app_id)
    if app is None:
        raise LookupError(app_id)
    keys = keys_of(app)
    keys[key_class] = generate_key(key_class)
    rotated = dataclasses.replace(
        app,
        production_key=keys[KeyClass.PRODUCTION],
        development_key=keys[KeyClass.DEVELOPMENT],
        data_export_key=keys[KeyClass.DATA_EXPORT],
        content_read_only_key=keys[KeyClass.CONTENT_READ_ONLY],
    )
    tx.update_app_keys(rotated)
    tx.audit(app_id, now, actor, "app.rotateKey", key_class.value, None)
    return rotated


def create_app(tx: Tx, app: AppRecord) -> AppRecord:
    if tx.get_app(app.app_id) is not None:
        raise AppExists(f"an app with id {app.app_id!r} already exists")
    tx.insert_app(app)
    return app
