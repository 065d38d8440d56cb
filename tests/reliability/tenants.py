"""Apps full of data, every action callable with any key, and a fingerprint of everything an app owns.

``seed`` fills an app with one of each thing an app can hold: a user with a session, attributes and an event,
a variable with a team value, an audience, a running A/B test, a postback, an uploaded file, a finished export job
and a finished CSV import job. Every value it stores contains ``<tag>-secret`` and no request to another app
carries that text, so finding it in another app's answer is a leak, whatever the answer's shape.

``call`` sends any action of the table as a client would (``uploadFile`` as multipart with a file, ``multi`` as a
CSV import job, the rest as JSON), aimed at one app's identifiers (``params_for``). ``fingerprint`` reads every
row of every table that has an ``app_id`` column, and the app's stored files, so a test can prove that nothing
an app owns changed.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from openplum.services.apps import KeyClass
from tests.admin import Admin, define, set_value, start_test, variant, variant_ids
from tests.conftest import ApiClient, AppUnderTest, Server
from tests.uploads import uploaded

P, D, X, C = KeyClass.PRODUCTION, KeyClass.DEVELOPMENT, KeyClass.DATA_EXPORT, KeyClass.CONTENT_READ_ONLY
PUBLIC_IP = "93.184.216.34"  # a public address literal: postback URLs pass the outbound check without DNS


def key_of(app: AppUnderTest, key_class: KeyClass) -> str:
    return {P: app.production, D: app.development, X: app.data_export, C: app.content_read_only}[key_class]


def may_call(given: KeyClass, required: KeyClass) -> bool:
    """API.md §2.3: each class calls its own actions; the development key may also call production ones."""
    return given is required or (required is P and given is D)


@dataclass
class Tenant:
    """An app and the identifiers of what ``seed`` stored in it."""

    app: AppUnderTest
    tag: str
    user: str
    device: str
    variable: str
    audience_id: int
    test_id: int
    variant_ids: list[int]
    postback_id: int
    filename: str
    export_job: str
    import_job: str

    @property
    def audience(self) -> str:
        return f"{self.tag}-audience"

    @property
    def secret(self) -> str:
        return f"{self.tag}-secret"


def _pacific_day(offset: int) -> str:
    now = dt.datetime.now(ZoneInfo("America/Los_Angeles")) + dt.timedelta(days=offset)
    return now.strftime("%Y%m%d")


def seed(api: ApiClient, admin: Admin, tag: str) -> Tenant:
    secret = f"{tag}-secret"
    app_id = api.app.app_id
    user, device, variable, filename = f"{tag}-user", f"{tag}-device", f"{tag}Var", f"{tag}/logo.png"

    define(api, {variable: "plain"})
    set_value(admin, api, variable, f"{secret}-team-value")
    rule = {"attribute": "plan", "op": "notEquals", "value": f"{secret}-rule"}
    audience = admin.ok("POST", f"/apps/{app_id}/audiences", {"name": f"{tag}-audience", "rule": rule}, 201)
    test = start_test(admin, api, [variant("control", 50), variant("treatment", 50, **{variable: f"{secret}-v"})],
                      name=f"{secret}-test")
    api.ok("start", userId=user, deviceId=device, userAttributes={"plan": f"{secret}-plan"})
    api.ok("track", userId=user, deviceId=device, event=f"{secret}-event", params={"where": f"{secret}-param"})
    postback = api.ok("addPostback", api.app.data_export, type="messageEvents",
                      postbackUrl=f"https://{PUBLIC_IP}/{secret}-hook")
    uploaded(api, {filename: f"{secret} file bytes".encode()})
    export_job = _job(api.call("exportData", api.app.data_export, startDate=_pacific_day(-1),
                               endDate=_pacific_day(1)))
    import_job = _job(_csv_import(api.http, app_id, api.app.development, f"userId,event\n{user},{secret}-import\n"))
    tenant = Tenant(api.app, tag, user, device, variable, audience["id"], test["id"],
                    list(variant_ids(test).values()), postback["postbackId"], filename, export_job, import_job)
    wait_for_jobs(api, tenant)
    held = fingerprint(api.server, app_id)
    empty = [t for t in ("profiles", "events", "sessions", "variables", "audiences", "ab_tests", "postbacks", "files",
                         "jobs", "files on disk") if not held.get(t)]
    assert not empty, f"the fingerprint misses what was just stored in {empty}: it would prove nothing"
    return tenant


def _job(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    item = response.json()["response"][0]
    assert item["success"] is True, item
    job_id: str = item["jobId"]
    return job_id


def _csv_import(http: httpx.Client, app_id: str, key: str, csv: str, **extra: str) -> httpx.Response:
    query = {"appId": app_id, "clientKey": key, "action": "multi", "createJob": "true", "defaultAction": "track",
             **extra}
    return http.post("/api", params=query, content=csv.encode(), headers={"Content-Type": "text/csv"})


def wait_for_jobs(api: ApiClient, tenant: Tenant, timeout: float = 30.0) -> None:
    """Until the tenant's jobs have ended (the server's job worker runs them), so its rows stop changing."""
    polls = [("getExportResults", api.app.data_export, tenant.export_job),
             ("getMultiResults", api.app.development, tenant.import_job)]
    deadline = time.monotonic() + timeout
    for action, key, job_id in polls:
        while True:
            item = api.call(action, key, method="GET", jobId=job_id).json()["response"][0]
            state = item["state"]["value"] if isinstance(item.get("state"), dict) else item.get("state")
            if state in ("FINISHED", "FAILED"):
                break
            assert time.monotonic() < deadline, f"{action} {job_id} still {state} after {timeout} s"
            time.sleep(0.1)


# -- any action, aimed at one app's identifiers ----------------------------------------------------------


def params_for(action: str, target: Tenant) -> dict[str, Any]:
    """Parameters that make ``action`` act on ``target``'s own things (its user, postback, jobs, file...)."""
    user = {"userId": target.user, "deviceId": target.device}
    by_action: dict[str, dict[str, Any]] = {
        "start": {**user, "userAttributes": {"plan": "changed"}},
        "restart": {**user, "userAttributes": {"plan": "changed"}},
        "track": {**user, "event": "Changed"},
        "trackGeofence": {**user, "event": "Changed"},
        "advance": {**user, "state": "Changed"},
        "setUserAttributes": {**user, "userAttributes": {"plan": "changed"}},
        "setDeviceAttributes": {**user, "deviceModel": "Changed"},
        "setTrafficSourceInfo": {**user, "trafficSource": {"publisherName": "changed"}},
        "registerDevice": {**user, "email": "changed@example.com"},
        "deleteUser": {**user, "fullErasure": True},
        "getAbTest": {"id": target.test_id, "includeDrafts": True},
        "getAbTests": {"includeDrafts": True, "recent": False},
        "getVariant": {"id": target.variant_ids[-1], "includeDrafts": True},
        "getVars": {**user, "includeDefaults": True},
        "setVars": {"vars": {target.variable: "changed", "changedVar": 1}},
        "deleteVars": {"vars": [target.variable]},
        "downloadFile": {"filename": target.filename},
        "uploadFile": {"filename": target.filename},
        "addPostback": {"type": "messageEvents", "postbackUrl": f"https://{PUBLIC_IP}/changed"},
        "deletePostback": {"postbackId": target.postback_id},
        "exportData": {"startDate": _pacific_day(-1), "endDate": _pacific_day(1)},
        "exportReport": {"startDate": _pacific_day(-1), "dataType": "UserActivity"},
        "exportUsers": {"abTestId": str(target.test_id)},
        "getExportResults": {"jobId": target.export_job},
        "getMultiResults": {"jobId": target.import_job},
        "log": {"type": "info", "message": "changed"},
    }
    return by_action.get(action, user)


def call(http: httpx.Client, app_id: str, key: str, action: str, params: dict[str, Any]) -> httpx.Response:
    """``action`` on ``app_id`` with ``key``, sent the way clients send it."""
    query = {"appId": app_id, "clientKey": key, "action": action}
    if action == "uploadFile":
        data = b"changed bytes"
        form = {**query, **params, "size": str(len(data))}
        return http.post("/api", data=form, files={"file": ("logo.png", data, "application/octet-stream")})
    if action == "multi":
        return _csv_import(http, app_id, key, "userId,event\nchanged-user,Changed\n")
    return http.post("/api", params=query, json=params or None)


def items(response: httpx.Response) -> list[dict[str, Any]]:
    """The answer items of a JSON answer; a redirect (``downloadFile``) as one successful item."""
    if response.status_code == 302:
        return [{"success": True, "location": response.headers["location"]}]
    answers: list[dict[str, Any]] = response.json()["response"]
    return answers


def error_of(item: dict[str, Any]) -> str:
    return str(item.get("error", {}).get("message", ""))


# -- everything an app owns ------------------------------------------------------------------------------


def _tables_with_app_id(server: Server) -> list[str]:
    def find(tx: Any) -> list[str]:
        if server.backend == "postgres":
            rows = tx._exec("SELECT table_name FROM information_schema.columns WHERE column_name = 'app_id' "
                            "AND table_schema = current_schema()", ()).fetchall()
            return sorted(str(r[0]) for r in rows)
        tables = [str(r[0]) for r in tx._exec("SELECT name FROM sqlite_master WHERE type = 'table'", ()).fetchall()]
        return sorted(t for t in tables
                      if any(c[1] == "app_id" for c in tx._exec(f"PRAGMA table_info({t})", ()).fetchall()))

    return server.app.store.run(find)


def _plain(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview | bytearray) else value


def fingerprint(server: Server, app_id: str) -> dict[str, Any]:
    """Every row of every table with an ``app_id`` column for the app, and its stored files' names and bytes."""
    tables = _tables_with_app_id(server)

    def read(tx: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for table in tables:
            rows = tx._exec(f"SELECT * FROM {table} WHERE app_id = ?", (app_id,)).fetchall()
            out[table] = sorted((tuple(_plain(v) for v in row) for row in rows), key=repr)
        return out

    found = server.app.store.run(read)
    folder = Path(server.settings.data_dir) / "files" / app_id
    found["files on disk"] = sorted((str(p.relative_to(folder)), p.read_bytes())
                                    for p in folder.rglob("*") if p.is_file()) if folder.exists() else []
    return found


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The tables (and files) whose content differs, with what was added and removed."""
    out = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name, []), after.get(name, [])
        if old != new:
            out[name] = {"added": [r for r in new if r not in old][:5], "removed": [r for r in old if r not in new][:5]}
    return out


def as_json(value: Any) -> str:
    return json.dumps(value, default=repr)
