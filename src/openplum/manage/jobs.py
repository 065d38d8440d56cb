"""Management routes for jobs: list an app's jobs and their state, read one, start an export.

Registered on ``manage.resources.routes``; imported once by ``manage.app``. An export started here goes through
the checks and the daily limit the export actions apply (``services.export_requests``), its ``params`` decoded
with the API's own rules and names (``{"kind": "exportData", "params": {"startDate": "20240101"}}``); the server's
job worker runs it, and its files are served at URLs built from this request's host, as for the API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

import msgspec

from openplum.actions.decoding import decode
from openplum.errors import ApiError
from openplum.manage.registry import Call
from openplum.manage.resources import routes
from openplum.services import export_requests, jobs
from openplum.services.export_requests import DataExport
from openplum.services.job_views import JobInfo, info
from openplum.store.base import Tx

T = TypeVar("T")
TAG = "jobs"
KINDS = (jobs.EXPORT_DATA, jobs.EXPORT_USERS, jobs.EXPORT_REPORT, jobs.IMPORT_CSV)
STATES = ("PENDING", "RUNNING", "FINISHED", "FAILED")


class JobList(msgspec.Struct):
    jobs: list[JobInfo]


class NewJob(msgspec.Struct, forbid_unknown_fields=True):
    kind: Literal["exportData", "exportUsers", "exportReport"]
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    """The export action's parameters, named as on the wire (``startDate``, ``exportFormat``, ``audienceName``...)."""


async def _in_app(call: Call, fn: Callable[[Tx], T], *, write: bool) -> T:
    app_id = call.path["appId"]

    def work(tx: Tx) -> T:
        if tx.get_app(app_id) is None:
            raise ApiError(f"No app with id {app_id!r}", status=404)
        return fn(tx)

    store = call.services.store
    result: T = await (store.write(work) if write else store.read(work))
    return result


def _choice(call: Call, name: str, allowed: tuple[str, ...]) -> str | None:
    value = call.query.get(name) or None
    if value is not None and value not in allowed:
        raise ApiError(f"{name}: expected one of {', '.join(allowed)}, got {value!r}")
    return value


def _limit(call: Call) -> int:
    try:
        return min(max(int(call.query.get("limit", "100")), 1), 1000)
    except ValueError:
        raise ApiError("limit must be an integer") from None


@routes.add("GET", "/apps/{appId}/jobs", "List jobs (exports, imports), newest first", TAG, response=JobList,
            query=("kind", "state", "limit"))
async def list_jobs(call: Call) -> JobList:
    app_id = call.path["appId"]
    kind, state, limit = _choice(call, "kind", KINDS), _choice(call, "state", STATES), _limit(call)
    rows = await _in_app(call, lambda tx: tx.list_jobs(app_id, limit, kind=kind, state=state), write=False)
    return JobList([info(jobs.view(row)) for row in rows])


@routes.add("GET", "/apps/{appId}/jobs/{jobId}", "Read a job: state, progress, result summary, error", TAG,
            response=JobInfo)
async def get_job(call: Call) -> JobInfo:
    app_id, job_id = call.path["appId"], call.path["jobId"]
    job = await _in_app(call, lambda tx: jobs.get(tx, app_id, job_id), write=False)
    if job is None:
        raise ApiError(f"No job with id {job_id!r}", status=404)
    return info(job)


@routes.add("POST", "/apps/{appId}/jobs", "Start an export (exportData, exportUsers or exportReport)", TAG,
            body=NewJob, response=JobInfo, status=201)
async def start_job(call: Call) -> JobInfo:
    app_id, body = call.path["appId"], call.body
    settings = call.services.runtime.settings
    await _in_app(call, lambda tx: None, write=False)  # an unknown app is a 404 before the parameters are judged
    req = decode(body.params, export_requests.REQUEST_TYPES[body.kind])
    # exportData's checks resolve the callback's host: done here, never inside the write transaction.
    ready = export_requests.data_params(settings, req, call.base_url) if isinstance(req, DataExport) else None

    def work(tx: Tx) -> jobs.Job:
        kind, params = (jobs.EXPORT_DATA, ready) if ready is not None else export_requests.params_for(
            tx, settings, app_id, req, call.base_url)
        job_id = export_requests.start(tx, settings, app_id, kind, params, call.now)
        tx.audit(app_id, call.now, call.actor, "job.start", job_id, msgspec.json.encode({"kind": kind}))
        job = jobs.get(tx, app_id, job_id)
        assert job is not None
        return job

    return info(await _in_app(call, work, write=True))
