"""Postbacks in the management API: the definitions with the signing secret receivers verify with, the secret's
rotation, and the dead letters (deliveries that failed every attempt), listed and replayed."""

from __future__ import annotations

from typing import Any

from tests.admin import Admin
from tests.conftest import ApiClient, Server, create_test_app
from tests.postbacks import Receiver, add_postback, deliver, message, outbox, secret_of, signed_by

ATTEMPTS = 4  # pb_server's postback_max_attempts


def _path(api: ApiClient, rest: str = "") -> str:
    return f"/apps/{api.app.app_id}/postbacks{rest}"


def _exhaust(api: ApiClient) -> None:
    """Run the worker through every attempt, waiting out each backoff (at most 40 s here)."""
    for _ in range(ATTEMPTS):
        deliver(api)
        api.server.clock.advance(41)


def _dead_letters(admin: Admin, api: ApiClient, query: str = "") -> list[dict[str, Any]]:
    letters: list[dict[str, Any]] = admin.ok("GET", _path(api, "/dead-letters" + query))["deadLetters"]
    return letters


def test_the_listing_shows_the_postbacks_the_secret_and_the_outbox(
    pb_admin: Admin, pb_api: ApiClient, receiver: Receiver
) -> None:
    postback_id = add_postback(pb_api, receiver.url("/x", "u={{User ID}}"), channels=["Email"])
    message(pb_api, "u-1", "m-1", "Open")

    listing = pb_admin.ok("GET", _path(pb_api))

    assert listing["secret"].startswith("pbs_")
    assert len(listing["secret"]) > 40
    assert listing["postbacks"] == [{
        "postbackId": postback_id, "type": "messageEvents", "postbackUrl": receiver.url("/x", "u={{User ID}}"),
        "channels": ["Email"], "created": listing["postbacks"][0]["created"],
    }]
    assert (listing["pending"], listing["deadLetters"]) == (1, 0)
    assert pb_admin.ok("GET", _path(pb_api))["secret"] == listing["secret"]


def test_an_app_has_a_secret_before_its_first_postback(pb_admin: Admin, pb_api: ApiClient, receiver: Receiver) -> None:
    secret = secret_of(pb_admin, pb_api)
    add_postback(pb_api, receiver.url())
    message(pb_api, "u-1", "m-1", "Open")
    deliver(pb_api)

    [received] = receiver.of(pb_api)
    assert signed_by(received, secret)


def test_apps_have_secrets_of_their_own(pb_admin: Admin, pb_api: ApiClient, pb_server: Server) -> None:
    other = ApiClient(pb_server, create_test_app(pb_server), pb_api.http)

    assert secret_of(pb_admin, pb_api) != secret_of(pb_admin, other)


def test_a_rotated_secret_signs_every_later_attempt(pb_admin: Admin, pb_api: ApiClient, receiver: Receiver) -> None:
    add_postback(pb_api, receiver.url())
    old = secret_of(pb_admin, pb_api)
    message(pb_api, "u-1", "m-1", "Open")

    new = pb_admin.ok("POST", _path(pb_api, "/secret/rotate"))["secret"]
    deliver(pb_api)

    assert new != old
    assert secret_of(pb_admin, pb_api) == new
    [received] = receiver.of(pb_api)
    assert signed_by(received, new)
    assert not signed_by(received, old)
    [entry] = [e for e in pb_admin.audit(pb_api.app.app_id) if e["action"] == "postbacks.secret.rotate"]
    assert entry["actor"] == pb_admin.actor
    assert new not in str(entry)


def test_a_delivery_that_fails_every_attempt_is_a_dead_letter_that_can_be_replayed(
    pb_admin: Admin, pb_api: ApiClient, receiver: Receiver
) -> None:
    postback_id = add_postback(pb_api, receiver.url("/hook", "e={{Message event}}"))
    message(pb_api, "u-1", "m-1", "Accept")
    receiver.failures = ATTEMPTS

    _exhaust(pb_api)

    [letter] = _dead_letters(pb_admin, pb_api)
    assert (letter["postbackId"], letter["attempts"], letter["lastError"]) == (postback_id, ATTEMPTS, "HTTP 500")
    assert letter["url"] == receiver.url("/hook", "e=Accept")
    assert letter["body"]["messageEvent"] == "Accept"
    assert letter["body"]["userId"] == "u-1"
    assert letter["failedAt"] >= letter["created"]
    assert pb_admin.ok("GET", _path(pb_api))["deadLetters"] == 1
    assert len(receiver.of(pb_api)) == ATTEMPTS

    assert pb_admin.ok("POST", _path(pb_api, f"/dead-letters/{letter['id']}/replay")) == {"replayed": 1}
    assert _dead_letters(pb_admin, pb_api) == []
    deliver(pb_api)

    assert outbox(pb_api) == {}
    assert len(receiver.of(pb_api)) == ATTEMPTS + 1
    last = receiver.of(pb_api)[-1]
    assert last.json["id"] == letter["id"]
    assert signed_by(last, secret_of(pb_admin, pb_api))
    assert [e["target"] for e in pb_admin.audit(pb_api.app.app_id) if e["action"] == "postbacks.replay"] == [
        str(letter["id"])]


def test_every_dead_letter_can_be_replayed_at_once(pb_admin: Admin, pb_api: ApiClient, receiver: Receiver) -> None:
    add_postback(pb_api, receiver.url())
    for n in range(3):
        message(pb_api, f"u-{n}", "m-1", "Open")
    receiver.failures = 3 * ATTEMPTS
    _exhaust(pb_api)
    assert outbox(pb_api) == {"dead": 3}

    page = pb_admin.ok("GET", _path(pb_api, "/dead-letters?limit=2"))
    assert len(page["deadLetters"]) == 2
    rest = _dead_letters(pb_admin, pb_api, f"?after={page['next']}")
    assert len(rest) == 1

    assert pb_admin.ok("POST", _path(pb_api, "/dead-letters/replay")) == {"replayed": 3}
    deliver(pb_api)
    assert outbox(pb_api) == {}
    assert sorted({r.json["userId"] for r in receiver.of(pb_api)}) == ["u-0", "u-1", "u-2"]


def test_replaying_what_is_not_a_dead_letter_is_a_404(pb_admin: Admin, pb_api: ApiClient, receiver: Receiver) -> None:
    add_postback(pb_api, receiver.url())
    message(pb_api, "u-1", "m-1", "Open")

    assert pb_admin.error("POST", _path(pb_api, "/dead-letters/999999999/replay"), 404) == (
        "No dead letter with id 999999999")
    assert pb_admin.error("POST", _path(pb_api, "/dead-letters/abc/replay"), 404)
    assert pb_admin.error("POST", _path(pb_api, f"/dead-letters/{2**63}/replay"), 404)
    assert pb_admin.ok("GET", _path(pb_api, f"/dead-letters?after={2**64}"))["deadLetters"] == []
    assert pb_admin.ok("POST", _path(pb_api, "/dead-letters/replay")) == {"replayed": 0}
    assert outbox(pb_api) == {"pending": 1}


def test_postbacks_of_an_unknown_app_are_a_404(pb_admin: Admin) -> None:
    for method, path in [("GET", "/apps/nope/postbacks"), ("GET", "/apps/nope/postbacks/dead-letters"),
                         ("POST", "/apps/nope/postbacks/dead-letters/replay"),
                         ("POST", "/apps/nope/postbacks/secret/rotate")]:
        assert pb_admin.error(method, path, 404) == "No app with id 'nope'"
