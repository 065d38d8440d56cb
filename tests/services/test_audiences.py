"""Audience rules: every operator on profiles built by hand, and every way a rule can fail to parse."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from openplum.services import profile as profiles
from openplum.services.audiences import (
    ATTRIBUTE_OPS,
    MAX_DEPTH,
    MAX_NODES,
    RuleError,
    parse_audience,
    parse_rule,
    rule_to_json,
)
from openplum.services.profile import Device, EventStats, Profile, StateStats

DAY = 86400.0
NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
ALWAYS: dict[str, Any] = {"all": []}


def user(**fields: Any) -> Profile:
    fields.setdefault("created", NOW - 100 * DAY)
    return Profile(user_id="u", **fields)


def matches(rule: object, profile: Profile) -> bool:
    return parse_rule(rule).matches(profile, NOW)


def attribute(op: str, *value: Any) -> dict[str, Any]:
    return {"attribute": "a", "op": op, **({"value": value[0]} if value else {})}


# -- attributes

ATTRIBUTE_CASES = [
    ("equals", "pro", "pro", True),
    ("equals", "pro", "Pro", False),
    ("equals", "30", 30, True),
    ("equals", 30, "30", True),
    ("equals", 30, "30.0", True),
    ("equals", "30", "30.0", False),
    ("equals", 30, 30.0, True),
    ("equals", True, True, True),
    ("equals", True, 1, False),
    ("equals", True, "true", False),
    ("equals", "pro", ["pro"], False),
    ("notEquals", "pro", "free", True),
    ("notEquals", "pro", "pro", False),
    ("notEquals", 30, "30", False),
    ("in", ["pro", "team"], "team", True),
    ("in", ["pro", "team"], "free", False),
    ("in", [1, 2], "2", True),
    ("in", [], "pro", False),
    ("notIn", ["pro", "team"], "free", True),
    ("notIn", ["pro", "team"], "pro", False),
    ("contains", "gmail", "ann@gmail.com", True),
    ("contains", "gmail", "ann@yahoo.com", False),
    ("contains", "Gmail", "ann@gmail.com", False),
    ("contains", "red", ["red", "blue"], True),
    ("contains", "re", ["red", "blue"], False),
    ("contains", 7, ["7", 8], True),
    ("contains", 7, 7, False),
    ("notContains", "gmail", "ann@yahoo.com", True),
    ("notContains", "gmail", "ann@gmail.com", False),
    ("notContains", "red", ["red"], False),
    ("notContains", "red", ["blue"], True),
    ("gt", 18, 19, True),
    ("gt", 18, 18, False),
    ("gt", 18, "19.5", True),
    ("gt", "18", 19, True),
    ("gt", 18, "many", False),
    ("gt", 0, True, False),
    ("gt", 0, [1], False),
    ("gte", 18, 18, True),
    ("gte", 18, 17.9, False),
    ("lt", 18, 17, True),
    ("lt", 18, "18", False),
    ("lte", 18, " 18 ", True),
    ("lte", 18, 18.5, False),
    ("between", [18, 30], 18, True),
    ("between", [18, 30], "30", True),
    ("between", [18, 30], 30.5, False),
    ("between", [18, 30], "young", False),
    ("exists", None, "", True),
    ("exists", None, False, True),
    ("notExists", None, 0, False),
]


@pytest.mark.parametrize(("op", "value", "actual", "expected"), ATTRIBUTE_CASES)
def test_attribute_operator_compares_the_attribute_value(op: str, value: Any, actual: Any, expected: bool) -> None:
    rule = attribute(op) if op in ("exists", "notExists") else attribute(op, value)
    assert matches(rule, user(attributes={"a": actual})) is expected


def test_every_attribute_operator_has_a_true_and_a_false_case() -> None:
    date_ops = {"before", "after", "withinLastDays", "notWithinLastDays"}  # covered by the date tests
    covered = {(op, expected) for op, _, _, expected in ATTRIBUTE_CASES}
    wanted = {(op, e) for op in set(ATTRIBUTE_OPS) - date_ops - {"exists", "notExists"} for e in (True, False)}
    assert wanted <= covered


NEGATIVE_OPS = {"notEquals", "notIn", "notContains", "notExists"}


@pytest.mark.parametrize("op", ATTRIBUTE_OPS)
def test_missing_attribute_matches_only_the_negative_operators(op: str) -> None:
    values = {"in": ["x"], "notIn": ["x"], "between": [1, 2], "before": "2030-01-01", "after": 0}
    rule = attribute(op) if op in ("exists", "notExists") else attribute(op, values.get(op, 1))
    assert matches(rule, user(attributes={"other": 1})) is (op in NEGATIVE_OPS)


@pytest.mark.parametrize(("op", "value", "actual", "expected"), [
    ("before", "2026-11-26", "2026-11-25T23:59:59Z", True),
    ("before", "2026-11-26", "2026-11-26T00:00:00Z", False),
    ("before", "2026-11-26T10:00:00Z", "2026-11-26T11:00:00+02:00", True),  # 09:00 UTC
    ("before", "2026-11-26T10:00:00+00:00", "2026-11-26T10:30:00", False),  # naive attribute is UTC
    ("before", 1_700_000_000, 1_699_999_999, True),
    ("before", 1_700_000_000, "1699999999", True),
    ("before", "2026-11-26", "soon", False),
    ("after", "2023-11-14T22:13:20Z", 1_700_000_001, True),
    ("after", 1_700_000_000, "2023-11-14T22:13:20Z", False),
    ("after", "2026-11-26", "2026-11-26T00:00:01Z", True),
    ("after", "2026-11-26", True, False),
    ("withinLastDays", 7, NOW - 6 * DAY, True),
    ("withinLastDays", 7, NOW - 8 * DAY, False),
    ("withinLastDays", 7, NOW + DAY, False),
    ("withinLastDays", 7, "2027-01-14T08:00:00Z", True),
    ("withinLastDays", 7, "yesterday", False),
    ("notWithinLastDays", 7, NOW - 8 * DAY, True),
    ("notWithinLastDays", 7, NOW - 6 * DAY, False),
    ("notWithinLastDays", 7, "yesterday", False),
])
def test_date_operators_read_iso_dates_and_unix_seconds(op: str, value: Any, actual: Any, expected: bool) -> None:
    assert matches(attribute(op, value), user(attributes={"a": actual})) is expected


# -- groups


def test_empty_all_matches_everyone_and_empty_any_no_one() -> None:
    assert matches({"all": []}, user()) is True
    assert matches({"any": []}, user()) is False


@pytest.mark.parametrize(("rule", "expected"), [
    ({"all": [attribute("exists"), {"attribute": "plan", "op": "equals", "value": "pro"}]}, True),
    ({"all": [attribute("exists"), {"attribute": "plan", "op": "equals", "value": "free"}]}, False),
    ({"any": [attribute("notExists"), {"attribute": "plan", "op": "equals", "value": "pro"}]}, True),
    ({"any": [attribute("notExists"), {"attribute": "plan", "op": "equals", "value": "free"}]}, False),
    ({"not": attribute("exists")}, False),
    ({"not": {"not": attribute("exists")}}, True),
    ({"all": [{"any": [{"any": []}, {"not": {"all": [attribute("notExists")]}}]}]}, True),
])
def test_groups_combine_their_rules(rule: dict[str, Any], expected: bool) -> None:
    assert matches(rule, user(attributes={"a": 1, "plan": "pro"})) is expected


# -- behaviour

BUYER = user(events={"Purchase": EventStats(count=3, value=120.0, first_time=NOW - 40 * DAY, last_time=NOW - 2 * DAY)})


@pytest.mark.parametrize(("rule", "expected"), [
    ({"event": "Purchase"}, True),
    ({"event": "Refund"}, False),
    ({"event": "Purchase", "count": {"gte": 3}}, True),
    ({"event": "Purchase", "count": {"gt": 3}}, False),
    ({"event": "Purchase", "count": {"eq": 3}}, True),
    ({"event": "Purchase", "count": {"lt": 3}}, False),
    ({"event": "Purchase", "count": {"gte": 1, "lte": 5}}, True),
    ({"event": "Purchase", "count": {"gte": 1, "lte": 2}}, False),
    ({"event": "Purchase", "value": {"gte": 100}}, True),
    ({"event": "Purchase", "value": {"gt": 120}}, False),
    ({"event": "Purchase", "firstWithinDays": 45}, True),
    ({"event": "Purchase", "firstWithinDays": 30}, False),
    ({"event": "Purchase", "lastWithinDays": 7}, True),
    ({"event": "Purchase", "lastWithinDays": 1}, False),
    ({"event": "Purchase", "lastNotWithinDays": 1}, True),
    ({"event": "Purchase", "lastNotWithinDays": 7}, False),
    ({"event": "Purchase", "count": {"gte": 2}, "lastWithinDays": 7}, True),
    ({"event": "Purchase", "count": {"gte": 2}, "lastWithinDays": 1}, False),
])
def test_event_rule_reads_the_lifetime_counters(rule: dict[str, Any], expected: bool) -> None:
    assert matches(rule, BUYER) is expected


@pytest.mark.parametrize(("rule", "expected"), [
    ({"event": "Purchase"}, False),
    ({"event": "Purchase", "count": {"lte": 5}}, True),
    ({"event": "Purchase", "count": {"eq": 0}}, True),
    ({"event": "Purchase", "value": {"lt": 100}}, True),
    ({"event": "Purchase", "value": {"gte": 100}}, False),
    ({"event": "Purchase", "firstWithinDays": 7}, False),
    ({"event": "Purchase", "lastWithinDays": 7}, False),
    ({"event": "Purchase", "lastNotWithinDays": 30}, False),
])
def test_never_done_event_has_zero_counters_and_no_times(rule: dict[str, Any], expected: bool) -> None:
    assert matches(rule, user()) is expected


@pytest.mark.parametrize(("rule", "expected"), [
    ({"state": "Checkout"}, True),
    ({"state": "Cart"}, False),
    ({"state": "Checkout", "count": {"gte": 2}}, True),
    ({"state": "Checkout", "count": {"gte": 3}}, False),
    ({"state": "Checkout", "firstWithinDays": 3}, False),
    ({"state": "Checkout", "lastWithinDays": 3}, True),
    ({"state": "Checkout", "lastNotWithinDays": 3}, False),
    ({"state": "Cart", "count": {"eq": 0}}, True),
])
def test_state_rule_reads_the_state_counters(rule: dict[str, Any], expected: bool) -> None:
    checkout = StateStats(count=2, first_time=NOW - 10 * DAY, last_time=NOW - DAY)
    assert matches(rule, user(states={"Checkout": checkout}, events={"Cart": EventStats(count=1)})) is expected


# -- devices and location


def devices(*fields: dict[str, Any]) -> dict[str, Device]:
    return {f"d{i}": Device(device_id=f"d{i}", fields=f) for i, f in enumerate(fields)}


def test_device_rule_matches_when_any_device_matches() -> None:
    two = user(devices=devices({"systemName": "Android"}, {"systemName": "iOS"}))
    assert matches({"device": "systemName", "op": "equals", "value": "iOS"}, two) is True
    assert matches({"device": "systemName", "op": "equals", "value": "Web"}, two) is False
    assert matches({"device": "systemName", "op": "notEquals", "value": "iOS"}, two) is True  # the Android one
    assert matches({"device": "systemName", "op": "equals", "value": "ios"}, two) is False  # exact, unlike location


def test_device_rule_with_no_device_matches_nothing_not_even_not_exists() -> None:
    assert matches({"device": "deviceModel", "op": "notExists"}, user()) is False
    assert matches({"device": "deviceModel", "op": "notExists"}, user(devices=devices({}))) is True


@pytest.mark.parametrize(("field", "op", "value", "actual", "expected"), [
    ("appVersion", "versionGte", "2.9.1", "2.10.0", True),
    ("appVersion", "versionGte", "2.10.0", "2.9.1", False),
    ("appVersion", "versionGte", "2.10.0", "2.10", True),
    ("appVersion", "versionLt", "2.10", "2.10.0", False),
    ("appVersion", "versionLt", "2.10.1", "2.10", True),
    ("appVersion", "versionGte", "2.10", "2.10.0-beta (431)", True),
    ("appVersion", "versionGte", "1", "banana", False),
    ("appVersion", "versionLt", "99", "banana", False),
    ("systemVersion", "versionGte", "13.4", "14", True),
    ("systemVersion", "versionLt", "13.4", 13, True),
    ("browserVersion", "versionLt", "120", "119.0.6045.105", True),
])
def test_version_operators_compare_dotted_versions_numerically(
    field: str, op: str, value: str, actual: Any, expected: bool,
) -> None:
    rule = {"device": field, "op": op, "value": value}
    assert matches(rule, user(devices=devices({field: actual}))) is expected


@pytest.mark.parametrize("token_field", ["iosPushToken", "gcmRegistrationId", "webPushSubscription", "huaweiPushRegId"])
def test_push_token_exists_when_any_device_has_any_token(token_field: str) -> None:
    profile = user(devices=devices({"systemName": "Web"}, {token_field: {"endpoint": "https://push"}}))
    assert matches({"device": "pushToken", "op": "exists"}, profile) is True
    assert matches({"not": {"device": "pushToken", "op": "exists"}}, profile) is False


def test_empty_push_token_does_not_count() -> None:
    profile = user(devices=devices({"iosPushToken": "", "systemName": "iOS"}))
    assert matches({"device": "pushToken", "op": "exists"}, profile) is False
    assert matches({"device": "pushToken", "op": "notExists"}, profile) is True


@pytest.mark.parametrize(("rule", "expected"), [
    ({"location": "country", "op": "equals", "value": "gb"}, True),
    ({"location": "country", "op": "in", "value": ["IE", "Gb"]}, True),
    ({"location": "country", "op": "notIn", "value": ["GB"]}, False),
    ({"location": "city", "op": "contains", "value": "LOND"}, True),
    ({"location": "city", "op": "equals", "value": "Paris"}, False),
    ({"location": "locale", "op": "equals", "value": "en_gb"}, True),
    ({"location": "timezone", "op": "equals", "value": "europe/london"}, True),
    ({"location": "region", "op": "notExists"}, True),
    ({"location": "region", "op": "equals", "value": "ENG"}, False),
])
def test_location_rule_compares_case_insensitively(rule: dict[str, Any], expected: bool) -> None:
    where = {"country": "GB", "city": "London", "locale": "en_GB", "timezone": "Europe/London"}
    assert matches(rule, user(location=where)) is expected


# -- users


@pytest.mark.parametrize(("rule", "fields", "expected"), [
    ({"user": "new", "withinDays": 7}, {"created": NOW - 6 * DAY}, True),
    ({"user": "new", "withinDays": 7}, {"created": NOW - 8 * DAY}, False),
    ({"user": "returning"}, {"total_sessions": 2}, True),
    ({"user": "returning"}, {"total_sessions": 1}, False),
    ({"sessions": {"gte": 3}}, {"total_sessions": 3}, True),
    ({"sessions": {"gte": 3}}, {"total_sessions": 2}, False),
    ({"timeSpentInApp": {"gte": 600}}, {"time_spent_in_app": 600.5}, True),
    ({"timeSpentInApp": {"gte": 600}}, {"time_spent_in_app": 599.0}, False),
    ({"lastActiveWithinDays": 14}, {"last_active": NOW - 13 * DAY}, True),
    ({"lastActiveWithinDays": 14}, {"last_active": NOW - 15 * DAY}, False),
    ({"lastActiveWithinDays": 14}, {}, False),
])
def test_user_rules_read_the_profile_figures(rule: dict[str, Any], fields: dict[str, Any], expected: bool) -> None:
    assert matches(rule, user(**fields)) is expected


# -- parse errors


@pytest.mark.parametrize(("rule", "message"), [
    ("plan", "rule: expected an object, got string"),
    (None, "rule: expected an object, got null"),
    ({}, "rule: expected a rule with one of the keys: all, any, not, attribute, event, state, device, location, "
         "user, sessions, timeSpentInApp, lastActiveWithinDays"),
    ({"op": "equals"}, "rule: expected a rule with one of the keys: all, any, not, attribute, event, state, device, "
                       "location, user, sessions, timeSpentInApp, lastActiveWithinDays (got: op)"),
    ({"attribute": "a", "event": "b"}, "rule: a rule has one kind, got both 'attribute' and 'event'"),
    ({"all": [ALWAYS, attribute("eqals", 1)]},
     "rule.all[1].op: unknown operator 'eqals' (expected one of: " + ", ".join(ATTRIBUTE_OPS) + ")"),
    ({"all": {}}, "rule.all: expected an array, got object"),
    ({"any": [ALWAYS, 3]}, "rule.any[1]: expected an object, got number"),
    ({"not": [ALWAYS]}, "rule.not: expected an object, got array"),
    ({"all": [], "any": []}, "rule: a rule has one kind, got both 'all' and 'any'"),
    ({"not": {"attribute": "a", "op": "exists", "valu": 1}},
     "rule.not.valu: unknown key 'valu' (expected one of: attribute, op, value)"),
    ({"attribute": 5, "op": "exists"}, "rule.attribute: expected a non-empty string, got number"),
    ({"attribute": "", "op": "exists"}, "rule.attribute: expected a non-empty string, got an empty string"),
    ({"attribute": "a"}, "rule.op: missing (expected one of: " + ", ".join(ATTRIBUTE_OPS) + ")"),
    ({"attribute": "a", "op": 1}, "rule.op: expected an operator name, got number"),
    (attribute("equals"), "rule.value: missing (operator 'equals' needs a value)"),
    (attribute("exists", True), "rule.value: not allowed with operator 'exists'"),
    (attribute("equals", None), "rule.value: expected a string, number or boolean, got null"),
    (attribute("equals", ["a"]),
     "rule.value: expected a string, number or boolean, got array (use 'in' to match any of several values)"),
    (attribute("equals", float("nan")), "rule.value: expected a string, number or boolean, got number"),
    (attribute("in", "pro"), "rule.value: expected an array, got string"),
    (attribute("notIn", ["a", {}]), "rule.value[1]: expected a string, number or boolean, got object"),
    (attribute("contains", {}), "rule.value: expected a string, number or boolean, got object"),
    (attribute("gt", "many"), "rule.value: expected a number, got string 'many'"),
    (attribute("lte", True), "rule.value: expected a number, got boolean"),
    (attribute("between", 5), "rule.value: expected [low, high], got number"),
    (attribute("between", [1, 2, 3]), "rule.value: expected [low, high], got 3 items"),
    (attribute("between", [1, "x"]), "rule.value[1]: expected a number, got string 'x'"),
    (attribute("between", [3, 1]), "rule.value: low 3 is greater than high 1"),
    (attribute("before", "2026-13-01"),
     "rule.value: invalid date '2026-13-01' (expected ISO-8601 like '2026-11-26T10:00:00Z' or unix seconds)"),
    (attribute("after", "1700000000"),
     "rule.value: invalid date '1700000000' (expected ISO-8601 like '2026-11-26T10:00:00Z' or unix seconds)"),
    (attribute("after", []),
     "rule.value: invalid date array (expected ISO-8601 like '2026-11-26T10:00:00Z' or unix seconds)"),
    (attribute("withinLastDays", "7"), "rule.value: expected a number of days, got string"),
    (attribute("notWithinLastDays", -1), "rule.value: expected a number of days >= 0, got -1"),
    (attribute("versionGte", "1.0"),
     "rule.op: unknown operator 'versionGte' (expected one of: " + ", ".join(ATTRIBUTE_OPS) + ")"),
    ({"event": ""}, "rule.event: expected a non-empty string, got an empty string"),
    ({"event": "X", "count": 2}, "rule.count: expected an object, got number"),
    ({"event": "X", "count": {}}, "rule.count: expected at least one of: eq, gt, gte, lt, lte"),
    ({"event": "X", "count": {"gte": 1, "atLeast": 2}},
     "rule.count.atLeast: unknown comparison 'atLeast' (expected one of: eq, gt, gte, lt, lte)"),
    ({"event": "X", "count": {"gte": "2"}}, "rule.count.gte: expected a number, got string"),
    ({"event": "X", "value": {"gte": None}}, "rule.value.gte: expected a number, got null"),
    ({"event": "X", "lastWithinDays": "7"}, "rule.lastWithinDays: expected a number of days, got string"),
    ({"event": "X", "since": 7},
     "rule.since: unknown key 'since' (expected one of: event, count, value, firstWithinDays, lastWithinDays, "
     "lastNotWithinDays)"),
    ({"state": "S", "value": {"gte": 1}},
     "rule.value: unknown key 'value' (expected one of: state, count, firstWithinDays, lastWithinDays, "
     "lastNotWithinDays)"),
    ({"device": "colour", "op": "exists"}, "rule.device: unknown device field 'colour' (expected one of: "
                                           + ", ".join((*profiles.DEVICE_FIELDS, "pushToken")) + ")"),
    ({"device": ["appVersion"], "op": "exists"}, "rule.device: expected a device field name, got array"),
    ({"device": "systemName", "op": "versionLt", "value": "1"},
     "rule.op: unknown operator 'versionLt' (expected one of: " + ", ".join(ATTRIBUTE_OPS) + ")"),
    ({"device": "appVersion", "op": "versionGte", "value": "two"},
     "rule.value: expected a dotted version like '2.10.0', got 'two'"),
    ({"device": "appVersion", "op": "versionGte", "value": 2},
     "rule.value: expected a dotted version like '2.10.0', got 2"),
    ({"device": "pushToken", "op": "equals", "value": "x"},
     "rule.op: unknown operator 'equals' (expected one of: exists, notExists)"),
    ({"location": "planet", "op": "exists"},
     "rule.location: unknown location field 'planet' (expected one of: country, region, city, locale, timezone)"),
    ({"user": "old"}, "rule.user: unknown user kind 'old' (expected one of: new, returning)"),
    ({"user": "new"}, "rule.withinDays: missing (a new user is one created within this many days)"),
    ({"user": "returning", "withinDays": 3}, "rule.withinDays: not allowed with user 'returning'"),
    ({"user": "new", "withinDays": None}, "rule.withinDays: expected a number of days, got null"),
    ({"sessions": 3}, "rule.sessions: expected an object, got number"),
    ({"timeSpentInApp": {"over": 3}},
     "rule.timeSpentInApp.over: unknown comparison 'over' (expected one of: eq, gt, gte, lt, lte)"),
    ({"lastActiveWithinDays": True}, "rule.lastActiveWithinDays: expected a number of days, got boolean"),
])
def test_invalid_rule_is_refused_naming_the_path_of_the_problem(rule: object, message: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rule(rule)
    assert str(caught.value) == message


def test_rule_error_is_a_value_error_with_path_and_message() -> None:
    with pytest.raises(ValueError, match=r"^rule\.any\[0\]\.op: unknown operator") as caught:
        parse_rule({"any": [attribute("is", 1)]})
    assert isinstance(caught.value, RuleError)
    assert caught.value.path == "rule.any[0].op"
    assert caught.value.message.startswith("unknown operator 'is'")


def test_first_problem_in_document_order_is_reported() -> None:
    with pytest.raises(RuleError, match=r"^rule\.all\[0\]\.value: "):
        parse_rule({"all": [attribute("gt", "x"), attribute("nope", 1)]})


def nested_nots(levels: int) -> dict[str, Any]:
    rule: dict[str, Any] = attribute("exists")
    for _ in range(levels - 1):
        rule = {"not": rule}
    return rule


def test_nesting_up_to_the_limit_parses_and_one_more_level_is_refused() -> None:
    assert matches(nested_nots(MAX_DEPTH), user(attributes={"a": 1})) is (MAX_DEPTH % 2 == 1)
    with pytest.raises(RuleError) as caught:
        parse_rule(nested_nots(MAX_DEPTH + 1))
    assert str(caught.value) == "rule" + ".not" * MAX_DEPTH + f": nesting deeper than {MAX_DEPTH} levels"


def test_rules_up_to_the_node_limit_parse_and_one_more_is_refused() -> None:
    assert matches({"any": [attribute("exists")] * (MAX_NODES - 1)}, user()) is False
    with pytest.raises(RuleError) as caught:
        parse_rule({"any": [attribute("exists")] * MAX_NODES})
    assert str(caught.value) == f"rule.any[{MAX_NODES - 1}]: more than {MAX_NODES} rules"


def test_error_path_can_be_rooted_elsewhere() -> None:
    with pytest.raises(RuleError, match=r"^audience\.rule\.op: "):
        parse_rule({"attribute": "a"}, path="audience.rule")


# -- rules as values


def test_evaluation_leaves_the_profile_untouched() -> None:
    profile = user(
        attributes={"a": ["x"], "when": "2026-01-01"},
        events={"Purchase": EventStats(count=1, value=5.0, first_time=NOW - DAY, last_time=NOW - DAY)},
        devices=devices({"appVersion": "2.0"}), location={"country": "GB"},
    )
    before = profiles.encode(profile)
    rule = parse_rule({"all": [
        attribute("contains", "x"), {"attribute": "when", "op": "before", "value": "2027-01-01"},
        {"attribute": "missing", "op": "notIn", "value": [1]},
        {"event": "Purchase", "value": {"gte": 1}}, {"not": {"event": "Never"}}, {"state": "Never", "count": {"eq": 0}},
        {"device": "appVersion", "op": "versionGte", "value": "1.9"}, {"device": "pushToken", "op": "notExists"},
        {"location": "country", "op": "equals", "value": "gb"}, {"location": "city", "op": "notExists"},
    ]})
    assert rule.matches(profile, NOW) is True
    assert profiles.encode(profile) == before


def test_rule_to_json_gives_back_the_rule_as_given_as_a_fresh_copy() -> None:
    source = {"any": [{"event": "Purchase", "count": {"gte": 2}}, attribute("in", ["pro", "team"])]}
    rule = parse_rule(source)
    echoed = rule_to_json(rule)
    assert echoed == source
    echoed["any"].clear()
    source["any"].clear()
    assert len(rule_to_json(rule)["any"]) == 2


def test_rules_are_immutable_and_equal_when_their_json_is() -> None:
    rule = parse_rule(attribute("equals", "pro"))
    assert rule == parse_rule(attribute("equals", "pro"))
    assert rule != parse_rule(attribute("equals", "free"))
    assert hash(rule) == hash(parse_rule(attribute("equals", "pro")))
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule._json = "{}"  # type: ignore[misc]


def test_a_rule_names_the_events_and_states_whose_counters_it_reads() -> None:
    rule = parse_rule({"any": [
        {"event": "Purchase", "count": {"gte": 2}},
        {"not": {"all": [{"state": "Checkout"}, {"event": "Level up", "lastWithinDays": 7}]}},
        {"attribute": "plan", "op": "equals", "value": "pro"},
    ]})
    assert (rule.events, rule.states) == ({"Purchase", "Level up"}, {"Checkout"})
    plain = parse_rule({"attribute": "plan", "op": "equals", "value": "pro"})
    assert (plain.events, plain.states) == (frozenset(), frozenset())


def test_parse_audience_keeps_name_rule_and_source() -> None:
    source = {"user": "new", "withinDays": 7}
    audience = parse_audience("New users", source, audience_id=4)
    source["withinDays"] = 1
    assert (audience.id, audience.name, audience.source) == (4, "New users", {"user": "new", "withinDays": 7})
    assert audience.rule == parse_rule({"user": "new", "withinDays": 7})
    assert audience.matches(user(created=NOW - 3 * DAY), NOW) is True
    assert parse_audience("x" * 139, ALWAYS).id is None


@pytest.mark.parametrize(("name", "message"), [
    ("", "name: must not be empty"),
    ("   ", "name: must not be empty"),
    ("x" * 140, "name: longer than 139 characters"),
    (None, "name: expected a string, got null"),
])
def test_audience_name_must_be_1_to_139_characters(name: object, message: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_audience(name, ALWAYS)
    assert str(caught.value) == message


def test_audience_with_a_bad_rule_is_refused_at_the_rule() -> None:
    with pytest.raises(RuleError, match=r"^rule\.not: expected an object, got null$"):
        parse_audience("Churned", {"not": None})
