"""What the scenarios send: SDK items shaped like the JavaScript SDK's (tests/fixtures/wire-captures), and the
users, content and histories set up before the load starts.

Users are ``u1`` .. ``uN`` with devices ``d1`` .. ``dN``; the Lua scripts pick from the same names.
"""

from __future__ import annotations

import json
import time
from typing import Any

BATCH = 50
"""Items per ingest request; also the most distinct users one ``multi`` may carry."""
EXPORT_EVENTS = 100
"""Distinct event names in each profile the ``exportUser`` scenario reads."""

_EVENTS = ("Level Complete", "Purchase", "Browsed Catalog", "Add To Cart", "Viewed Item", "Shared", "Search",
           "Tutorial Step")
_SDK = {"client": "js", "sdkVersion": "1.9.0"}


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _envelope(app_id: str, key: str, action: str) -> dict[str, Any]:
    return {"appId": app_id, **_SDK, "clientKey": key, "action": action, "versionName": "2.3.1", "devMode": False}


def ingest_item(app_id: str, key: str, index: int) -> dict[str, Any]:
    """Item ``index`` of the 50 in an ingest batch: per ten, eight tracks, one advance, one setUserAttributes."""
    slot = index % 10
    if slot == 4:
        body: dict[str, Any] = {"state": f"Level {index // 10 + 1}", "info": f"entered level {index // 10 + 1}",
                                "params": _compact({"world": "forest", "attempt": index})}
        return {**body, **_envelope(app_id, key, "advance")}
    if slot == 9:
        attributes = {"plan": "pro" if index % 20 else "free", "age": 20 + index, "lastLevel": index // 10}
        return {"userAttributes": _compact(attributes), **_envelope(app_id, key, "setUserAttributes")}
    name = _EVENTS[(index + index // 10) % len(_EVENTS)]
    track: dict[str, Any] = {"event": name, "value": round(index * 1.25, 2),
                             "params": _compact({"level": index, "difficulty": "hard" if index % 3 else "easy"})}
    if name == "Purchase":
        track["currencyCode"] = "USD"
    return {**track, **_envelope(app_id, key, "track")}


def ingest_prefixes(app_id: str, key: str) -> list[str]:
    """Each item's JSON up to its ``deviceId`` value; ingest.lua appends the device, user and time."""
    return [_compact(ingest_item(app_id, key, i))[:-1] + ',"deviceId":"' for i in range(BATCH)]


def _stamp(seconds: float) -> str:
    return f"{seconds:.3f}"


def start_batch(app_id: str, key: str, first: int, last: int, at: float) -> list[dict[str, Any]]:
    """``start`` items for users ``first`` .. ``last`` (at most 50), as the JS SDK sends its first call."""
    items = []
    for n in range(first, last + 1):
        attributes = {"email": f"u{n}@example.test", "plan": "pro" if n % 3 == 0 else "free", "age": 18 + n % 50,
                      "signupSource": "web" if n % 2 else "ads"}
        items.append({
            "userAttributes": _compact(attributes), "country": "(detect)", "region": "(detect)", "city": "(detect)",
            "location": "(detect)", "systemName": "Linux", "systemVersion": "", "browserName": "Chrome",
            "browserVersion": "156", "locale": "(detect)", "deviceName": "Chrome 156", "deviceModel": "Web Browser",
            "newsfeedMessages": [], "includeDefaults": False, "includeVariantDebugInfo": False,
            **_envelope(app_id, key, "start"), "deviceId": f"d{n}", "userId": f"u{n}",
            "time": _stamp(at + (n - first) / 1000),
        })
    return items


def history_batch(app_id: str, key: str, user: int, at: float) -> list[dict[str, Any]]:
    """One track of each of 100 event names for user ``user``: the profile ``exportUser`` renders."""
    return [
        {"event": f"Export Event {i:03d}", "value": i, "params": _compact({"n": i}), **_envelope(app_id, key, "track"),
         "deviceId": f"d{user}", "userId": f"u{user}", "time": _stamp(at + i / 1000)}
        for i in range(EXPORT_EVENTS)
    ]


def now_ms() -> int:
    return int(time.time() * 1000)
