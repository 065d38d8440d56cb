"""Audiences: named rules over a user's profile, decided from the profile alone.

A rule is JSON, stored by the management API and reused by A/B tests, exports and messages. ``parse_rule``
validates the whole tree once and compiles it into closures; ``Rule.matches(profile, now)`` then reads only the
profile's lifetime counters, so it costs the size of the rule, never the number of events, and never touches
the store. Times are unix seconds (UTC); "days" are periods of 86,400 s back from ``now``.

Every rule is an object with exactly one of these keys, which says what it is:

Groups::

    {"all": [rule, ...]}    every rule matches (an empty list matches everyone)
    {"any": [rule, ...]}    at least one matches (an empty list matches no one)
    {"not": rule}

User attributes, ``{"attribute": NAME, "op": OP, "value": V}``::

    {"attribute": "plan", "op": "in", "value": ["pro", "team"]}
    {"attribute": "age", "op": "between", "value": [18, 30]}
    {"attribute": "signupDate", "op": "withinLastDays", "value": 7}

    equals, notEquals           a string, number or boolean. A number compares numerically with numeric strings
                                ("30" equals 30); two strings compare exactly; a boolean only equals a boolean.
    in, notIn                   an array of those: equals any of them
    contains, notContains       substring of a string attribute; element (as equals) of a list attribute
    gt, gte, lt, lte            a number (or numeric string); the attribute must be numeric or a numeric string
    between                     [low, high], inclusive
    exists, notExists           no value
    before, after               a date, strictly earlier / later. Dates are ISO-8601 ("2026-11-26",
                                "2026-11-26T10:00:00Z", "...+02:00"; no offset means UTC) or unix seconds; on the
                                attribute's side a string is read as ISO-8601 first, then as unix seconds.
    withinLastDays              N: the attribute is a date in the last N days (not in the future)
    notWithinLastDays           N: the attribute is a date, but not in the last N days

    A missing attribute matches only notExists, notEquals, notIn and notContains. A value that cannot be read
    as what the operator needs (a word for gt, a non-date for before) does not match.

Behaviour, from the lifetime counters of an event (or a state: the same without ``value``)::

    {"event": "Purchase"}                                  done at least once
    {"event": "Purchase", "count": {"gte": 2, "lte": 5}}   count ranges take eq, gt, gte, lt, lte
    {"event": "Purchase", "value": {"gte": 100}}           lifetime sum of the event's values
    {"event": "Purchase", "firstWithinDays": 7}            first done in the last 7 days
    {"event": "Purchase", "lastWithinDays": 7}             last done in the last 7 days
    {"event": "Purchase", "lastNotWithinDays": 30}         done, but not in the last 30 days
    {"state": "Checkout", "count": {"gte": 1}}

    Conditions given together must all hold. A user who never did the event has count 0 and value 0, so
    {"count": {"lte": 5}} includes them, and the day windows exclude them.

Devices, ``{"device": FIELD, "op": OP, "value": V}``, true when ANY of the user's devices matches (a user with no
device matches nothing; "no device has a push token" is ``{"not": {"device": "pushToken", "op": "exists"}}``)::

    {"device": "systemName", "op": "equals", "value": "iOS"}
    {"device": "appVersion", "op": "versionGte", "value": "2.10"}     dotted versions compare numerically
    {"device": "pushToken", "op": "exists"}                           any push token or subscription is set

    FIELD is a device field's wire name (appVersion, systemName, systemVersion, browserName, deviceModel, ...) or
    pushToken (exists / notExists only). versionGte and versionLt apply to appVersion, systemVersion and
    browserVersion; "2.10.0" > "2.9.1", "2.10" == "2.10.0", and a suffix ("2.10.0-beta") is ignored.

Location, ``{"location": country | region | city | locale | timezone, "op": OP, "value": V}``: the attribute
operators, with strings compared case-insensitively (``{"location": "country", "op": "in", "value": ["gb",
"IE"]}``).

Users::

    {"user": "new", "withinDays": 7}     created in the last 7 days
    {"user": "returning"}                more than one session
    {"sessions": {"gte": 3}}             total sessions, as a count range
    {"timeSpentInApp": {"gte": 600}}     seconds, as a range
    {"lastActiveWithinDays": 14}

A rule that does not parse raises ``RuleError`` naming the JSON path of the first problem, e.g.
``rule.all[1].op: unknown operator 'eqals' (expected one of: equals, ...)``. Nesting is limited to 32 levels and
a rule to 1,000 nodes.
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeGuard

from openplum.services.profile import DEVICE_FIELDS, EventStats, Profile, StateStats

MAX_DEPTH = 32
MAX_NODES = 1000
MAX_NAME = 139
DAY = 86400.0

Pred = Callable[[Profile, float], bool]
Check = Callable[[Any, float], bool]
"""A test of one present value (an attribute, a device or location field) at ``now``."""

ATTRIBUTE_OPS = (
    "equals", "notEquals", "in", "notIn", "contains", "notContains", "gt", "gte", "lt", "lte", "between",
    "exists", "notExists", "before", "after", "withinLastDays", "notWithinLastDays",
)
VERSION_OPS = ("versionGte", "versionLt")
RANGE_OPS = ("eq", "gt", "gte", "lt", "lte")
LOCATION_KEYS = ("country", "region", "city", "locale", "timezone")
PUSH_TOKEN_FIELDS = ("iosPushToken", "gcmRegistrationId", "webPushSubscription", "huaweiPushRegId")
_VERSION_FIELDS = ("appVersion", "systemVersion", "browserVersion")
_WINDOWS = ("firstWithinDays", "lastWithinDays", "lastNotWithinDays")
_KEYS: dict[str, tuple[str, ...]] = {
    "all": ("all",),
    "any": ("any",),
    "not": ("not",),
    "attribute": ("attribute", "op", "value"),
    "event": ("event", "count", "value", *_WINDOWS),
    "state": ("state", "count", *_WINDOWS),
    "device": ("device", "op", "value"),
    "location": ("location", "op", "value"),
    "user": ("user", "withinDays"),
    "sessions": ("sessions",),
    "timeSpentInApp": ("timeSpentInApp",),
    "lastActiveWithinDays": ("lastActiveWithinDays",),
}
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "eq": operator.eq, "gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le,
}
_NUMERIC = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")
_VERSION = re.compile(r"^\s*v?(\d+(?:\.\d+)*)")
_NEGATIONS = {"notEquals": "equals", "notIn": "in", "notContains": "contains"}
_NEVER_DONE = EventStats()


class RuleError(ValueError):
    """A rule (or an audience) that does not parse; ``path`` names where, as ``rule.all[1].op``."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class Rule:
    """A compiled rule. Equal rules have equal JSON; ``rule_to_json`` gives that JSON back."""

    _json: str
    _test: Pred = field(compare=False, repr=False)
    events: frozenset[str] = field(default=frozenset(), compare=False)
    """The events whose counters the rule reads (a reader of profiles for it may leave out the others)."""
    states: frozenset[str] = field(default=frozenset(), compare=False)
    """The same for states."""

    def matches(self, profile: Profile, now: float) -> bool:
        return self._test(profile, now)


@dataclass(frozen=True)
class Audience:
    id: int | None
    name: str
    rule: Rule
    source: dict[str, Any]
    """The rule's JSON as given, for the management API to store and echo."""

    def matches(self, profile: Profile, now: float) -> bool:
        return self.rule.matches(profile, now)


def parse_rule(obj: object, path: str = "rule") -> Rule:
    """Validate and compile a rule's JSON (already decoded), or raise ``RuleError`` at its first problem."""
    parser = _Parser()
    test = parser.rule(obj, path, 1)
    return Rule(json.dumps(obj, ensure_ascii=False), test, frozenset(parser.events), frozenset(parser.states))


def rule_to_json(rule: Rule) -> Any:
    """The rule's JSON, a fresh copy each call."""
    return json.loads(rule._json)


def parse_audience(name: object, rule_json: object, audience_id: int | None = None) -> Audience:
    if not isinstance(name, str):
        raise RuleError("name", f"expected a string, got {_type(name)}")
    if not name.strip():
        raise RuleError("name", "must not be empty")
    if len(name) > MAX_NAME:
        raise RuleError("name", f"longer than {MAX_NAME} characters")
    rule = parse_rule(rule_json)
    return Audience(audience_id, name, rule, rule_to_json(rule))


class _Parser:
    def __init__(self) -> None:
        self.nodes = 0
        self.events: set[str] = set()
        self.states: set[str] = set()

    def rule(self, obj: object, path: str, depth: int) -> Pred:
        if depth > MAX_DEPTH:
            raise RuleError(path, f"nesting deeper than {MAX_DEPTH} levels")
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise RuleError(path, f"more than {MAX_NODES} rules")
        body = _object(obj, path)
        kind = _kind(body, path)
        for key in body:
            if key not in _KEYS[kind]:
                raise RuleError(f"{path}.{key}", f"unknown key {key!r} (expected one of: {', '.join(_KEYS[kind])})")
        if kind in ("all", "any"):
            items = _array(body[kind], f"{path}.{kind}")
            preds = tuple(self.rule(item, f"{path}.{kind}[{i}]", depth + 1) for i, item in enumerate(items))
            return _all(preds) if kind == "all" else _any(preds)
        if kind == "not":
            inner = self.rule(body["not"], f"{path}.not", depth + 1)
            return lambda p, now: not inner(p, now)
        leaf = _LEAVES[kind](body, path)
        if kind == "event":
            self.events.add(body["event"])
        elif kind == "state":
            self.states.add(body["state"])
        return leaf


def _all(preds: tuple[Pred, ...]) -> Pred:
    def test(p: Profile, now: float) -> bool:
        for pred in preds:  # noqa: SIM110 - a loop costs less than all() over a generator, on every getVars
            if not pred(p, now):
                return False
        return True

    return test


def _any(preds: tuple[Pred, ...]) -> Pred:
    def test(p: Profile, now: float) -> bool:
        for pred in preds:  # noqa: SIM110 - as in _all
            if pred(p, now):
                return True
        return False

    return test


def _kind(body: dict[str, Any], path: str) -> str:
    kinds = [key for key in body if key in _KEYS]
    if not kinds:
        got = f" (got: {', '.join(map(str, body))})" if body else ""
        raise RuleError(path, f"expected a rule with one of the keys: {', '.join(_KEYS)}{got}")
    if len(kinds) > 1:
        raise RuleError(path, f"a rule has one kind, got both {kinds[0]!r} and {kinds[1]!r}")
    return kinds[0]


# -- leaves: each compiles one rule object into a predicate over the profile


def _attribute_rule(body: dict[str, Any], path: str) -> Pred:
    name = _name(body["attribute"], f"{path}.attribute")
    check, if_missing = _operator(body, path, ATTRIBUTE_OPS, fold=False)
    return lambda p, now: _apply(check, if_missing, p.attributes.get(name), now)


def _location_rule(body: dict[str, Any], path: str) -> Pred:
    key = _choice(body["location"], f"{path}.location", LOCATION_KEYS, "location field")
    check, if_missing = _operator(body, path, ATTRIBUTE_OPS, fold=True)
    return lambda p, now: _apply(check, if_missing, p.location.get(key), now)


def _device_rule(body: dict[str, Any], path: str) -> Pred:
    name = _choice(body["device"], f"{path}.device", (*DEVICE_FIELDS, "pushToken"), "device field")
    ops = ATTRIBUTE_OPS + VERSION_OPS if name in _VERSION_FIELDS else ATTRIBUTE_OPS
    check, if_missing = _operator(body, path, ("exists", "notExists") if name == "pushToken" else ops, fold=False)

    def read(fields: dict[str, Any]) -> Any:
        if name != "pushToken":
            return fields.get(name)
        return next((fields[f] for f in PUSH_TOKEN_FIELDS if fields.get(f) not in (None, "")), None)

    return lambda p, now: any(_apply(check, if_missing, read(d.fields), now) for d in p.devices.values())


def _behaviour_rule(body: dict[str, Any], path: str) -> Pred:
    kind = "event" if "event" in body else "state"
    name = _name(body[kind], f"{path}.{kind}")
    tests: list[Callable[[EventStats | StateStats, float], bool]] = []
    if "count" in body:
        count = _range(body["count"], f"{path}.count")
        tests.append(lambda s, now: count(s.count))
    if "value" in body:
        total = _range(body["value"], f"{path}.value")
        tests.append(lambda s, now: isinstance(s, EventStats) and total(s.value))
    for key in _WINDOWS:
        if key in body:
            tests.append(_window(key, _days(body[key], f"{path}.{key}")))
    if not tests:
        tests.append(lambda s, now: s.count > 0)

    def stats(p: Profile) -> EventStats | StateStats:
        found = (p.events if kind == "event" else p.states).get(name)
        return _NEVER_DONE if found is None else found

    def test(p: Profile, now: float) -> bool:
        found = stats(p)
        for check in tests:  # noqa: SIM110 - as in _all
            if not check(found, now):
                return False
        return True

    return test


def _window(key: str, days: float) -> Callable[[EventStats | StateStats, float], bool]:
    if key == "firstWithinDays":
        return lambda s, now: s.first_time is not None and s.first_time >= now - days * DAY
    if key == "lastWithinDays":
        return lambda s, now: s.last_time is not None and s.last_time >= now - days * DAY
    return lambda s, now: s.last_time is not None and s.last_time < now - days * DAY


def _user_rule(body: dict[str, Any], path: str) -> Pred:
    kind = _choice(body["user"], f"{path}.user", ("new", "returning"), "user kind")
    if kind == "returning":
        if "withinDays" in body:
            raise RuleError(f"{path}.withinDays", "not allowed with user 'returning'")
        return lambda p, now: p.total_sessions > 1
    if "withinDays" not in body:
        raise RuleError(f"{path}.withinDays", "missing (a new user is one created within this many days)")
    days = _days(body["withinDays"], f"{path}.withinDays")
    return lambda p, now: p.created >= now - days * DAY


def _sessions_rule(body: dict[str, Any], path: str) -> Pred:
    sessions = _range(body["sessions"], f"{path}.sessions")
    return lambda p, now: sessions(p.total_sessions)


def _time_spent_rule(body: dict[str, Any], path: str) -> Pred:
    spent = _range(body["timeSpentInApp"], f"{path}.timeSpentInApp")
    return lambda p, now: spent(p.time_spent_in_app)


def _last_active_rule(body: dict[str, Any], path: str) -> Pred:
    days = _days(body["lastActiveWithinDays"], f"{path}.lastActiveWithinDays")
    return lambda p, now: p.last_active is not None and p.last_active >= now - days * DAY


_LEAVES: dict[str, Callable[[dict[str, Any], str], Pred]] = {
    "attribute": _attribute_rule,
    "location": _location_rule,
    "device": _device_rule,
    "event": _behaviour_rule,
    "state": _behaviour_rule,
    "user": _user_rule,
    "sessions": _sessions_rule,
    "timeSpentInApp": _time_spent_rule,
    "lastActiveWithinDays": _last_active_rule,
}


# -- operators: each compiles (op, value) into a check of a present value, plus the answer when it is missing


def _apply(check: Check, if_missing: bool, value: Any, now: float) -> bool:
    return if_missing if value is None else check(value, now)


def _operator(body: dict[str, Any], path: str, ops: tuple[str, ...], fold: bool) -> tuple[Check, bool]:
    if "op" not in body:
        raise RuleError(f"{path}.op", f"missing (expected one of: {', '.join(ops)})")
    op = body["op"]
    if not isinstance(op, str):
        raise RuleError(f"{path}.op", f"expected an operator name, got {_type(op)}")
    if op not in ops:
        raise RuleError(f"{path}.op", f"unknown operator {op!r} (expected one of: {', '.join(ops)})")
    vpath = f"{path}.value"
    if op in ("exists", "notExists"):
        if "value" in body:
            raise RuleError(vpath, f"not allowed with operator {op!r}")
        return (lambda v, now: op == "exists"), op == "notExists"
    if "value" not in body:
        raise RuleError(vpath, f"missing (operator {op!r} needs a value)")
    if op in _NEGATIONS:
        positive = _check(_NEGATIONS[op], body["value"], vpath, fold)
        return (lambda v, now: not positive(v, now)), True
    return _check(op, body["value"], vpath, fold), False


def _check(op: str, raw: Any, path: str, fold: bool) -> Check:
    if op == "equals":
        same = _equality(_scalar(raw, path), fold)
        return lambda v, now: same(v)
    if op == "in":
        options = [_equality(_scalar(x, f"{path}[{i}]"), fold) for i, x in enumerate(_array(raw, path))]
        return lambda v, now: any(same(v) for same in options)
    if op == "contains":
        needle = _scalar(raw, path)
        member = _equality(needle, fold)
        text = _folded(needle, fold) if isinstance(needle, str) else None
        return lambda v, now: (
            any(member(x) for x in v) if isinstance(v, list)
            else text is not None and isinstance(v, str) and text in _folded(v, fold)
        )
    if op in ("gt", "gte", "lt", "lte"):
        bound, compare = _number(raw, path), _COMPARE[op]
        return lambda v, now: (x := _as_number(v)) is not None and compare(x, bound)
    if op == "between":
        low, high = _between(raw, path)
        return lambda v, now: (x := _as_number(v)) is not None and low <= x <= high
    if op in ("before", "after"):
        when, compare = _date(raw, path), operator.lt if op == "before" else operator.gt
        return lambda v, now: (t := _as_time(v)) is not None and compare(t, when)
    if op in ("withinLastDays", "notWithinLastDays"):
        days, inside = _days(raw, path), op == "withinLastDays"
        return lambda v, now: (t := _as_time(v)) is not None and (now - days * DAY <= t <= now) == inside
    target = _version(raw, path)
    compare = operator.ge if op == "versionGte" else operator.lt
    return lambda v, now: (x := _as_version(v)) is not None and compare(x, target)


def _equality(target: str | float | bool, fold: bool) -> Callable[[Any], bool]:
    if isinstance(target, bool):
        return lambda v: isinstance(v, bool) and v == target
    if isinstance(target, int | float):
        number = float(target)
        return lambda v: _as_number(v) == number
    text, number_text = _folded(target, fold), _as_number(target)

    def same(v: Any) -> bool:
        if isinstance(v, str):
            return _folded(v, fold) == text
        return number_text is not None and _is_number(v) and v == number_text

    return same


def _folded(text: str, fold: bool) -> str:
    return text.casefold() if fold else text


# -- reading profile values leniently (a value that cannot be read does not match)


def _is_number(v: object) -> TypeGuard[int | float]:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _as_number(v: Any) -> float | None:
    if _is_number(v):
        return float(v)
    if isinstance(v, str) and _NUMERIC.match(v):
        return float(v)
    return None


def _as_time(v: Any) -> float | None:
    if isinstance(v, str):
        when = _iso_time(v)
        return _as_number(v) if when is None else when
    return float(v) if _is_number(v) else None


def _iso_time(text: str) -> float | None:
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()  # no offset means UTC


def _as_version(v: Any) -> tuple[int, ...] | None:
    found = _VERSION.match(str(v)) if isinstance(v, str) or _is_number(v) else None
    if not found:
        return None
    parts = [int(part) for part in found.group(1).split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()  # "2.10" and "2.10.0" are the same version
    return tuple(parts)


# -- validating rule values strictly


def _type(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object" if isinstance(v, dict) else type(v).__name__


def _object(v: object, path: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise RuleError(path, f"expected an object, got {_type(v)}")
    return v


def _array(v: object, path: str) -> list[Any]:
    if not isinstance(v, list):
        raise RuleError(path, f"expected an array, got {_type(v)}")
    return v


def _name(v: object, path: str) -> str:
    if not isinstance(v, str) or not v:
        raise RuleError(path, f"expected a non-empty string, got {_type(v) if v != '' else 'an empty string'}")
    return v


def _choice(v: object, path: str, options: tuple[str, ...], what: str) -> str:
    if not isinstance(v, str):
        raise RuleError(path, f"expected a {what} name, got {_type(v)}")
    if v not in options:
        raise RuleError(path, f"unknown {what} {v!r} (expected one of: {', '.join(options)})")
    return v


def _scalar(v: object, path: str) -> str | float | bool:
    if isinstance(v, str | bool) or _is_number(v):
        return v
    hint = " (use 'in' to match any of several values)" if isinstance(v, list) else ""
    raise RuleError(path, f"expected a string, number or boolean, got {_type(v)}{hint}")


def _number(v: object, path: str) -> float:
    number = _as_number(v)
    if number is None:
        shown = f" {v!r}" if isinstance(v, str) else ""
        raise RuleError(path, f"expected a number, got {_type(v)}{shown}")
    return number


def _days(v: object, path: str) -> float:
    if not _is_number(v):
        raise RuleError(path, f"expected a number of days, got {_type(v)}")
    if v < 0:
        raise RuleError(path, f"expected a number of days >= 0, got {v!r}")
    return float(v)


def _between(v: object, path: str) -> tuple[float, float]:
    if not isinstance(v, list) or len(v) != 2:
        got = f"{len(v)} items" if isinstance(v, list) else _type(v)
        raise RuleError(path, f"expected [low, high], got {got}")
    low, high = _number(v[0], f"{path}[0]"), _number(v[1], f"{path}[1]")
    if low > high:
        raise RuleError(path, f"low {v[0]!r} is greater than high {v[1]!r}")
    return low, high


def _range(v: object, path: str) -> Callable[[float], bool]:
    bounds = _object(v, path)
    if not bounds:
        raise RuleError(path, f"expected at least one of: {', '.join(RANGE_OPS)}")
    tests: list[tuple[Callable[[float, float], bool], float]] = []
    for key, bound in bounds.items():
        if key not in _COMPARE:
            raise RuleError(f"{path}.{key}", f"unknown comparison {key!r} (expected one of: {', '.join(RANGE_OPS)})")
        if not _is_number(bound):
            raise RuleError(f"{path}.{key}", f"expected a number, got {_type(bound)}")
        tests.append((_COMPARE[key], float(bound)))
    if len(tests) == 1:
        (compare, bound), = tests
        return lambda x: compare(x, bound)
    return lambda x: all(compare(x, b) for compare, b in tests)


def _date(v: object, path: str) -> float:
    when = _iso_time(v) if isinstance(v, str) else float(v) if _is_number(v) else None
    if when is None:
        shown = repr(v) if isinstance(v, str) else _type(v)
        raise RuleError(path, f"invalid date {shown} (expected ISO-8601 like '2026-11-26T10:00:00Z' or unix seconds)")
    return when


def _version(v: object, path: str) -> tuple[int, ...]:
    found = _as_version(v) if isinstance(v, str) and re.fullmatch(r"\d+(\.\d+)*", v) else None
    if found is None:
        raise RuleError(path, f"expected a dotted version like '2.10.0', got {v!r}")
    return found
