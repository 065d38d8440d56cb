"""User and device actions through plain HTTP (API.md §6.2): ``setUserAttributes`` (merge, set values,
increments, unsubscribes, bulk import), ``setDeviceAttributes``, ``setTrafficSourceInfo`` and ``registerDevice``.
``newUserId``, ``deleteUser``, ``block`` and ``unblock`` are in ``tests/services/test_users.py``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.clients import Js, send_ok
from tests.conftest import ApiClient

# -- attributes ----------------------------------------------------------------------------------------


def test_set_user_attributes_merges_with_the_stored_ones(api: ApiClient) -> None:
    api.ok("setUserAttributes", userId="u-1", userAttributes={"plan": "free", "age": 30, "vip": False})
    api.ok("setUserAttributes", userId="u-1", userAttributes={"plan": "pro", "city": "Oslo"})

    assert api.profile("u-1")["userAttributes"] == {"plan": "pro", "age": 30, "vip": False, "city": "Oslo"}


def test_set_user_attributes_as_a_json_string_like_the_sdks_send(api: ApiClient) -> None:
    api.ok("setUserAttributes", userId="u-1", userAttributes=json.dumps({"gender": "f", "score": 1.5}))

    assert api.profile("u-1")["userAttributes"] == {"gender": "f", "score": 1.5}


def test_null_removes_an_attribute(api: ApiClient) -> None:
    api.ok("setUserAttributes", userId="u-1", userAttributes={"a": 1, "b": 2})
    api.ok("setUserAttributes", userId="u-1", userAttributes={"a": None})

    assert api.profile("u-1")["userAttributes"] == {"b": 2}


def test_set_user_attributes_inside_a_session_keeps_it_active(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [js.item("start", 0), js.item("setUserAttributes", 20, userAttributes={"level": 3}),
                  js.item("stop", 30)])

    profile = api.profile("u-1")
    assert profile["userAttributes"] == {"level": 3}
    assert profile["timeSpentInApp"] == pytest.approx(30, abs=0.01)


def test_invalid_attribute_names_are_skipped_with_a_warning(api: ApiClient) -> None:
    item = api.call("setUserAttributes", userId="u-1", userAttributes={"ok": 1, ".bad": 2, "12": 3}).json()
    answer = item["response"][0]

    assert answer["success"] is True
    assert answer["warning"]["message"]
    assert api.profile("u-1")["userAttributes"] == {"ok": 1}


def test_values_to_add_and_remove_treat_the_attribute_as_a_set(api: ApiClient) -> None:
    api.ok("setUserAttributes", userId="u-1", userAttributeValuesToAdd={"Interests": "Sports"})
    api.ok("setUserAttributes", userId="u-1", userAttributeValuesToAdd={"Interests": ["Music", "Sports", "Art"]})
    assert api.profile("u-1")["userAttributes"]["Interests"] == ["Sports", "Music", "Art"]

    api.ok("setUserAttributes", userId="u-1", userAttributeValuesToRemove={"Interests": ["Sports", "Chess"]})
    assert api.profile("u-1")["userAttributes"]["Interests"] == ["Music", "Art"]


def test_values_to_add_to_a_single_value_attribute_makes_it_a_set(api: ApiClient) -> None:
    api.ok("setUserAttributes", userId="u-1", userAttributes={"Tag": "a"})
    api.ok("setUserAttributes", userId="u-1", userAttributeValuesToAdd={"Tag": "b"})

    assert api.profile("u-1")["userAttributes"]["Tag"] == ["a", "b"]


def test_values_to_increment_counts_from_zero(api: ApiClient) -> None:
    api.ok("setUserAttributes", userId="u-1", userAttributeValuesToIncrement={"logins": 1})
    api.ok("setUserAttributes", userId="u-1", userAttributeValuesToIncrement={"logins": 2, "coins": -5})

    assert api.profile("u-1")["userAttributes"] == {"logins": 3, "coins": -5}


def test_non_integer_increments_are_skipped_with_a_warning(api: ApiClient) -> None:
    api.ok("setUserAttributes", userId="u-1", userAttributes={"name": "Ada", "n": 1})
    answer = api.call("setUserAttributes", userId="u-1",
                      userAttributeValuesToIncrement={"n": 1.5, "name": 1}).json()["response"][0]

    assert answer["success"] is True
    assert answer["warning"]["message"]
    assert api.profile("u-1")["userAttributes"] == {"name": "Ada", "n": 1}


def test_unsubscribe_channels_to_add_and_remove(api: ApiClient) -> None:
    api.ok("setUserAttributes", userId="u-1", unsubscribeChannelsToAdd="Email")
    api.ok("setUserAttributes", userId="u-1", unsubscribeChannelsToAdd=["Push Notification", "Webhook"])
    assert sorted(api.profile("u-1")["unsubscribeChannels"]) == ["Email", "Push Notification", "Webhook"]

    api.ok("setUserAttributes", userId="u-1", unsubscribeChannelsToRemove=json.dumps(["Email", "Webhook"]))
    assert api.profile("u-1")["unsubscribeChannels"] == ["Push Notification"]


def test_unsubscribe_categories_to_add_and_remove(api: ApiClient) -> None:
    api.ok("setUserAttributes", userId="u-1", unsubscribeCategoriesToAdd=[5100000000000001, 5100000000000002])
    categories = api.profile("u-1")["unsubscribeCategories"]
    assert sorted(str(c["id"]) for c in categories) == ["5100000000000001", "5100000000000002"]
    assert all(set(c) == {"id", "name"} for c in categories)

    api.ok("setUserAttributes", userId="u-1", unsubscribeCategoriesToRemove=[5100000000000001])
    assert [str(c["id"]) for c in api.profile("u-1")["unsubscribeCategories"]] == ["5100000000000002"]


def test_location_fields_are_set_by_set_user_attributes(api: ApiClient) -> None:
    api.ok("setUserAttributes", userId="u-1", locale="de_DE", country="DE", city="Berlin",
           location="52.52,13.40", locationAccuracyType="CELL", timezone="Europe/Berlin", timezoneOffsetSeconds=3600)

    profile = api.profile("u-1")
    assert (profile["locale"], profile["country"], profile["city"], profile["location"]) == (
        "de_DE", "DE", "Berlin", "52.52,13.40")
    assert (profile["locationAccuracyType"], profile["timezone"], profile["timezoneOffsetSeconds"]) == (
        "CELL", "Europe/Berlin", 3600)


# -- bulk import ---------------------------------------------------------------------------------------


def test_bulk_import_writes_the_lifetime_figures(api: ApiClient) -> None:
    t = Js(api, "dev-1").at
    api.ok(
        "setUserAttributes", userId="u-1",
        events={"Purchase": {"count": 3, "value": 29.97, "firstTime": t(-86400), "lastTime": t(-3600)}},
        states={"Onboarding": {"count": 2, "firstTime": t(-86400), "lastTime": t(-7200)}},
        created=t(-30 * 86400), lastActive=t(-3600), totalSessions=7, timeSpentInApp=1234.5,
        devices=[{"deviceId": "imp-1", "appVersion": "1.0", "systemName": "Android", "gcmRegistrationId": "fcm-1"}],
    )

    profile = api.profile("u-1")
    assert profile["events"] == {"Purchase": {"count": 3, "value": 29.97, "firstTime": t(-86400),
                                              "lastTime": t(-3600)}}
    assert profile["states"] == {"Onboarding": {"count": 2, "firstTime": t(-86400), "lastTime": t(-7200)}}
    assert profile["created"] == t(-30 * 86400)
    assert profile["lastActive"] == t(-3600)
    assert profile["totalSessions"] == 7
    assert profile["timeSpentInApp"] == 1234.5
    assert profile["devices"] == [{"deviceId": "imp-1", "appVersion": "1.0", "systemName": "Android",
                                   "gcmRegistrationId": "fcm-1"}]


def test_bulk_import_increments_add_to_the_figures(api: ApiClient) -> None:
    api.ok("setUserAttributes", userId="u-1", events={"Purchase": {"count": 3, "value": 30}})
    api.ok("setUserAttributes", userId="u-1", events={"Purchase": {"countIncrement": 2, "valueIncrement": 10.5}},
           states={"Level": {"countIncrement": 4}})

    profile = api.profile("u-1")
    assert (profile["events"]["Purchase"]["count"], profile["events"]["Purchase"]["value"]) == (5, 40.5)
    assert profile["states"]["Level"]["count"] == 4


def test_tracked_events_add_to_imported_figures(api: ApiClient) -> None:
    api.ok("setUserAttributes", userId="u-1", events={"Purchase": {"count": 3, "value": 30}}, totalSessions=4)
    api.ok("start", userId="u-1", deviceId="dev-1")
    api.ok("track", userId="u-1", deviceId="dev-1", event="Purchase", value=5)

    profile = api.profile("u-1")
    assert (profile["events"]["Purchase"]["count"], profile["events"]["Purchase"]["value"]) == (4, 35)
    assert profile["totalSessions"] == 5


@pytest.mark.parametrize("figures", [
    {"timeSpentInApp": "inf"},
    {"events": {"Purchase": {"value": "nan"}}},
    {"events": {"Purchase": {"count": "many"}}},
    {"states": {"Level": {"firstTime": "soon"}}},
], ids=["infinite-time-in-app", "nan-event-value", "text-count", "text-time"])
def test_unusable_import_figures_are_refused_and_the_profile_stays_readable(
    api: ApiClient, figures: dict[str, Any]
) -> None:
    api.ok("setUserAttributes", userId="u-1", userAttributes={"a": 1}, timeSpentInApp=5)
    response = api.call("setUserAttributes", userId="u-1", **figures)

    profile = api.call("exportUser", api.app.data_export, method="GET", userId="u-1")
    assert profile.status_code == 200, profile.text  # one bad figure must not make the user unreadable
    item = profile.json()["response"][0]
    assert (item["timeSpentInApp"], item["events"], item["states"]) == (5, {}, {})
    assert response.status_code == 400, response.text  # a per-item error, not a server error
    assert response.json()["response"][0]["success"] is False


def test_imported_device_without_device_id_is_skipped_with_a_warning(api: ApiClient) -> None:
    answer = api.call("setUserAttributes", userId="u-1",
                      devices=[{"appVersion": "1.0"}, {"deviceId": "d2", "appVersion": "2.0"}]).json()["response"][0]

    assert answer["success"] is True
    assert answer["warning"]["message"]
    assert api.profile("u-1")["devices"] == [{"deviceId": "d2", "appVersion": "2.0"}]


# -- devices -------------------------------------------------------------------------------------------


def test_set_device_attributes_imports_push_tokens(api: ApiClient) -> None:
    subscription = json.dumps({"endpoint": "https://push.example/x", "key": "a2V5", "auth": "YXV0aA=="})
    api.ok("setDeviceAttributes", userId="u-1", deviceId="dev-1", iosPushToken="apns-1", appVersion="3.0",
           systemName="iOS", systemVersion="17.4")
    api.ok("setDeviceAttributes", userId="u-1", deviceId="dev-2", gcmRegistrationId="fcm-2",
           webPushSubscription=subscription)

    devices = {d["deviceId"]: d for d in api.profile("u-1")["devices"]}
    assert devices["dev-1"] == {"deviceId": "dev-1", "iosPushToken": "apns-1", "appVersion": "3.0",
                                "systemName": "iOS", "systemVersion": "17.4"}
    assert devices["dev-2"] == {"deviceId": "dev-2", "gcmRegistrationId": "fcm-2",
                                "webPushSubscription": subscription}


def test_set_device_attributes_updates_a_token(api: ApiClient) -> None:
    api.ok("setDeviceAttributes", userId="u-1", deviceId="dev-1", gcmRegistrationId="old")
    api.ok("setDeviceAttributes", userId="u-1", deviceId="dev-1", gcmRegistrationId="new")

    assert api.profile("u-1")["devices"] == [{"deviceId": "dev-1", "gcmRegistrationId": "new"}]


def test_set_device_attributes_with_only_a_device_id_reaches_its_user(api: ApiClient) -> None:
    api.ok("start", userId="u-1", deviceId="dev-1")
    api.ok("setDeviceAttributes", deviceId="dev-1", iosPushToken="apns-9")

    assert api.profile("u-1")["devices"][0]["iosPushToken"] == "apns-9"


def test_set_device_attributes_requires_a_device_id(api: ApiClient) -> None:
    response = api.call("setDeviceAttributes", userId="u-1", iosPushToken="apns-1")

    assert response.status_code == 400
    item = response.json()["response"][0]
    assert item["success"] is False
    assert "deviceId" in item["error"]["message"]


def test_set_device_attributes_requires_an_attribute(api: ApiClient) -> None:
    api.ok("start", userId="u-1", deviceId="dev-1")
    response = api.call("setDeviceAttributes", userId="u-1", deviceId="dev-1")

    assert response.status_code == 400
    assert response.json()["response"][0]["success"] is False


def test_traffic_source_shows_in_the_profile(api: ApiClient) -> None:
    source = {"publisherId": "pub-1", "publisherName": "Google Ads", "publisherSubPublisher": "youtube",
              "publisherSubSite": "site-9", "publisherSubCampaign": "spring", "publisherSubAdGroup": "g1",
              "publisherSubAd": "ad-7"}
    api.ok("setTrafficSourceInfo", userId="u-1", trafficSource=source)

    assert api.profile("u-1")["trafficSource"] == source


def test_traffic_source_as_a_json_string(api: ApiClient) -> None:
    api.ok("setTrafficSourceInfo", userId="u-1", trafficSource=json.dumps({"publisherName": "Facebook"}))

    assert api.profile("u-1")["trafficSource"] == {"publisherName": "Facebook"}


def test_register_device_with_the_development_key(api: ApiClient) -> None:
    first = api.ok("registerDevice", api.app.development, deviceId="dev-1", email="qa@example.com")
    second = api.ok("registerDevice", api.app.development, deviceId="dev-1", email="qa@example.com")

    assert first["registered"] is True
    assert second["registered"] is False


def test_register_device_refuses_the_production_key(api: ApiClient) -> None:
    response = api.call("registerDevice", deviceId="dev-1", email="qa@example.com")

    assert response.status_code == 403
    assert response.json()["response"][0]["success"] is False
