"""Export actions (Data Export key): ``exportData``, ``exportUsers``, ``exportReport`` start durable jobs;
``getExportResults`` reports on them (API.md §1.8, §6.7; EXPORT-FORMAT.md §5).

A job id is answered for every valid request, even when nothing matches (consumers read ``jobId``
unconditionally); such a job finishes with ``files: []``. Report jobs answer ``state`` as
``{"value": ...}`` and never PENDING, as Leanplum's own report sample expects; the others answer a string.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import msgspec

from openplum.actions.context import ActionContext, Reply
from openplum.actions.params import Common
from openplum.errors import ApiError
from openplum.services import export_requests, jobs


class ExportDataParams(Common):
    start_date: str | None = None
    end_date: str | None = None
    start_time: float | None = None
    end_time: float | None = None
    export_format: Literal["json", "csv"] = "json"
    callback_url: str | None = None
    s3_bucket_name: str | None = None
    s3_access_id: str | None = None
    s3_access_key: str | None = None
    s3_object_prefix: str | None = None
    compress_data: bool = False


class ExportUsersParams(Common):
    audience_name: str | None = None
    segment: str | None = None
    ab_test_id: str | None = None
    old_ab_test_id: str | None = msgspec.field(default=None, name="ab_test_id")
    """The Ruby client's spellings, sent empty (``&segment&ab_test_id``) when unused."""
    user_attribute: str | None = None


class ExportReportParams(Common):
    start_date: str
    data_type: Literal["UserActivity", "AbTestResults", "MessageResults", "BookmarkedReport"]
    end_date: str | None = None
    ab_test_id: int | None = None
    message_id: str | None = None
    bookmark_name: str | None = None
    event_names: list[str] | None = None


class JobParams(Common):
    job_id: str


S = TypeVar("S", bound=msgspec.Struct)


def _as(p: Common, typ: type[S]) -> S:
    """The service's request from the action's parameters (the same fields, without the common ones)."""
    return typ(**{name: getattr(p, name) for name in typ.__struct_fields__})


def _start(ctx: ActionContext, kind: str, params: dict[str, Any]) -> Reply:
    job_id = export_requests.start(ctx.unit.tx, ctx.settings, ctx.app.app_id, kind, params, ctx.now)
    return Reply({"jobId": job_id})


def export_data(ctx: ActionContext, p: ExportDataParams) -> Reply:
    params = export_requests.data_params(ctx.settings, _as(p, export_requests.DataExport), ctx.base_url)
    return _start(ctx, jobs.EXPORT_DATA, params)


def export_users(ctx: ActionContext, p: ExportUsersParams) -> Reply:
    params = export_requests.users_params(ctx.unit.tx, ctx.app.app_id, _as(p, export_requests.UsersExport),
                                          ctx.base_url)
    return _start(ctx, jobs.EXPORT_USERS, params)


def export_report(ctx: ActionContext, p: ExportReportParams) -> Reply:
    return _start(ctx, jobs.EXPORT_REPORT, export_requests.report_params(_as(p, export_requests.ReportExport)))


def get_export_results(ctx: ActionContext, p: JobParams) -> Reply:
    job = jobs.get(ctx.unit.tx, ctx.app.app_id, p.job_id)
    if job is None or job.kind == jobs.IMPORT_CSV:
        raise ApiError(f"No export job with id {p.job_id!r}", status=404)
    fields: dict[str, Any] = {"jobId": job.job_id, "progress": round(job.progress, 4)}
    if job.kind == jobs.EXPORT_REPORT:
        fields["state"] = {"value": "RUNNING" if job.state == "PENDING" else job.state}
    else:
        fields["state"] = job.state
    if job.state == "FINISHED" and job.result is not None:
        fields.update(job.result)
    if job.state == "FAILED":
        fields["error"] = {"message": job.error or "The job failed."}
    return Reply(fields)
