"""SQL for reports (``exportReport``): per-day aggregates of sessions and events, and A/B exposures and goals.

Days arrive as [lo, hi) spans of epoch seconds (the report service knows where a calendar day begins in its
time zone; SQL does not have to); each query joins them as a ``VALUES`` table and aggregates with ``GROUP BY``
in the database, so a report reads aggregates, never raw events. Rows come back keyed by the day's ``lo``.
Development-mode activity is never counted. A mixin of ``store.sql.SqlTx``, which provides ``_exec``; every
statement is written once with ``?`` placeholders for both backends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

Span = tuple[float, float]
"""[lo, hi) in seconds since the epoch."""


@dataclass(frozen=True)
class EventFilter:
    """Events named one of ``names``: plain ones (no message id) when ``plain``, and message events of
    ``message_ids``."""

    names: tuple[str, ...]
    message_ids: tuple[str, ...] = ()
    plain: bool = True


@dataclass(frozen=True)
class Exposures:
    """Each user's first event named ``name`` with parameters equal to one of ``params`` (one JSON document per
    A/B variant), when that first event falls within ``span``; rows name the variant by its index in ``params``."""

    name: str
    params: tuple[bytes, ...]
    span: Span


@dataclass(frozen=True)
class SessionDay:
    lo: float
    sessions: int
    users: int
    mean_length: float | None
    """Mean duration of the sessions that have ended; None when none has."""


@dataclass(frozen=True)
class EventDay:
    lo: float
    name: str
    message_id: str | None
    occurrences: int
    users: int
    value: float


@dataclass(frozen=True)
class ExposureDay:
    variant: int
    """Index of the variant's parameters in ``Exposures.params``."""
    lo: float
    users: int


@dataclass(frozen=True)
class GoalDay:
    """Goal events of exposed users after their exposure, by variant and day: ``users`` who did it for the first
    time that day (conversions), and all ``occurrences`` and their ``value`` that day."""

    variant: int
    name: str
    message_id: str | None
    lo: float
    users: int
    occurrences: int
    value: float


class ReportTx(Protocol):
    def exposure_params(self, app_id: str, name: str) -> list[bytes]:
        """The distinct parameter documents of events named ``name`` (one per A/B test and variant)."""
        ...

    def session_days(self, app_id: str, days: Sequence[Span]) -> list[SessionDay]: ...
    def new_user_days(self, app_id: str, days: Sequence[Span]) -> dict[float, int]:
        """Users whose first session ever started on each day."""
        ...

    def event_days(self, app_id: str, days: Sequence[Span], events: EventFilter) -> list[EventDay]: ...
    def exposure_days(self, app_id: str, exposures: Exposures, days: Sequence[Span]) -> list[ExposureDay]: ...
    def goal_days(
        self, app_id: str, exposures: Exposures, goals: EventFilter, days: Sequence[Span]
    ) -> list[GoalDay]: ...


def _days(days: Sequence[Span]) -> tuple[str, list[Any]]:
    values = ", ".join("(?, ?)" for _ in days)
    return f"days (lo, hi) AS (VALUES {values})", [float(x) for span in days for x in span]


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


def _filter(alias: str, events: EventFilter) -> tuple[str, list[Any]]:
    kinds = [f"{alias}.message_id IS NULL"] if events.plain else []
    if events.message_ids:
        kinds.append(f"{alias}.message_id IN ({_marks(events.message_ids)})")
    which = " OR ".join(kinds) or "1 = 0"
    return f"{alias}.name IN ({_marks(events.names)}) AND ({which})", [*events.names, *events.message_ids]


def _exposed(app_id: str, exposures: Exposures) -> tuple[str, list[Any]]:
    """The CTE ``exposed (user_id, variant, at)``: each user's first exposure, if it is within the span; the
    variant is the index of its parameters in ``exposures.params``."""
    variant = " ".join(f"WHEN ? THEN {i}" for i in range(len(exposures.params)))
    # Reading the exposures first (through the name index) keeps a planner from walking the app's whole history
    # in user order just to save the sort of the window.
    sql = (
        "exposures AS MATERIALIZED (SELECT user_id, params, time, event_id FROM events "
        f"WHERE app_id = ? AND name = ? AND dev_mode = ? AND params IN ({_marks(exposures.params)})), "
        f"first_exposure AS (SELECT user_id, CASE params {variant} END AS variant, time AS at, "
        "ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY time, event_id) AS nth FROM exposures), "
        "exposed AS MATERIALIZED (SELECT user_id, variant, at FROM first_exposure WHERE nth = 1 AND at >= ? AND at < ?)"
    )
    return sql, [app_id, exposures.name, False, *exposures.params, *exposures.params, *exposures.span]


class ReportSql:
    """SQL for ``ReportTx``; mixed into ``store.sql.SqlTx``."""

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:  # pragma: no cover - provided by SqlTx
        raise NotImplementedError

    def exposure_params(self, app_id: str, name: str) -> list[bytes]:
        rows = self._exec(
            "SELECT DISTINCT params FROM events WHERE app_id = ? AND name = ? AND params IS NOT NULL",
            (app_id, name),
        ).fetchall()
        return [bytes(r[0]) for r in rows]

    def session_days(self, app_id: str, days: Sequence[Span]) -> list[SessionDay]:
        if not days:
            return []
        cte, args = _days(days)
        rows = self._exec(
            f"WITH {cte} SELECT d.lo, COUNT(*), COUNT(DISTINCT s.user_id), AVG(s.duration) FROM days d "
            "JOIN sessions s ON s.app_id = ? AND s.dev_mode = ? AND s.started >= d.lo AND s.started < d.hi "
            "GROUP BY d.lo",
            (*args, app_id, False),
        ).fetchall()
        return [SessionDay(float(lo), int(n), int(u), None if m is None else float(m)) for lo, n, u, m in rows]

    def new_user_days(self, app_id: str, days: Sequence[Span]) -> dict[float, int]:
        if not days:
            return {}
        cte, args = _days(days)
        rows = self._exec(
            f"WITH {cte}, first_session AS (SELECT user_id, MIN(started) AS at FROM sessions "
            "WHERE app_id = ? AND dev_mode = ? GROUP BY user_id HAVING MIN(started) >= ? AND MIN(started) < ?) "
            "SELECT d.lo, COUNT(*) FROM first_session f JOIN days d ON f.at >= d.lo AND f.at < d.hi GROUP BY d.lo",
            (*args, app_id, False, days[0][0], days[-1][1]),
        ).fetchall()
        return {float(lo): int(n) for lo, n in rows}

    def event_days(self, app_id: str, days: Sequence[Span], events: EventFilter) -> list[EventDay]:
        if not days or not events.names:
            return []
        cte, args = _days(days)
        where, wargs = _filter("e", events)
        rows = self._exec(
            f"WITH {cte} SELECT d.lo, e.name, e.message_id, COUNT(*), COUNT(DISTINCT e.user_id), SUM(e.value) "
            f"FROM days d JOIN events e ON e.app_id = ? AND e.dev_mode = ? AND {where} "
            "AND e.time >= d.lo AND e.time < d.hi GROUP BY d.lo, e.name, e.message_id",
            (*args, app_id, False, *wargs),
        ).fetchall()
        return [EventDay(float(lo), n, m, int(c), int(u), float(v or 0.0)) for lo, n, m, c, u, v in rows]

    def exposure_days(self, app_id: str, exposures: Exposures, days: Sequence[Span]) -> list[ExposureDay]:
        if not days or not exposures.params:
            return []
        cte, args = _days(days)
        exposed, xargs = _exposed(app_id, exposures)
        rows = self._exec(
            f"WITH {cte}, {exposed} SELECT x.variant, d.lo, COUNT(*) FROM exposed x "
            "JOIN days d ON x.at >= d.lo AND x.at < d.hi GROUP BY x.variant, d.lo",
            (*args, *xargs),
        ).fetchall()
        return [ExposureDay(int(v), float(lo), int(n)) for v, lo, n in rows]

    def goal_days(self, app_id: str, exposures: Exposures, goals: EventFilter, days: Sequence[Span]) -> list[GoalDay]:
        if not days or not exposures.params or not goals.names:
            return []
        cte, args = _days(days)
        exposed, xargs = _exposed(app_id, exposures)
        where, wargs = _filter("e", goals)
        # Goal events of exposed users from their exposure to the end of the report. The exposures and the goal
        # events are sorted together by user rather than joined: a join looking each exposed user's events up
        # through an index lets a planner without statistics walk all goal events once per user.
        goal = (
            "stream AS (SELECT user_id, variant, at AS time, NULL AS name, NULL AS message_id, 0.0 AS value "
            "FROM exposed UNION ALL SELECT e.user_id, NULL, e.time, e.name, e.message_id, e.value FROM events e "
            f"WHERE e.app_id = ? AND e.dev_mode = ? AND {where} AND e.time >= ? AND e.time < ?), "
            "tagged AS (SELECT user_id, name, message_id, time, value, "
            "MAX(variant) OVER (PARTITION BY user_id) AS variant, "
            "MAX(CASE WHEN name IS NULL THEN time END) OVER (PARTITION BY user_id) AS exposed_at FROM stream), "
            "after_exposure AS (SELECT variant, name, message_id, time, value, "
            "ROW_NUMBER() OVER (PARTITION BY user_id, name, message_id ORDER BY time) AS nth FROM tagged "
            "WHERE name IS NOT NULL AND time >= exposed_at)"
        )
        rows = self._exec(
            f"WITH {cte}, {exposed}, {goal} "
            "SELECT a.variant, a.name, a.message_id, d.lo, SUM(CASE WHEN a.nth = 1 THEN 1 ELSE 0 END), COUNT(*), "
            "SUM(a.value) FROM after_exposure a JOIN days d ON a.time >= d.lo AND a.time < d.hi "
            "GROUP BY a.variant, a.name, a.message_id, d.lo",
            (*args, *xargs, app_id, False, *wargs, *exposures.span),
        ).fetchall()
        return [GoalDay(int(v), n, m, float(lo), int(u), int(c), float(x or 0.0)) for v, n, m, lo, u, c, x in rows]
