"""Session actions through plain HTTP (API.md §4, §6.1, §7.2): ``start``, ``stop``, ``pauseSession``,
``resumeSession``, ``heartbeat``, and the ``createDisposition`` defaults of §3.2."""

from __future__ import annotations

import json

import pytest

from tests.clients import NOT_FOUND, Js, count_sessions, missing, send, send_ok
from tests.conftest import ApiClient

WEB_PUSH = json.dumps({"endpoint": "https://push.example/abc", "key": "BEl6cA==", "auth": "c2VjcmV0"})


def test_start_creates_user_and_device_with_the_device_fields(api: ApiClient) -> None:
    api.ok("start", userId="u-1", deviceId="dev-1", versionName="2.3.1", systemName="Mac OS", systemVersion="14.4",
           browserName="Firefox", browserVersion="125", deviceName="Firefox 125", deviceModel="Web Browser",
           iosPushToken="apns-token-1", gcmRegistrationId="fcm-token-1", webPushSubscription=WEB_PUSH)

    profile = api.profile("u-1")
    assert profile["userId"] == "u-1"
    assert profile["totalSessions"] == 1
    assert profile["devices"] == [{
        "deviceId": "dev-1", "appVersion": "2.3.1", "systemName": "Mac OS", "systemVersion": "14.4",
        "browserName": "Firefox", "browserVersion": "125", "deviceName": "Firefox 125",
        "deviceModel": "Web Browser", "iosPushToken": "apns-token-1", "gcmRegistrationId": "fcm-token-1",
        "webPushSubscription": WEB_PUSH,
    }]


def test_start_app_version_wins_over_version_name(api: ApiClient) -> None:
    api.ok("start", userId="u-1", deviceId="dev-1", appVersion="5.0", versionName="4.9")

    assert api.profile("u-1")["devices"][0]["appVersion"] == "5.0"


def test_start_records_locale_and_location(api: ApiClient) -> None:
    api.ok("start", userId="u-1", deviceId="dev-1", locale="en_US", country="US", region="CA",
           city="San Francisco", location="37.7749,-122.4194", locationAccuracyType="GPS",
           timezone="America/Los_Angeles", timezoneOffsetSeconds=-25200)

    profile = api.profile("u-1")
    assert {k: profile[k] for k in ("locale", "country", "region", "city", "location", "locationAccuracyType",
                                    "timezone", "timezoneOffsetSeconds")} == {
        "locale": "en_US", "country": "US", "region": "CA", "city": "San Francisco",
        "location": "37.7749,-122.4194", "locationAccuracyType": "GPS", "timezone": "America/Los_Angeles",
        "timezoneOffsetSeconds": -25200,
    }


def test_detect_is_not_stored_as_a_value(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    detect = dict.fromkeys(("locale", "country", "region", "city", "location"), "(detect)")
    send_ok(api, [js.item("start", 0, **detect)])

    profile = api.profile("u-1")
    assert not [k for k, v in profile.items() if v == "(detect)"], profile
    assert "locale" not in profile
    assert "city" not in profile


def test_detect_keeps_the_value_known_before(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [js.item("start", 0, locale="fr_FR", city="Lyon"), js.item("stop", 5)])
    send_ok(api, [js.item("start", 10, locale="(detect)", city="(detect)")])

    profile = api.profile("u-1")
    assert (profile["locale"], profile["city"]) == ("fr_FR", "Lyon")


def test_start_returns_the_content_block_the_js_sdk_parses(api: ApiClient) -> None:
    js = Js(api, "dev-1")
    item = js.item("start", 0, userAttributes={"plan": "pro"}, country="(detect)", systemName="Mac OS",
                   browserName="Firefox", browserVersion="125", locale="(detect)", deviceName="Firefox 125",
                   deviceModel="Web Browser", newsfeedMessages=[], includeDefaults=False,
                   includeVariantDebugInfo=False)
    answer = send_ok(api, [item])[-1]

    assert answer["messages"] == {}  # JS writes into it: an object, never null or a list
    assert answer["vars"] == {}
    assert answer["variants"] == []
    assert answer["regions"] == {}
    assert answer["actionDefinitions"] == {}
    assert answer["interfaceRules"] == []
    assert answer["interfaceEvents"] == []
    assert answer["syncNewsfeed"] is False
    assert isinstance(answer["token"], str)
    assert answer["token"]
    assert "variantDebugInfo" not in answer


def test_start_includes_variant_debug_info_when_asked(api: ApiClient) -> None:
    answer = api.ok("start", userId="u-1", deviceId="dev-1", includeVariantDebugInfo=True)

    assert isinstance(answer["variantDebugInfo"], dict)


def test_each_start_returns_a_new_token(api: ApiClient) -> None:
    first = api.ok("start", userId="u-1", deviceId="dev-1")["token"]
    second = api.ok("start", userId="u-1", deviceId="dev-1")["token"]

    assert first != second
    assert api.profile("u-1")["totalSessions"] == 2


def test_start_applies_user_attributes_merging_with_earlier_ones(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [js.item("start", 0, userAttributes={"plan": "pro", "age": 31})])
    send_ok(api, [js.item("start", 60, userAttributes={"age": 32, "newsletter": True})])

    assert api.profile("u-1")["userAttributes"] == {"plan": "pro", "age": 32, "newsletter": True}


def test_anonymous_start_creates_a_user_whose_id_is_the_device_id(api: ApiClient) -> None:
    js = Js(api, "Qm4x0PzL8rTa2cYw")
    send_ok(api, [js.item("start", 0, deviceModel="Web Browser")])

    profile = api.profile("Qm4x0PzL8rTa2cYw")
    assert profile["userId"] == "Qm4x0PzL8rTa2cYw"
    assert [d["deviceId"] for d in profile["devices"]] == ["Qm4x0PzL8rTa2cYw"]


def test_background_start_is_not_counted_until_resume(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [js.item("start", 0, background=True)])
    assert api.profile("u-1")["totalSessions"] == 0

    send_ok(api, [js.item("resumeSession", 100), js.item("stop", 130)])

    profile = api.profile("u-1")
    assert profile["totalSessions"] == 1
    assert profile["timeSpentInApp"] == pytest.approx(30, abs=0.01)  # from the resume, not the background start


def test_android_string_background_flag_is_honoured(api: ApiClient) -> None:
    response = api.call("start", userId="u-1", deviceId="dev-1", background="true")

    assert response.json()["response"][0]["success"] is True
    assert api.profile("u-1")["totalSessions"] == 0


def test_stop_records_session_length_excluding_paused_time(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [
        js.item("start", 0), js.item("pauseSession", 10), js.item("resumeSession", 20), js.item("stop", 30),
    ])

    profile = api.profile("u-1")
    assert profile["timeSpentInApp"] == pytest.approx(20, abs=0.01)
    assert profile["totalSessions"] == 1


def test_stop_while_paused_counts_up_to_the_pause(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [js.item("start", 0), js.item("pauseSession", 12), js.item("stop", 600)])

    assert api.profile("u-1")["timeSpentInApp"] == pytest.approx(12, abs=0.01)


def test_session_length_adds_up_over_sessions(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [js.item("start", 0), js.item("stop", 45)])
    send_ok(api, [js.item("start", 100), js.item("stop", 112.5)])

    profile = api.profile("u-1")
    assert profile["totalSessions"] == 2
    assert profile["timeSpentInApp"] == pytest.approx(57.5, abs=0.01)


def test_resume_after_more_than_30_minutes_of_pause_starts_a_new_session(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [
        js.item("start", 0), js.item("pauseSession", 10), js.item("resumeSession", 10 + 1801), js.item("stop", 1831),
    ])

    profile = api.profile("u-1")
    assert profile["totalSessions"] == 2
    # the first session ended at its pause (10 s), the second ran from the resume to the stop (20 s)
    assert profile["timeSpentInApp"] == pytest.approx(30, abs=0.01)
    assert count_sessions(api, "u-1") == 2


def test_resume_within_30_minutes_continues_the_session(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [
        js.item("start", 0), js.item("pauseSession", 10), js.item("resumeSession", 10 + 1700), js.item("stop", 1730),
    ])

    profile = api.profile("u-1")
    assert profile["totalSessions"] == 1
    assert profile["timeSpentInApp"] == pytest.approx(30, abs=0.01)
    assert count_sessions(api, "u-1") == 1


def test_pause_without_open_session_is_answered_with_a_warning(api: ApiClient) -> None:
    api.ok("start", userId="u-1", deviceId="dev-1")
    api.ok("stop", userId="u-1", deviceId="dev-1")

    item = api.call("pauseSession", userId="u-1", deviceId="dev-1").json()["response"][0]
    assert item["success"] is True
    assert item["warning"]["message"]


def test_stop_ends_the_session_so_a_later_stop_adds_nothing(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    send_ok(api, [js.item("start", 0), js.item("stop", 10)])
    send(api, [js.item("stop", 500)])

    assert api.profile("u-1")["timeSpentInApp"] == pytest.approx(10, abs=0.01)


def test_heartbeat_marks_the_user_active(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")  # single calls: each client time is kept as sent
    api.ok("start", userId="u-1", deviceId="dev-1", time=js.at(0))
    api.ok("heartbeat", userId="u-1", deviceId="dev-1", time=js.at(600))

    assert api.profile("u-1")["lastActive"] == pytest.approx(js.at(600), abs=0.001)


def test_heartbeat_without_an_open_session_is_answered_with_a_warning(api: ApiClient) -> None:
    api.ok("setUserAttributes", userId="u-1", userAttributes={"a": 1})

    item = api.call("heartbeat", userId="u-1", deviceId="dev-1").json()["response"][0]
    assert item["success"] is True
    assert item["warning"]["message"]
    assert api.profile("u-1")["totalSessions"] == 0


@pytest.mark.parametrize("action", ["stop", "pauseSession", "resumeSession", "heartbeat", "pauseState",
                                    "resumeState"])
def test_create_never_actions_skip_an_unknown_user(api: ApiClient, action: str) -> None:
    response = api.call(action, userId="ghost", deviceId="ghost-device")

    assert response.status_code == 200
    item = response.json()["response"][0]
    assert item["success"] is True
    assert item["warning"]["message"] == NOT_FOUND
    assert missing(api, "ghost")
    assert count_sessions(api, "ghost") == 0


def test_advance_and_get_vars_skip_an_unknown_user(api: ApiClient) -> None:
    for action, params in (("advance", {"state": "Checkout"}), ("getVars", {})):
        item = api.call(action, userId="ghost", deviceId="ghost-device", **params).json()["response"][0]
        assert item["success"] is True, (action, item)
        assert item["warning"]["message"] == NOT_FOUND, (action, item)
    assert missing(api, "ghost")


def test_explicit_create_if_needed_overrides_the_create_never_default(api: ApiClient) -> None:
    api.ok("advance", userId="u-1", deviceId="dev-1", state="Onboarding", createDisposition="CreateIfNeeded")

    assert api.profile("u-1")["states"]["Onboarding"]["count"] == 1


def test_explicit_create_never_on_start_skips_an_unknown_user(api: ApiClient) -> None:
    item = api.call("start", userId="ghost", deviceId="d", createDisposition="CreateNever").json()["response"][0]

    assert item["success"] is True
    assert item["warning"]["message"] == NOT_FOUND
    assert missing(api, "ghost")


def test_session_actions_with_create_never_still_apply_to_a_known_user(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    answers = send(api, [js.item("start", 0), js.item("pauseSession", 5), js.item("resumeSession", 8),
                         js.item("heartbeat", 9), js.item("stop", 12)])

    assert [a.get("warning") for a in answers] == [None] * 5
    assert api.profile("u-1")["timeSpentInApp"] == pytest.approx(9, abs=0.01)
