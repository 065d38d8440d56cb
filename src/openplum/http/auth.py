"""Who is calling: the app (cached briefly) and the class of the key they hold, checked per action."""

from __future__ import annotations

import time

from openplum.actions.prepare import DEV_MODE_REFUSED, INVALID_KEY, permission_error
from openplum.errors import RequestRejected
from openplum.services.apps import KeyClass, classify_key
from openplum.store.base import AppRecord, Store, Tx

APP_NOT_FOUND = "App not found"
__all__ = ["APP_NOT_FOUND", "DEV_MODE_REFUSED", "INVALID_KEY", "AppDirectory", "authenticate", "authenticate_cached",
           "permission_error"]

_TTL = 5.0


class AppDirectory:
    """App records by id, cached for a few seconds so authentication costs no store read per request."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._cache: dict[str, tuple[float, AppRecord | None]] = {}

    def cached(self, app_id: str) -> tuple[AppRecord | None] | None:
        """The app as cached, in a 1-tuple (its record, or None for an app that does not exist); None when the
        cache has nothing fresh. Most requests are answered from here, with no coroutine made for them."""
        hit = self._cache.get(app_id)
        if hit is not None and hit[0] > time.monotonic():
            return (hit[1],)
        return None

    async def get(self, app_id: str) -> AppRecord | None:
        hit = self.cached(app_id)
        if hit is not None:
            return hit[0]
        now = time.monotonic()

        def load(tx: Tx) -> AppRecord | None:
            return tx.get_app(app_id)

        app = await self._store.read(load)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[app_id] = (now + _TTL, app)
        return app

    def forget(self, app_id: str) -> None:
        self._cache.pop(app_id, None)


async def authenticate(directory: AppDirectory, app_id: object, client_key: object) -> tuple[AppRecord, KeyClass]:
    name, key = _required(app_id, client_key)
    return _classified(await directory.get(name), key)


def authenticate_cached(
    directory: AppDirectory, app_id: object, client_key: object
) -> tuple[AppRecord, KeyClass] | None:
    """``authenticate`` when the app is cached, without awaiting anything; None when the store must be asked."""
    name, key = _required(app_id, client_key)
    hit = directory.cached(name)
    return None if hit is None else _classified(hit[0], key)


def _required(app_id: object, client_key: object) -> tuple[str, str]:
    if not isinstance(app_id, str) or not app_id:
        raise RequestRejected(400, "Missing required parameter: appId")
    if not isinstance(client_key, str) or not client_key:
        raise RequestRejected(400, "Missing required parameter: clientKey")
    return app_id, client_key


def _classified(app: AppRecord | None, client_key: str) -> tuple[AppRecord, KeyClass]:
    if app is None:
        raise RequestRejected(403, APP_NOT_FOUND)
    key_class = classify_key(app, client_key)
    if key_class is None:
        raise RequestRejected(403, INVALID_KEY)
    return app, key_class

