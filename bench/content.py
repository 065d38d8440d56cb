"""The content the getVars scenario reads: 1,000 variables, team values, 10 audiences and 20 running A/B tests,
set up as a team would, through ``setVars`` (development key) and the management API (admin token)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from bench.client import Client

GROUPS, PER_GROUP = 20, 50
TEAM_VALUES = 50
TESTS = 20

AUDIENCES: list[tuple[str, Any]] = [
    ("Pro plan", {"attribute": "plan", "op": "equals", "value": "pro"}),
    ("Young adults", {"attribute": "age", "op": "between", "value": [18, 30]}),
    ("Buyers", {"event": "Purchase", "count": {"gte": 1}}),
    ("Returning", {"user": "returning"}),
    ("Chrome", {"device": "browserName", "op": "equals", "value": "Chrome"}),
    ("North America", {"location": "country", "op": "in", "value": ["US", "CA"]}),
    ("Active this week", {"lastActiveWithinDays": 7}),
    ("Web signups", {"all": [{"attribute": "signupSource", "op": "equals", "value": "web"},
                             {"sessions": {"gte": 1}}]}),
    ("Engaged", {"any": [{"event": "Level Complete", "count": {"gte": 3}}, {"timeSpentInApp": {"gte": 600}}]}),
    ("Not free", {"not": {"attribute": "plan", "op": "equals", "value": "free"}}),
]


def _value(group: int, index: int) -> Any:
    kind = (group * PER_GROUP + index) % 5
    return [index, index + 0.5, f"text {group}-{index}", bool(index % 2), [group, index]][kind]


def variable_names() -> list[str]:
    return [f"group{g:02d}.var{i:03d}" for g in range(GROUPS) for i in range(PER_GROUP)]


def define_variables(client: Client, app_id: str, dev_key: str) -> None:
    tree = {f"group{g:02d}": {f"var{i:03d}": _value(g, i) for i in range(PER_GROUP)} for g in range(GROUPS)}
    params = {"action": "setVars", "appId": app_id, "clientKey": dev_key, "devMode": "true"}
    client.api(params, {"vars": tree}, content_type="application/json")


def override(name: str) -> Any:
    """The value a team or a treatment gives variable ``name``: the same kind as its default, another value."""
    group, index = int(name[5:7]), int(name[11:14])
    return _value(group, index + 5)


def team_value_names(names: list[str]) -> list[str]:
    """The variables given a team value: every 20th."""
    return names[::len(names) // TEAM_VALUES][:TEAM_VALUES]


def treatment(test: int, names: list[str]) -> dict[str, Any]:
    """The 5 variables test ``test``'s treatment overrides, with their values."""
    return {n: override(n) for n in names[test * 7 + 3 : test * 7 + 8]}


def set_up(client: Client, app_id: str, dev_key: str, token: str) -> None:
    define_variables(client, app_id, dev_key)
    names = variable_names()
    for name in team_value_names(names):
        client.manage("PUT", f"/apps/{app_id}/variables/{quote(name)}/value", token, {"value": override(name)})
    audience_ids = [
        client.manage("POST", f"/apps/{app_id}/audiences", token, {"name": name, "rule": rule})["id"]
        for name, rule in AUDIENCES
    ]
    for t in range(TESTS):
        overrides = treatment(t, names)
        body: dict[str, Any] = {
            "name": f"Test {t}", "traffic": 100.0 if t % 4 else 50.0,
            "variants": [{"name": "control", "weight": 50, "control": True},
                         {"name": "treatment", "weight": 50, "overrides": overrides}],
        }
        if t < len(audience_ids):
            body["audienceId"] = audience_ids[t]
        test = client.manage("POST", f"/apps/{app_id}/ab-tests", token, body)
        client.manage("POST", f"/apps/{app_id}/ab-tests/{test['id']}/start", token)
