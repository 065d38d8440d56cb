"""``exportUser`` through plain HTTP (API.md §3.5, §6.7): the whole profile, by user id or device id."""

from __future__ import annotations

import pytest

from tests.clients import Js, send_ok
from tests.conftest import ApiClient

PROFILE_FIELDS = {
    "userId", "userAttributes", "events", "states", "created", "lastActive", "totalSessions", "timeSpentInApp",
    "locale", "country", "region", "city", "location", "locationAccuracyType", "timezone", "timezoneOffsetSeconds",
    "unsubscribeChannels", "unsubscribeCategories", "devices",
}
ALWAYS = PROFILE_FIELDS - {"locale", "country", "region", "city", "location", "timezone", "timezoneOffsetSeconds"}


def _full_user(api: ApiClient) -> Js:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [
        js.item("start", 0, userAttributes={"plan": "pro"}, versionName="1.2", systemName="Android",
                systemVersion="14", deviceName="Pixel", deviceModel="Pixel 8", gcmRegistrationId="fcm-1",
                locale="en_GB", country="GB", region="ENG", city="London", location="51.5,-0.12",
                timezone="Europe/London", timezoneOffsetSeconds=0),
        js.item("track", 10, event="Purchase", value=12.5),
        js.item("advance", 20, state="Checkout"),
        js.item("setUserAttributes", 25, unsubscribeChannelsToAdd="Email", unsubscribeCategoriesToAdd="[7]"),
        js.item("stop", 40),
    ])
    return js


def test_export_user_returns_every_profile_field(api: ApiClient) -> None:
    _full_user(api)
    item = api.profile("u-1")

    assert item["success"] is True
    assert "warning" not in item
    assert set(item) >= PROFILE_FIELDS | {"success"}
    created = item["created"]  # the batch's last item (the stop) lands on the server's now
    assert item["userId"] == "u-1"
    assert item["userAttributes"] == {"plan": "pro"}
    tracked = pytest.approx(created - 30, abs=0.01)
    assert item["events"] == {"Purchase": {"count": 1, "value": 12.5, "firstTime": tracked, "lastTime": tracked}}
    assert item["states"] == {"Checkout": {"count": 1, "firstTime": pytest.approx(created - 20, abs=0.01),
                                           "lastTime": pytest.approx(created - 20, abs=0.01)}}
    assert item["lastActive"] == pytest.approx(created - 15, abs=0.01)  # the last user activity, before the stop
    assert (item["totalSessions"], item["timeSpentInApp"]) == (1, pytest.approx(40, abs=0.01))
    assert (item["locale"], item["country"], item["region"], item["city"], item["location"]) == (
        "en_GB", "GB", "ENG", "London", "51.5,-0.12")
    assert (item["locationAccuracyType"], item["timezone"], item["timezoneOffsetSeconds"]) == ("IP", "Europe/London", 0)
    assert item["unsubscribeChannels"] == ["Email"]
    assert [str(c["id"]) for c in item["unsubscribeCategories"]] == ["7"]
    assert item["devices"] == [{
        "deviceId": "dev-1", "appVersion": "1.2", "systemName": "Android", "systemVersion": "14",
        "deviceName": "Pixel", "deviceModel": "Pixel 8", "gcmRegistrationId": "fcm-1",
    }]


def test_export_user_of_a_minimal_user_has_the_figures_with_empty_values(api: ApiClient) -> None:
    api.ok("track", userId="u-1", event="Tap")
    item = api.profile("u-1")

    assert set(item) >= ALWAYS
    assert (item["userAttributes"], item["states"], item["devices"]) == ({}, {}, [])
    assert (item["totalSessions"], item["timeSpentInApp"]) == (0, 0)
    assert (item["unsubscribeChannels"], item["unsubscribeCategories"]) == ([], [])
    assert item["locationAccuracyType"] == "IP"


def test_export_user_types_match_the_reference(api: ApiClient) -> None:
    _full_user(api)
    item = api.profile("u-1")

    assert isinstance(item["created"], float | int)
    assert isinstance(item["lastActive"], float | int)
    assert isinstance(item["totalSessions"], int)
    assert isinstance(item["timeSpentInApp"], float | int)
    assert isinstance(item["events"]["Purchase"]["count"], int)
    assert isinstance(item["timezoneOffsetSeconds"], int)


def test_export_user_by_device_id_finds_the_devices_user(api: ApiClient) -> None:
    _full_user(api)
    response = api.call("exportUser", api.app.data_export, method="GET", deviceId="dev-1")

    item = response.json()["response"][0]
    assert item["userId"] == "u-1"
    assert item["events"]["Purchase"]["count"] == 1


def test_export_user_by_device_id_of_an_anonymous_user(api: ApiClient) -> None:
    js = Js(api, "anon-7")
    send_ok(api, [js.item("start", 0), js.item("track", 1, event="Tap")])

    item = api.call("exportUser", api.app.data_export, method="GET", deviceId="anon-7").json()["response"][0]
    assert item["userId"] == "anon-7"
    assert item["events"]["Tap"]["count"] == 1


def test_export_user_accepts_post(api: ApiClient) -> None:
    api.ok("track", userId="u-1", event="Tap")

    assert api.ok("exportUser", api.app.data_export, userId="u-1")["userId"] == "u-1"


def test_unknown_user_is_success_with_a_warning_and_no_user_id(api: ApiClient) -> None:
    response = api.call("exportUser", api.app.data_export, method="GET", userId="nobody")

    assert response.status_code == 200
    item = response.json()["response"][0]
    assert item["success"] is True
    assert item["warning"]["message"]
    assert "userId" not in item


def test_export_user_creates_nobody(api: ApiClient) -> None:
    api.call("exportUser", api.app.data_export, method="GET", userId="nobody", createDisposition="CreateIfNeeded")

    assert "userId" not in api.profile("nobody")


def test_export_user_without_user_or_device_is_an_error(api: ApiClient) -> None:
    response = api.call("exportUser", api.app.data_export, method="GET")

    assert response.status_code == 400
    assert response.json()["response"][0]["success"] is False


def test_export_user_needs_the_data_export_key(api: ApiClient) -> None:
    api.ok("track", userId="u-1", event="Tap")
    response = api.call("exportUser", method="GET", userId="u-1")

    assert response.status_code == 403
    item = response.json()["response"][0]
    assert item["success"] is False
    assert "userId" not in item
