"""The CSV form of a raw export (EXPORT-FORMAT.md §3): six kinds of file made from the JSON lines.

Columns are exactly those of Leanplum's schemas (``export-format/<kind>.schema.json``), in that order, because
consumers load the files by position. Each file starts with a header row; fields follow RFC 4180 (quoted when
they hold a comma, quote or line break, quotes doubled, CRLF between records). An absent value is an empty
field, booleans are ``true``/``false``, times and durations are plain decimals of seconds (never ``1.7E9``),
and a parameter or attribute that is an object or a list is written as JSON. The unnamed state of a session
has no ``states`` row, but its events carry its id; state parameters exist only in the JSON form.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

SESSIONS, STATES, EVENTS = "sessions", "states", "events"
EVENT_PARAMETERS, USER_ATTRIBUTES, EXPERIMENTS = "eventparameters", "userattributes", "experiments"
KINDS = (SESSIONS, STATES, EVENTS, EVENT_PARAMETERS, USER_ATTRIBUTES, EXPERIMENTS)

COLUMNS: dict[str, tuple[str, ...]] = {
    SESSIONS: (
        "sessionId", "userId", "userBucket", "userStart", "country", "region", "city", "start", "duration", "lat",
        "lon", "locale", "timezone", "timezoneOffset", "appVersion", "client", "sdkVersion", "osName", "osVersion",
        "deviceModel", "browserName", "browserVersion", "deviceId", "priorEvents", "priorSessions",
        "priorTimeSpentInApp", "priorStates", "isDeveloper", "isSession", "sourcePublisherId", "sourcePublisher",
        "sourceSubPublisher", "sourceSite", "sourceCampaign", "sourceAdGroup", "sourceAd",
    ),
    STATES: ("stateId", "sessionId", "stateName", "start", "duration", "info", "timeUntilFirstForUser"),
    EVENTS: ("eventId", "stateId", "sessionId", "eventName", "start", "value", "info", "timeUntilFirstForUser"),
    EVENT_PARAMETERS: ("eventId", "name", "value"),
    USER_ATTRIBUTES: ("sessionId", "name", "value"),
    EXPERIMENTS: ("experimentId", "sessionId", "variantId"),
}

# Session columns that a JSON field of another name fills (the rest carry the JSON field of their own name).
_FROM_JSON = {"userStart": "firstRun", "start": "time", "timezoneOffset": "timezoneOffsetSeconds",
              "osName": "systemName", "osVersion": "systemVersion"}


def text(value: Any) -> str:
    """A value as CSV text: empty for absent, ``true``/``false``, decimals without exponent, JSON for structures."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return decimal(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def decimal(value: float) -> str:
    """``1714000000.25``, ``0.00001``, ``0``: the shortest exact decimal, positional; empty for NaN/infinity."""
    if not math.isfinite(value):
        return ""
    if value == int(value) and abs(value) < 1e16:
        return str(int(value))
    return format(Decimal(repr(value)), "f")


class Encoder:
    """Encodes rows as RFC 4180 records, one reusable buffer per encoder (one encoder per export)."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)

    def row(self, fields: list[str]) -> bytes:
        self._writer.writerow(fields)
        out = self._buffer.getvalue().encode()
        self._buffer.seek(0)
        self._buffer.truncate()
        return out

    def header(self, kind: str) -> bytes:
        return self.row(list(COLUMNS[kind]))


def rows(line: dict[str, Any]) -> Iterator[tuple[str, list[Any]]]:
    """(kind, values in column order) for every CSV row one JSON line makes."""
    session = line["sessionId"]
    yield SESSIONS, [line.get(_FROM_JSON.get(c, c)) for c in COLUMNS[SESSIONS]]
    for state in line["states"]:
        if "name" in state:
            yield STATES, [state["stateId"], session, state["name"], state.get("time"), state.get("duration"),
                           state.get("info"), state.get("timeUntilFirstForUser")]
        for event in state["events"]:
            yield EVENTS, [event["eventId"], state["stateId"], session, event["name"], event["time"],
                           event["value"], event.get("info"), event.get("timeUntilFirstForUser")]
            for name, value in (event.get("parameters") or {}).items():
                yield EVENT_PARAMETERS, [event["eventId"], name, value]
    for name, value in line["userAttributes"].items():
        yield USER_ATTRIBUTES, [session, name, value]
    for experiment in line["experiments"]:
        yield EXPERIMENTS, [experiment["id"], session, experiment["variantId"]]


def records(encoder: Encoder, line: dict[str, Any]) -> Iterator[tuple[str, bytes]]:
    """(kind, encoded record) for every CSV row of ``line``."""
    for kind, values in rows(line):
        yield kind, encoder.row([text(v) for v in values])
