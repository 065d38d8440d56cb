"""Reports (``exportReport``, API.md §6.7; EXPORT-FORMAT.md §5.4), computed from the stored history.

A report's ``data`` is keyed by calendar day ``YYYYMMDD`` in US Pacific time (``America/Los_Angeles``, so a day
is 23 or 25 hours long when daylight saving time starts or ends), one key for every day from ``startDate`` to
``endDate`` inclusive, empty days included, as Leanplum's own report sample reads it. Development-mode
activity is left out. The database does the counting (``store.report_sql``); this module turns dates into
spans of time, event names into filters, and rows into the report.

- ``UserActivity``: per day, ``Active users`` (users with a session that started that day), ``New users`` (users
  whose first session ever started that day), ``Sessions`` (sessions started that day; a background start is
  counted too), ``Mean session length`` (seconds, over those of them that have ended; 0 when none has),
  ``Revenue`` (sum of the values of ``Purchase`` events, in the currencies the clients sent: no exchange rates
  are applied), and for each of ``eventNames`` ``{"Occurrences": int, "Users": int, "Value": number}``. Message
  events are named as in exports: ``.m<messageId>`` for a ``track`` with a ``messageId`` and no event, and
  ``.m<messageId> <event>`` (``.m123 Open``) for one with both.
- ``AbTestResults``: ``services.ab_results``.
- ``MessageResults``: openplum does not send messages yet, so these are not delivery statistics: they count the
  message events clients tracked for ``messageId`` (``Sent`` = ``.m<id>``, an impression; ``Delivered`` =
  ``.m<id> Delivered``; ``Opened`` = ``.m<id> Open``). The channel is a property of a message, and there are
  none, so the report is not split by channel.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from openplum.store.base import Tx
from openplum.store.report_sql import EventFilter, Span

PACIFIC = "America/Los_Angeles"
MAX_DAYS = 731
"""Two years: a report holds one entry per day, and is kept as one JSON document."""
CHUNK_DAYS = 100
"""Days per query, which keeps the number of bound parameters small."""
PURCHASE = "Purchase"
USER_ACTIVITY, AB_TEST_RESULTS, MESSAGE_RESULTS = "UserActivity", "AbTestResults", "MessageResults"

Progress = Callable[[float], None]


class ReportError(Exception):
    """A report that cannot be made from these parameters; the message says why."""


@dataclass(frozen=True)
class Day:
    key: str
    """``YYYYMMDD``."""
    lo: float
    hi: float

    @property
    def span(self) -> Span:
        return (self.lo, self.hi)


@dataclass(frozen=True)
class ReportRequest:
    data_type: str
    start_date: str
    end_date: str
    days: list[Day]
    ab_test_id: int | None = None
    message_id: str | None = None
    event_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class EventName:
    """An event as stored: its name and, for message events, the message id."""

    name: str
    message_id: str | None = None


def _date(value: str) -> dt.date:
    try:
        return dt.date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        raise ReportError(f"Invalid date {value!r}: expected YYYYMMDD") from None


def calendar(start: str, end: str, zone: str = PACIFIC) -> list[Day]:
    """Every day from ``start`` to ``end`` (``YYYYMMDD``, inclusive) as a span between local midnights."""
    first, last = _date(start), _date(end)
    if last < first:
        raise ReportError(f"endDate {end} is before startDate {start}")
    count = (last - first).days + 1
    if count > MAX_DAYS:
        raise ReportError(f"A report covers at most {MAX_DAYS} days; {start} to {end} is {count}")
    try:
        tz = ZoneInfo(zone)
    except ZoneInfoNotFoundError:
        raise ReportError(f"The time zone database has no {zone!r}: install the tzdata package") from None
    dates = [first + dt.timedelta(days=i) for i in range(count + 1)]
    midnights = [dt.datetime.combine(d, dt.time(), tzinfo=tz).timestamp() for d in dates]
    return [Day(d.strftime("%Y%m%d"), midnights[i], midnights[i + 1]) for i, d in enumerate(dates[:-1])]


def request(params: dict[str, Any]) -> ReportRequest:
    """The report a job's parameters ask for (as ``actions.export`` stored them)."""
    start = params.get("startDate")
    if not start:
        raise ReportError("Missing required parameter: startDate")
    end = params.get("endDate") or start
    data_type = params.get("dataType")
    if data_type not in (USER_ACTIVITY, AB_TEST_RESULTS, MESSAGE_RESULTS):
        raise ReportError(f"Unsupported dataType {data_type!r}")
    test_id, message_id = params.get("abTestId"), params.get("messageId")
    if data_type == AB_TEST_RESULTS and test_id is None:
        raise ReportError("Missing required parameter: abTestId (dataType AbTestResults)")
    if data_type == MESSAGE_RESULTS and not message_id:
        raise ReportError("Missing required parameter: messageId (dataType MessageResults)")
    names = tuple(dict.fromkeys(str(n) for n in params.get("eventNames") or ()))
    return ReportRequest(data_type, str(start), str(end), calendar(str(start), str(end)),
                         None if test_id is None else int(test_id), None if message_id is None else str(message_id),
                         names)


def event_name(report_name: str) -> EventName:
    """``.m123 Open`` → message 123's ``Open`` event; ``.m123`` → its impression; anything else a plain event."""
    if report_name.startswith(".m"):
        message_id, _, action = report_name[2:].partition(" ")
        if message_id:
            return EventName(action, message_id)
    return EventName(report_name)


def event_filter(names: Iterable[EventName], *, plain: bool = True) -> EventFilter:
    wanted = set(names)
    return EventFilter(
        names=tuple(sorted({n.name for n in wanted})),
        message_ids=tuple(sorted({n.message_id for n in wanted if n.message_id is not None})),
        plain=plain and any(n.message_id is None for n in wanted),
    )


def chunks(days: Sequence[Day], size: int = CHUNK_DAYS) -> Iterator[Sequence[Day]]:
    for i in range(0, len(days), size):
        yield days[i : i + size]


def build(tx: Tx, app_id: str, req: ReportRequest, progress: Progress) -> dict[str, Any]:
    """The report, as the fields ``getExportResults`` adds to its answer."""
    head: dict[str, Any] = {"dataType": req.data_type, "startDate": req.start_date, "endDate": req.end_date,
                            "timeZone": PACIFIC}
    if req.data_type == AB_TEST_RESULTS:
        from openplum.services import ab_results  # it builds on this module's days and names

        return {**head, **ab_results.report(tx, app_id, req, progress)}
    if req.data_type == MESSAGE_RESULTS:
        assert req.message_id is not None
        data = message_results(tx, app_id, req.days, req.message_id, progress)
        return {**head, "messageId": req.message_id, "note": MESSAGE_NOTE, "data": data}
    return {**head, "data": user_activity(tx, app_id, req.days, req.event_names, progress)}


def _no_events() -> dict[str, Any]:
    return {"Occurrences": 0, "Users": 0, "Value": 0.0}


def user_activity(
    tx: Tx, app_id: str, days: Sequence[Day], event_names: Sequence[str], progress: Progress
) -> dict[str, dict[str, Any]]:
    wanted = {name: event_name(name) for name in event_names}
    by_event: dict[EventName, list[str]] = {}
    for name, key in wanted.items():
        by_event.setdefault(key, []).append(name)
    events = event_filter([*wanted.values(), EventName(PURCHASE)])
    data: dict[str, dict[str, Any]] = {
        d.key: {"Active users": 0, "New users": 0, "Sessions": 0, "Mean session length": 0.0, "Revenue": 0.0,
                **{name: _no_events() for name in wanted}}
        for d in days
    }
    parts = list(chunks(days))
    for i, part in enumerate(parts):
        keys = {d.lo: d.key for d in part}
        spans = [d.span for d in part]
        for s in tx.session_days(app_id, spans):
            day = data[keys[s.lo]]
            day["Active users"], day["Sessions"] = s.users, s.sessions
            day["Mean session length"] = s.mean_length or 0.0
        for lo, count in tx.new_user_days(app_id, spans).items():
            data[keys[lo]]["New users"] = count
        for e in tx.event_days(app_id, spans, events):
            day, key = data[keys[e.lo]], EventName(e.name, e.message_id)
            if key == EventName(PURCHASE):
                day["Revenue"] = e.value
            for name in by_event.get(key, ()):
                day[name] = {"Occurrences": e.occurrences, "Users": e.users, "Value": e.value}
        progress((i + 1) / len(parts))
    return data


MESSAGE_METRICS = {"": "Sent", "Delivered": "Delivered", "Open": "Opened"}
MESSAGE_NOTE = ("openplum does not send messages yet: these are the message events clients tracked for this "
                "messageId (Sent: '.m<id>', Delivered: '.m<id> Delivered', Opened: '.m<id> Open'), not per channel")


def message_results(
    tx: Tx, app_id: str, days: Sequence[Day], message_id: str, progress: Progress
) -> dict[str, dict[str, int]]:
    events = EventFilter(tuple(sorted(MESSAGE_METRICS)), (message_id,), plain=False)
    data = {d.key: dict.fromkeys(MESSAGE_METRICS.values(), 0) for d in days}
    parts = list(chunks(days))
    for i, part in enumerate(parts):
        keys = {d.lo: d.key for d in part}
        for e in tx.event_days(app_id, [d.span for d in part], events):
            if e.message_id == message_id:
                data[keys[e.lo]][MESSAGE_METRICS[e.name]] += e.occurrences
        progress((i + 1) / len(parts))
    return data
