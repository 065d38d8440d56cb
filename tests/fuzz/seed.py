"""What a fuzzed app holds before the first random request: enough that random input reaches deep paths.

Users with profiles, devices, sessions, events and a state; variables with a team value; a file; a running A/B
test over an audience. Strategies draw user ids, device ids, file names and the like from ``SEEDED`` as often as
random text.
"""

from __future__ import annotations

import time
from typing import Any

from tests.admin import define, open_admin, set_value, start_test, variant
from tests.clients import Js, send_ok
from tests.conftest import ApiClient
from tests.uploads import uploaded

USERS = ("u1", "u2", "u3")
DEVICES = ("d1", "d2", "d3")
VARIABLES = {"color": "red", "size": 3, "flags": {"dark": True, "beta": False}, "items": [1, 2, 3]}
FILE = "seed.txt"

SEEDED: dict[str, tuple[Any, ...]] = {
    "userId": USERS,
    "deviceId": DEVICES,
    "newUserId": USERS,
    "filename": (FILE, "missing.txt"),
    "event": ("Purchase", "Open"),
    "state": ("Home", "Cart"),
}


def seed(api: ApiClient) -> None:
    define(api, VARIABLES)
    for user, device in zip(USERS, DEVICES, strict=True):
        js = Js(api, device, user, t0=round(time.time() - 600, 3))
        send_ok(api, [
            js.item("start", 0, userAttributes={"plan": "pro", "age": 30}),
            js.item("track", 1, event="Purchase", value=9.5, params={"sku": "A1"}),
            js.item("advance", 2, state="Home"),
        ])
    uploaded(api, {FILE: b"hello fuzz"})
    with open_admin(api.server) as admin:
        set_value(admin, api, "color", "blue")
        audience = admin.ok("POST", f"/apps/{api.app.app_id}/audiences",
                            {"name": "pros", "rule": {"attribute": "plan", "op": "equals", "value": "pro"}}, 201)
        start_test(admin, api, [variant("A", 50), variant("B", 50, color="green")], audienceId=audience["id"],
                   goalEvents=["Purchase"])
