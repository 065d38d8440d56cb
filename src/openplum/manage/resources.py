"""The management routes: apps and keys, variables, audiences, A/B tests, the audit log.

Every change runs in one store transaction with its audit entry, then refreshes this process's content
snapshot at once (other processes follow within a second, see ``workers.content``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from openplum import __version__
from openplum.errors import ApiError
from openplum.manage import models
from openplum.manage.registry import Call, Registry
from openplum.services import ab_tests, apps, audience_registry, content
from openplum.services.experiments import AbTest
from openplum.store.base import AppRecord, AudienceRow, Tx

T = TypeVar("T")
routes = Registry()


async def _change(call: Call, app_id: str, fn: Callable[[Tx], T]) -> T:
    """Run ``fn`` on an existing app in the write transaction; then refresh the app's content snapshot."""

    def work(tx: Tx) -> tuple[T, int]:
        if tx.get_app(app_id) is None:
            raise ApiError(f"No app with id {app_id!r}", status=404)
        return fn(tx), tx.content_version(app_id)

    result: T
    result, version = await call.services.store.write(work)
    call.services.runtime.content.invalidate(app_id, version)
    return result


async def _read(call: Call, app_id: str, fn: Callable[[Tx], T]) -> T:
    def work(tx: Tx) -> T:
        if tx.get_app(app_id) is None:
            raise ApiError(f"No app with id {app_id!r}", status=404)
        return fn(tx)

    result: T = await call.services.store.read(work)
    return result


def _app(record: AppRecord) -> models.App:
    keys = apps.keys_of(record)
    return models.App(record.app_id, record.name, record.created, models.Keys(
        keys[apps.KeyClass.PRODUCTION], keys[apps.KeyClass.DEVELOPMENT], keys[apps.KeyClass.DATA_EXPORT],
        keys[apps.KeyClass.CONTENT_READ_ONLY],
    ))


# -- apps and keys ---------------------------------------------------------------------------------------
@routes.add("GET", "/apps", "List apps with their keys", "apps", response=models.AppList)
async def list_apps(call: Call) -> models.AppList:
    records: list[AppRecord] = await call.services.store.read(lambda tx: tx.list_apps())
    return models.AppList([_app(r) for r in records])


@routes.add("POST", "/apps", "Create an app", "apps", body=models.NewApp, response=models.App, status=201)
async def create_app(call: Call) -> models.App:
    body: models.NewApp = call.body
    wanted = {cls: (body.keys or {}).get(cls.value) for cls in apps.KeyClass}
    unknown = set(body.keys or {}) - {c.value for c in apps.KeyClass}
    if unknown:
        raise ApiError(f"keys: unknown key class(es) {sorted(unknown)}")
    try:
        record = apps.new_app(body.name, call.now, body.appId, wanted)
    except apps.InvalidAppInput as exc:
        raise ApiError(str(exc)) from None

    def create(tx: Tx) -> AppRecord:
        try:
            created = apps.create_app(tx, record)
        except apps.AppExists as exc:
            raise ApiError(str(exc), status=409) from None
        tx.audit(record.app_id, call.now, call.actor, "app.create", record.app_id, None)
        return created

    return _app(await call.services.store.write(create))


@routes.add("GET", "/apps/{appId}", "Read an app and its keys", "apps", response=models.App)
async def get_app(call: Call) -> models.App:
    app_id = call.path["appId"]
    record = await _read(call, app_id, lambda tx: tx.get_app(app_id))
    assert record is not None  # _read answered 404 otherwise
    return _app(record)


@routes.add("POST", "/apps/{appId}/keys/{keyClass}/rotate", "Replace one of the app's keys", "apps",
            response=models.App)
async def rotate_key(call: Call) -> models.App:
    app_id, name = call.path["appId"], call.path["keyClass"]
    try:
        key_class = apps.KeyClass(name)
    except ValueError:
        raise ApiError(f"keyClass: expected one of {[c.value for c in apps.KeyClass]}", status=404) from None
    record = await _change(call, app_id, lambda tx: apps.rotate_key(tx, app_id, key_class, call.now, call.actor))
    call.services.directory.forget(app_id)
    return _app(record)


# -- variables -------------------------------------------------------------------------------------------
@routes.add("GET", "/apps/{appId}/variables", "List variables: code defaults and team values", "variables",
            response=models.VariableList)
async def list_variables(call: Call) -> models.VariableList:
    app_id = call.path["appId"]
    rows = await _read(call, app_id, lambda tx: tx.list_variables(app_id))
    decode = msgspec.json.decode
    return models.VariableList([
        models.Variable(r.name, r.kind, decode(r.default) if r.default is not None else None,
                        decode(r.value) if r.value is not None else None, r.value is not None)
        for r in rows
    ])


@routes.add("PUT", "/apps/{appId}/variables/{name:path}/value", "Set the team's value (overrides the code default)",
            "variables", body=models.VariableValue, response=models.Ok)
async def set_variable(call: Call) -> models.Ok:
    app_id, name = call.path["appId"], call.path["name"]
    if call.body.value is None:
        raise ApiError("value: must not be null (DELETE the value to return to the code default)")
    await _change(call, app_id, lambda tx: content.set_team_value(tx, app_id, name, call.body.value, call.now,
                                                                   call.actor))
    return models.Ok()


@routes.add("DELETE", "/apps/{appId}/variables/{name:path}/value", "Return a variable to its code default",
            "variables", response=models.Ok)
async def reset_variable(call: Call) -> models.Ok:
    app_id, name = call.path["appId"], call.path["name"]
    await _change(call, app_id, lambda tx: content.set_team_value(tx, app_id, name, None, call.now, call.actor))
    return models.Ok()


# -- audiences -------------------------------------------------------------------------------------------
def _audience(row: AudienceRow, rule: Any = None) -> models.Audience:
    return models.Audience(row.audience_id, row.name, rule if rule is not None else msgspec.json.decode(row.rule),
                           row.created, row.updated)


LAST_ID = 2**63 - 1
"""The largest id the store holds (a signed 64-bit integer); SQLite refuses a larger one outright."""


def path_id(call: Call, name: str) -> int:
    """The integer id in path parameter ``name``; one that cannot be an id names nothing (404)."""
    try:
        value = int(call.path[name])
    except ValueError:
        raise ApiError(f"{name}: expected an integer id", status=404) from None
    if not -LAST_ID - 1 <= value <= LAST_ID:
        raise ApiError(f"{name}: no such id (ids are 64-bit integers)", status=404)
    return value


@routes.add("GET", "/apps/{appId}/audiences", "List audiences", "audiences", response=models.AudienceList)
async def list_audiences(call: Call) -> models.AudienceList:
    app_id = call.path["appId"]
    found = await _read(call, app_id, lambda tx: audience_registry.list_audiences(tx, app_id))
    return models.AudienceList([_audience(row, rule) for row, rule in found])


@routes.add("POST", "/apps/{appId}/audiences", "Create an audience", "audiences", body=models.AudienceInput,
            response=models.Audience, status=201)
async def create_audience(call: Call) -> models.Audience:
    app_id, body = call.path["appId"], call.body
    row = await _change(call, app_id, lambda tx: audience_registry.create(tx, app_id, body.name, body.rule,
                                                                          call.now, call.actor))
    return _audience(row)


@routes.add("GET", "/apps/{appId}/audiences/{audienceId}", "Read an audience", "audiences",
            response=models.Audience)
async def get_audience(call: Call) -> models.Audience:
    app_id, audience_id = call.path["appId"], path_id(call, "audienceId")
    row, rule = await _read(call, app_id, lambda tx: audience_registry.get(tx, app_id, audience_id))
    return _audience(row, rule)


@routes.add("PUT", "/apps/{appId}/audiences/{audienceId}", "Replace an audience", "audiences",
            body=models.AudienceInput, response=models.Audience)
async def replace_audience(call: Call) -> models.Audience:
    app_id, audience_id, body = call.path["appId"], path_id(call, "audienceId"), call.body
    row = await _change(call, app_id, lambda tx: audience_registry.replace(
        tx, app_id, audience_id, body.name, body.rule, call.now, call.actor))
    return _audience(row)


@routes.add("DELETE", "/apps/{appId}/audiences/{audienceId}", "Delete an audience", "audiences",
            response=models.Ok)
async def delete_audience(call: Call) -> models.Ok:
    app_id, audience_id = call.path["appId"], path_id(call, "audienceId")
    await _change(call, app_id, lambda tx: audience_registry.delete(tx, app_id, audience_id, call.now, call.actor))
    return models.Ok()


# -- A/B tests -------------------------------------------------------------------------------------------
def _fields(body: msgspec.Struct) -> dict[str, Any]:
    raw = msgspec.to_builtins(body)
    renames = {"audienceId": "audience_id", "goalEvents": "goal_events"}
    out = {renames.get(k, k): v for k, v in raw.items() if v is not None or k == "audienceId"}
    if "variants" in out:
        out["variants"] = [{k: v for k, v in variant.items() if v is not None} for variant in out["variants"]]
    return out


@routes.add("GET", "/apps/{appId}/ab-tests", "List A/B tests", "abTests", response=models.AbTestList)
async def list_tests(call: Call) -> models.AbTestList:
    app_id = call.path["appId"]
    return models.AbTestList(await _read(call, app_id, lambda tx: ab_tests.list_tests(tx, app_id)))


@routes.add("POST", "/apps/{appId}/ab-tests", "Create a draft A/B test", "abTests", body=models.AbTestInput,
            response=AbTest, status=201)
async def create_test(call: Call) -> AbTest:
    app_id, fields = call.path["appId"], _fields(call.body)
    return await _change(call, app_id, lambda tx: ab_tests.create(tx, app_id, fields, call.now, call.actor))


@routes.add("GET", "/apps/{appId}/ab-tests/{testId}", "Read an A/B test", "abTests", response=AbTest)
async def get_test(call: Call) -> AbTest:
    app_id, test_id = call.path["appId"], path_id(call, "testId")
    return await _read(call, app_id, lambda tx: ab_tests.get(tx, app_id, test_id))


@routes.add("PATCH", "/apps/{appId}/ab-tests/{testId}", "Change an A/B test", "abTests", body=models.AbTestPatch,
            response=AbTest)
async def update_test(call: Call) -> AbTest:
    app_id, test_id = call.path["appId"], path_id(call, "testId")
    fields = _fields(call.body)  # unsent fields are UNSET and absent; a null audienceId is kept
    return await _change(call, app_id, lambda tx: ab_tests.update(tx, app_id, test_id, fields, call.now,
                                                                  call.actor))


@routes.add("POST", "/apps/{appId}/ab-tests/{testId}/start", "Start a draft A/B test", "abTests", response=AbTest)
async def start_test(call: Call) -> AbTest:
    app_id, test_id = call.path["appId"], path_id(call, "testId")
    return await _change(call, app_id, lambda tx: ab_tests.start(tx, app_id, test_id, call.now, call.actor))


@routes.add("POST", "/apps/{appId}/ab-tests/{testId}/finish", "Finish a running A/B test", "abTests",
            body=models.FinishInput, response=AbTest)
async def finish_test(call: Call) -> AbTest:
    app_id, test_id = call.path["appId"], path_id(call, "testId")
    chosen = call.body.chosenVariantId
    return await _change(call, app_id, lambda tx: ab_tests.finish(tx, app_id, test_id, chosen, call.now,
                                                                  call.actor))


@routes.add("DELETE", "/apps/{appId}/ab-tests/{testId}", "Delete an A/B test", "abTests", response=models.Ok)
async def delete_test(call: Call) -> models.Ok:
    app_id, test_id = call.path["appId"], path_id(call, "testId")
    await _change(call, app_id, lambda tx: ab_tests.delete(tx, app_id, test_id, call.now, call.actor))
    return models.Ok()


@routes.add("PUT", "/apps/{appId}/ab-tests/{testId}/forced-variants/{deviceId}",
            "Force a test device into a variant (null: back to normal assignment)", "abTests",
            body=models.ForcedVariant, response=models.Ok)
async def force_variant(call: Call) -> models.Ok:
    app_id, test_id, device_id = call.path["appId"], path_id(call, "testId"), call.path["deviceId"]
    variant_id = call.body.variantId
    await _change(call, app_id, lambda tx: ab_tests.force_variant(tx, app_id, test_id, device_id, variant_id,
                                                                  call.now, call.actor))
    return models.Ok()


# -- audit log -------------------------------------------------------------------------------------------
def _page(rows: list[Any]) -> models.AuditPage:
    entries = [models.AuditEntry(r.seq, r.app_id, r.at, r.actor, r.action, r.target,
                                 msgspec.json.decode(r.details) if r.details else None) for r in rows]
    return models.AuditPage(entries, entries[-1].seq if entries else 0)


def paging(call: Call) -> tuple[int, int]:
    """A listing's ``after`` cursor, held within the store's ids (it reaches SQL), and its ``limit``, 1 to 1,000."""
    try:
        after = min(max(int(call.query.get("after", "0")), 0), LAST_ID)
        limit = min(max(int(call.query.get("limit", "100")), 1), 1000)
    except ValueError:
        raise ApiError("after and limit must be integers") from None
    return after, limit


@routes.add("GET", "/audit", "Every change, oldest first", "audit", response=models.AuditPage,
            query=(("after", int), ("limit", int)))
async def audit_log(call: Call) -> models.AuditPage:
    after, limit = paging(call)
    return _page(await call.services.store.read(lambda tx: tx.audit_log(None, after, limit)))


@routes.add("GET", "/apps/{appId}/audit", "An app's changes, oldest first", "audit", response=models.AuditPage,
            query=(("after", int), ("limit", int)))
async def app_audit_log(call: Call) -> models.AuditPage:
    app_id = call.path["appId"]
    after, limit = paging(call)
    return _page(await _read(call, app_id, lambda tx: tx.audit_log(app_id, after, limit)))


@routes.add("GET", "/openapi.json", "This API's OpenAPI document", "meta", public=True)
async def openapi_document(call: Call) -> Any:
    from openplum.manage.registry import openapi

    return openapi(routes, "/manage/v1", __version__)
