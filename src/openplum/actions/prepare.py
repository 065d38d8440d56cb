"""One batch item made ready to run: its action looked up, its key class checked, its parameters decoded into the
action's typed struct, its replay key computed. ``http.api`` prepares the items of a request with it and the CSV
import worker prepares each row with it, so both take exactly one path to ``actions.runner.run_batch``.

Nothing here touches the store or HTTP: an item that cannot run comes back already answered (with the HTTP status
it would have alone).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

import msgspec

from openplum.actions.decoding import decode
from openplum.actions.prepared import Prepared
from openplum.actions.runner import error_item
from openplum.actions.table import ACTIONS
from openplum.errors import ApiError
from openplum.services.apps import KeyClass, classify_key
from openplum.store.base import AppRecord

INVALID_KEY = "Invalid access key"
DEV_MODE_REFUSED = "Development mode requested but not permitted"

INHERITED = ("appId", "clientKey", "devMode", "client", "sdkVersion", "versionName", "apiVersion")
"""Parameters a batch item takes from the request when it does not carry its own (API.md §1.7)."""
_TRUE = {True, "true", "True", "TRUE", "1"}


def truthy(value: object) -> bool:
    """A flag as SDKs send it (``true``, ``"true"``, ``"1"``...); anything else, an object included, is false."""
    return isinstance(value, bool | str | int) and value in _TRUE


def permission_error(required: KeyClass, given: KeyClass, dev_mode: bool, action: str) -> str | None:
    """Why ``given`` may not call an action needing ``required`` (None when it may).

    The development key may call production actions (SDKs in development mode do, API.md §2.3); a production
    key asking for development mode is refused with the message Android recognises.
    """
    if dev_mode and given is KeyClass.PRODUCTION:
        return DEV_MODE_REFUSED
    if given is required or (required is KeyClass.PRODUCTION and given is KeyClass.DEVELOPMENT):
        return None
    return f"{INVALID_KEY}: action '{action}' requires the {required.label} key"


def prepare(app: AppRecord, key_class: KeyClass, raw: dict[str, Any], top: dict[str, Any], *, index: int) -> Prepared:
    """``raw`` is the item; ``top`` the request's own parameters (``raw is top`` for a call of one action)."""
    prepared = _prepare_item(app, key_class, raw, top, index)
    req_id = raw.get("reqId") if isinstance(raw, dict) else None
    if isinstance(req_id, str | int) and not isinstance(req_id, bool):
        prepared.req_id = str(req_id)
    return prepared


def _prepare_item(
    app: AppRecord, key_class: KeyClass, raw: dict[str, Any], top: dict[str, Any], index: int
) -> Prepared:
    own = raw
    if raw is not top:
        for name in INHERITED:
            if raw.get(name) is None:
                value = top.get(name)
                if value is not None:
                    if raw is own:  # copied only when something is inherited: SDK items carry their own
                        raw = dict(own)
                    raw[name] = value
    if "__invalid__" in raw:
        return Prepared(None, answer=error_item("Each batch item must be an object of parameters."))
    action = raw.get("action")
    spec = ACTIONS.get(action) if isinstance(action, str) else None
    if spec is None:
        message = "Missing required parameter: action" if not action else f"Unknown action: '{action}'"
        return Prepared(None, answer=error_item(message), status=400)
    if raw is not top and action == "multi":
        return Prepared(spec, answer=error_item("A batch item cannot itself be 'multi'."))
    if raw.get("appId") != app.app_id:
        return Prepared(spec, answer=error_item("All actions in a batch must be for the same app."))
    item_key = raw.get("clientKey")
    if raw is not top and item_key != top.get("clientKey"):
        found = classify_key(app, item_key) if isinstance(item_key, str) else None
        if found is None:
            return Prepared(spec, answer=error_item(INVALID_KEY), status=403)
        key_class = found
    denied = permission_error(spec.key_class, key_class, truthy(raw.get("devMode")), spec.name)
    if denied:
        return Prepared(spec, answer=error_item(denied), status=403)
    if not spec.implemented:
        return Prepared(
            spec, answer=error_item(f"Action '{spec.name}' is not implemented by this server yet."), status=501
        )
    try:
        decoded = decode(raw, spec.params)
    except ApiError as exc:
        return Prepared(spec, answer=error_item(exc.message), status=400)
    keyed = spec.writes and spec.deduplicated
    return Prepared(spec, decoded, key_class, replay_key(own, top, index) if keyed else None)


def number_repeats(items: list[Prepared]) -> None:
    """Identical items in one request (two taps queued in the same millisecond) are different actions: each
    repeat's key gets its ordinal, which a resent batch reproduces, so real replays still collapse."""
    seen: dict[bytes, int] = {}
    for item in items:
        key = item.replay_key
        if key is None:
            continue
        count = seen.get(key, 0)
        seen[key] = count + 1
        if count:
            item.replay_key = key[:4] + _digest(key + count.to_bytes(4, "big"))


def replay_key(own: dict[str, Any], top: dict[str, Any], index: int) -> bytes | None:
    """The item's identity when it carries one: its own fields, never the clientKey (keys rotate).

    With a ``reqId`` the batch ``uuid`` and session ``token`` are left out: Android gives stored items a new
    uuid when it re-splits a batch, and each item keeps its reqId. Fields are encoded sorted by name, so their
    order does not matter; a JSON null is an absent field.
    """
    get = own.get
    req_id, stamp = get("reqId"), get("time")
    batch_uuid = top.get("uuid") if own is not top else None
    if req_id is None and stamp is None and batch_uuid is None and get("uuid") is None:
        return None
    identity = own.copy()
    for name in _VOLATILE_WITH_REQ_ID if req_id is not None else _VOLATILE:
        identity.pop(name, None)
    if None in identity.values():
        identity = {k: v for k, v in identity.items() if v is not None}
    if req_id is None and stamp is None:
        identity["__batch__"] = [batch_uuid or get("uuid"), index]
    # The key starts with a hash of the user, so one batch's keys sit together in the index: a batch dirties
    # a page or two instead of one page per item.
    who = get("userId") or get("deviceId") or ""
    return _user_prefix(str(who)) + _digest(msgspec.json.encode(identity, order="sorted"))


_VOLATILE = ("clientKey",)
_VOLATILE_WITH_REQ_ID = ("clientKey", "uuid", "token")


@lru_cache(maxsize=4096)
def _user_prefix(who: str) -> bytes:
    """4 bytes per user (the key's clustering prefix); cached, as every item of a batch has the same user."""
    return hashlib.sha256(who.encode()).digest()[:4]


def _digest(data: bytes) -> bytes:
    """12 bytes identifying ``data`` (BLAKE2b: no faster than SHA-256 on short inputs, but built in)."""
    return hashlib.blake2b(data).digest()[:12]
