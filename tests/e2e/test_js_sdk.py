"""The official Leanplum JavaScript SDK (npm ``leanplum-sdk`` 1.9.0, unmodified) against a real openplum.

Each test drives the SDK in headless Chromium, from a page on another origin than the API, through a user
journey with the SDK's public API; then it checks that every /api call was answered successfully (with CORS
headers the browser accepts), and reads the user's profile back through ``exportUser``.

SDK 1.9.0 behaviour these tests rely on (read from its published bundle):

- ``start``, ``pauseSession``, ``resumeSession``, ``stop`` and ``forceContentUpdate`` are sent at once and
  take every queued call along; ``track``, ``advanceTo``, ``setUserAttributes``/``setUserId`` and
  ``trackPurchase`` are queued in localStorage and sent at most once per 5 s (the first one after ``start``
  goes out at once).
- Every request is ``POST /api?appId&client=js&clientKey&sdkVersion&action=multi&time`` with a ``text/plain``
  body ``{"data": [calls...]}``; calls carry their own ``action``, ``userId`` and ``deviceId``.
- Without a user id the SDK uses its device id as ``userId``; ``setUserId`` sends ``setUserAttributes`` with
  ``newUserId`` (and the old ``userId``), later calls carry the new id.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from .conftest import LeanplumPage

pytestmark = pytest.mark.e2e

T = TypeVar("T")
ExportUser = Callable[[str], dict[str, Any]]

INGESTION_TIMEOUT_S = 5.0


def eventually(check: Callable[[], T], timeout: float = INGESTION_TIMEOUT_S) -> T:
    """Retries ``check`` until it stops raising AssertionError (ingestion may be asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def assert_sdk_run_was_clean(sdk: LeanplumPage) -> None:
    problems = sdk.api_problems()
    assert not problems, "openplum did not answer every SDK call successfully:\n" + "\n".join(problems)
    assert not sdk.console_errors, "the browser console reported errors:\n" + "\n".join(sdk.console_errors)
    assert not sdk.page_errors, "the page threw:\n" + "\n".join(sdk.page_errors)
    assert not sdk.foreign_requests, "the SDK contacted another host:\n" + "\n".join(sdk.foreign_requests)


def assert_device_is_the_browser(profile: dict[str, Any], start_item: dict[str, Any]) -> None:
    """The profile lists exactly the SDK's device, with the browser fields the SDK sent with ``start``."""
    devices = profile.get("devices")
    assert isinstance(devices, list), f"no devices list in {profile!r}"
    assert len(devices) == 1, f"expected one device, got {devices!r}"
    device = devices[0]
    assert device.get("deviceId") == start_item["deviceId"]
    assert device.get("browserName") == "Chrome"  # headless Chromium says Chrome
    assert device.get("deviceModel") == "Web Browser"
    for field in ("systemName", "browserVersion", "deviceName"):
        assert device.get(field) == start_item[field], f"device {field}: {device!r} vs sent {start_item!r}"
    assert device.get("appVersion") == start_item["versionName"], f"appVersion of {device!r}"


def test_known_user_journey_reaches_the_profile(sdk: LeanplumPage, export_user: ExportUser) -> None:
    user_id = f"e2e-user-{secrets.token_hex(4)}"

    assert sdk.start(user_id, {"plan": "free", "age": 30}) is True, "Leanplum.start reported failure"
    sdk.track("Level Complete", 12.5, {"level": 3})
    sdk.track("Level Complete", 7.5, {"level": 4})
    sdk.advance_to("Level 3", "entered level 3", {"world": "forest"})
    sdk.set_user_attributes({"plan": "pro"})
    sdk.track_purchase(9.99, "USD", {"item": "gems_pack"})
    assert sdk.force_content_update() is True, "Leanplum.forceContentUpdate reported failure"
    sdk.pause_session()
    sdk.idle(0.5)
    sdk.resume_session()
    sdk.idle(0.2)
    sdk.stop()
    sdk.wait_until_flushed(last_action="stop")

    assert_sdk_run_was_clean(sdk)
    assert sdk.sent_actions() == [
        "start",
        "track",  # the first track after start is sent at once ...
        "track",  # ... the rest waits for the batch cooldown, and forceContentUpdate sends it with getVars
        "advance",
        "setUserAttributes",
        "track",
        "getVars",
        "pauseSession",
        "resumeSession",
        "stop",
    ]
    [start_item] = sdk.sent_items("start")
    assert start_item["userId"] == user_id

    def profile_is_complete() -> dict[str, Any]:
        profile = export_user(user_id)
        assert profile.get("userId") == user_id, f"user not found: {profile!r}"

        attributes = profile.get("userAttributes") or {}
        assert attributes.get("plan") == "pro", f"userAttributes: {attributes!r}"
        assert attributes.get("age") == 30, f"userAttributes: {attributes!r}"

        events = profile.get("events") or {}
        level_complete = events.get("Level Complete") or {}
        assert level_complete.get("count") == 2, f"events: {events!r}"
        assert level_complete.get("value") == pytest.approx(20.0), f"events: {events!r}"
        assert level_complete["firstTime"] <= level_complete["lastTime"], f"events: {events!r}"
        purchase = events.get("Purchase") or {}
        assert purchase.get("count") == 1, f"events: {events!r}"
        assert purchase.get("value") == pytest.approx(9.99), f"events: {events!r}"

        states = profile.get("states") or {}
        assert (states.get("Level 3") or {}).get("count") == 1, f"states: {states!r}"

        assert profile.get("totalSessions", 0) >= 1, f"totalSessions: {profile.get('totalSessions')!r}"
        assert profile["created"] <= profile["lastActive"], f"created/lastActive of {profile!r}"
        assert_device_is_the_browser(profile, start_item)
        return profile

    eventually(profile_is_complete)


def test_anonymous_activity_follows_the_user_after_login(sdk: LeanplumPage, export_user: ExportUser) -> None:
    login_id = f"e2e-login-{secrets.token_hex(4)}"

    assert sdk.start(None, {"source": "landing"}) is True, "Leanplum.start reported failure"
    sdk.track("Browsed Catalog")
    sdk.set_user_id(login_id)
    sdk.track("Logged In")
    sdk.stop()
    sdk.wait_until_flushed(last_action="stop")

    assert_sdk_run_was_clean(sdk)
    assert sdk.sent_actions() == ["start", "track", "setUserAttributes", "track", "stop"]
    device_id = sdk.device_id()
    [start_item] = sdk.sent_items("start")
    assert start_item["userId"] == device_id, "anonymous start: the SDK uses its device id as user id"
    [login_item] = sdk.sent_items("setUserAttributes")
    assert (login_item["userId"], login_item["newUserId"]) == (device_id, login_id)

    def activity_moved_to_login() -> None:
        profile = export_user(login_id)
        assert profile.get("userId") == login_id, f"user not found: {profile!r}"
        events = profile.get("events") or {}
        assert (events.get("Browsed Catalog") or {}).get("count") == 1, f"events: {events!r}"
        assert (events.get("Logged In") or {}).get("count") == 1, f"events: {events!r}"
        attributes = profile.get("userAttributes") or {}
        assert attributes.get("source") == "landing", f"userAttributes: {attributes!r}"
        assert device_id in [device.get("deviceId") for device in profile.get("devices") or []], (
            f"devices: {profile.get('devices')!r}"
        )

    eventually(activity_moved_to_login)
