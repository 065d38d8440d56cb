"""Effectively-once ingestion (API.md §1.7, §7): SDKs resend a whole batch after a timeout or a 5xx; a replayed
batch is acknowledged again but counted once. Batches that merely look alike are different behaviour, counted."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.clients import Js, android_batch, android_item, count_events, count_sessions, missing, send, state_rows
from tests.conftest import ApiClient


def _js_journey(js: Js) -> list[dict[str, Any]]:
    return [
        js.item("start", 0, userAttributes={"plan": "pro"}, deviceModel="Web Browser", includeDefaults=False),
        js.item("track", 5, event="Add to cart", value=0, params={"sku": "A1"}),
        js.item("track", 7, event="Add to cart", value=0, params={"sku": "B2"}),
        js.item("track", 9, event="Purchase", value=19.5, currencyCode="USD", params={"items": 2}),
        js.item("advance", 10, state="Checkout"),
        js.item("setUserAttributes", 12, userAttributes={"tier": "gold"}),
        js.item("advance", 20, state=""),
    ]


def test_the_same_js_batch_sent_three_times_is_counted_once(api: ApiClient) -> None:
    js = Js(api, "Qm4x0PzL8rTa2cYw", "u-42")
    items = _js_journey(js)

    # JS stamps each upload with the clock at send time; the items keep their own times
    answers = [api.multi(items, time=f"{js.at(20) + n * 10:.3f}").json()["response"] for n in range(3)]

    for sent in answers:
        assert [a["success"] for a in sent] == [True] * len(items), sent
        assert not [a for a in sent if "error" in a or "warning" in a], sent
    assert answers[1] == answers[0]
    assert answers[2] == answers[0]
    profile = api.profile("u-42")
    assert profile["events"]["Add to cart"]["count"] == 2
    assert profile["events"]["Purchase"]["count"] == 1
    assert profile["events"]["Purchase"]["value"] == 19.5
    assert profile["states"]["Checkout"]["count"] == 1
    assert profile["totalSessions"] == 1
    assert profile["userAttributes"] == {"plan": "pro", "tier": "gold"}
    assert count_events(api, "u-42") == 3
    assert count_sessions(api, "u-42") == 1
    assert [name for name, _ in state_rows(api, "u-42")] == ["Checkout"]


def test_a_replayed_batch_with_a_stop_does_not_restart_or_lengthen_the_session(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    items = [js.item("start", 0), js.item("track", 3, event="Tap"), js.item("stop", 30)]
    for _ in range(3):
        send(api, items)

    profile = api.profile("u-1")
    assert (profile["totalSessions"], profile["events"]["Tap"]["count"]) == (1, 1)
    assert profile["timeSpentInApp"] == pytest.approx(30, abs=0.01)
    assert count_sessions(api, "u-1") == 1


def test_a_replayed_batch_after_the_user_moved_on_changes_nothing(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    first = [js.item("start", 0), js.item("track", 3, event="Tap")]
    send(api, first)
    send(api, [js.item("track", 10, event="Tap"), js.item("stop", 20)])
    send(api, first)  # the first upload's answer was lost; the SDK sends it again

    profile = api.profile("u-1")
    assert (profile["totalSessions"], profile["events"]["Tap"]["count"]) == (1, 2)
    assert count_sessions(api, "u-1") == 1


def test_a_replayed_register_batch_does_not_bring_back_the_anonymous_user(api: ApiClient) -> None:
    js = Js(api, "anon-dev")
    items = [js.item("start", 0), js.item("track", 2, event="Browse"),
             js.item("setUserAttributes", 4, newUserId="u-9")]
    first = send(api, items)
    again = send(api, items)

    assert [a["success"] for a in again] == [True, True, True], again
    assert again[0]["token"] == first[0]["token"]
    assert missing(api, "anon-dev")
    profile = api.profile("u-9")
    assert (profile["totalSessions"], profile["events"]["Browse"]["count"]) == (1, 1)
    api.ok("track", deviceId="anon-dev", event="Later")  # the device still belongs to u-9
    assert api.profile("u-9")["events"]["Later"]["count"] == 1


def test_an_android_batch_sent_twice_is_counted_once_and_answers_by_req_id(api: ApiClient) -> None:
    t0 = time.time() - 600
    batch = str(uuid.uuid4())
    items = [
        android_item("droid-1", "start", t0, batch, background="false", versionName="4.1", systemName="Android",
                     systemVersion="14", deviceModel="Pixel 8", locale="en_US", timezone="America/New_York",
                     timezoneOffsetSeconds="-14400", userAttributes={"plan": "free"}),
        android_item("droid-1", "track", t0 + 4, batch, event="Level Up", value="1.0", params={"level": "2"}),
        android_item("droid-1", "track", t0 + 9, batch, event="Level Up", value="1.0", params={"level": "3"}),
        android_item("droid-1", "advance", t0 + 10, batch, state="Level 3"),
        android_item("droid-1", "pauseSession", t0 + 20, batch),
    ]

    first = android_batch(api, items, sent_at=t0 + 21)
    second = android_batch(api, items, sent_at=t0 + 95)  # retried after a timeout

    for answers in (first, second):
        assert [a["reqId"] for a in answers] == [it["reqId"] for it in items]
        assert all(a["success"] is True and "error" not in a for a in answers), answers
    profile = api.profile("droid-1")
    level_up = profile["events"]["Level Up"]
    assert (level_up["count"], level_up["value"]) == (2, 2.0)
    assert level_up["lastTime"] - level_up["firstTime"] == pytest.approx(5, abs=0.01)
    assert level_up["lastTime"] < profile["created"]  # the items' own times, before the upload
    assert profile["states"]["Level 3"]["count"] == 1
    assert profile["totalSessions"] == 1
    assert profile["userAttributes"] == {"plan": "free"}
    assert count_events(api, "droid-1") == 2


def test_a_retry_carrying_newer_items_counts_only_the_new_ones(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    queued = [js.item("start", 0), js.item("track", 2, event="Tap")]
    send(api, queued)
    # the answer was lost; by the retry the SDK has queued more, and sends the whole queue
    send(api, [*queued, js.item("track", 4, event="Tap"), js.item("track", 5, event="Share")])

    profile = api.profile("u-1")
    assert profile["events"]["Tap"]["count"] == 2
    assert profile["events"]["Share"]["count"] == 1
    assert profile["totalSessions"] == 1


def test_an_android_retry_with_more_items_counts_only_the_new_ones(api: ApiClient) -> None:
    t0 = time.time() - 600
    old = [android_item("droid-1", "track", t0 + n, "batch-1", event="Tap") for n in range(3)]
    android_batch(api, old, sent_at=t0 + 3)
    # stored items keep the batch id they were queued with; items queued after the upload get a new one
    retry = [*old, android_item("droid-1", "track", t0 + 10, "batch-2", event="Tap")]
    answers = android_batch(api, retry, sent_at=t0 + 11)

    assert [a["reqId"] for a in answers] == [it["reqId"] for it in retry]
    assert api.profile("droid-1")["events"]["Tap"]["count"] == 4


def test_an_android_item_resent_under_a_new_batch_id_is_counted_once(api: ApiClient) -> None:
    # Android re-stamps the batch id of stored items when it has to shrink a batch (low memory); each item
    # keeps its reqId, which alone identifies it
    t0 = time.time() - 600
    items = [android_item("droid-1", "track", t0 + n, "batch-1", event="Tap") for n in range(3)]
    android_batch(api, items, sent_at=t0 + 3)
    android_batch(api, [{**item, "uuid": "batch-2"} for item in items], sent_at=t0 + 30)

    assert api.profile("droid-1")["events"]["Tap"]["count"] == 3


def test_two_batches_with_the_same_content_at_different_times_are_both_counted(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    send(api, [js.item("track", 0, event="Tap", value=1, params={"where": "home"})])
    send(api, [js.item("track", 5, event="Tap", value=1, params={"where": "home"})])

    event = api.profile("u-1")["events"]["Tap"]
    assert (event["count"], event["value"]) == (2, 2)
    assert count_events(api, "u-1") == 2


def test_two_android_batches_with_the_same_items_but_new_ids_are_both_counted(api: ApiClient) -> None:
    t0 = time.time() - 600
    for n in range(2):
        batch = str(uuid.uuid4())
        android_batch(api, [android_item("droid-1", "track", t0 + n, batch, event="Tap")], sent_at=t0 + n)

    assert api.profile("droid-1")["events"]["Tap"]["count"] == 2


def test_identical_items_queued_in_the_same_millisecond_are_both_counted(api: ApiClient) -> None:
    js = Js(api, "dev-1", "u-1")
    # Leanplum.track("Tap") twice in one handler: the JS SDK stamps both with the same millisecond
    twice = [js.item("track", 0, event="Tap", value=0), js.item("track", 0, event="Tap", value=0)]
    answers = send(api, twice)

    assert [a["success"] for a in answers] == [True, True]
    assert api.profile("u-1")["events"]["Tap"]["count"] == 2
    send(api, twice)  # and a replay of that batch still adds nothing
    assert api.profile("u-1")["events"]["Tap"]["count"] == 2


def test_unstamped_single_calls_are_each_counted(api: ApiClient) -> None:
    for _ in range(3):
        api.ok("track", userId="u-1", event="Server Event")

    assert api.profile("u-1")["events"]["Server Event"]["count"] == 3
