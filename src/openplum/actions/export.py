"""Export actions (Data Export key): ``exportData``, ``exportUsers``, ``exportReport`` start durable jobs;
``getExportResults`` reports on them (API.md §1.8, §6.7; EXPORT-FORMAT.md §5).

A job id is answered for every valid request, even when nothing matches (consumers read ``jobId``
unconditionally); such a job finishes with ``files: []``. Report jobs answer ``state`` as
``{"value": ...}`` and never PENDING, as Leanplum's own report sample expects; the others answer a string.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import msgspec

from openplum.actions.context import ActionContext, Reply
from openplum.actions.params import Common
from openplum.errors import ApiError
from openplum.services import export_users as export_users_service
from openplum.services import jobs
from openplum.services.export_sessions import ExportError, day_start


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


def _date(name: str, value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        dt.datetime.strptime(value, "%Y%m%d")  # noqa: DTZ007 - a calendar date, interpreted in Pacific time later
    except ValueError:
        raise ApiError(f"Invalid value for parameter '{name}': expected YYYYMMDD, got {value!r}") from None
    return value


def export_data(ctx: ActionContext, p: ExportDataParams) -> Reply:
    start, end = _date("startDate", p.start_date), _date("endDate", p.end_date)
    if start is None and p.start_time is None:
        raise ApiError("Missing required parameter: startDate")
    if p.s3_bucket_name and not (p.s3_access_id and p.s3_access_key):
        raise ApiError("s3AccessId and s3AccessKey are required with s3BucketName")
    if p.callback_url:
        from openplum.services.outbound import check_url

        check_url(p.callback_url, ctx.settings)
    if start and end and end < start:
        raise ApiError(f"endDate {end} is before startDate {start}")
    _within_daily_limit(ctx, jobs.EXPORT_DATA)
    params: dict[str, Any] = {
        "startDate": start, "endDate": end or start, "startTime": p.start_time, "endTime": p.end_time,
        "exportFormat": p.export_format, "callbackUrl": p.callback_url, "s3BucketName": p.s3_bucket_name,
        "s3AccessId": p.s3_access_id, "s3AccessKey": p.s3_access_key, "s3ObjectPrefix": p.s3_object_prefix,
        "compressData": p.compress_data, "baseUrl": ctx.base_url,
    }
    return Reply({"jobId": jobs.start(ctx.unit.tx, ctx.app.app_id, jobs.EXPORT_DATA, params, ctx.now)})


def export_users(ctx: ActionContext, p: ExportUsersParams) -> Reply:
    test_id = (p.ab_test_id or p.old_ab_test_id or "").strip()
    if test_id and not test_id.lstrip("-").isdigit():
        raise ApiError(f"Invalid value for parameter 'abTestId': expected an integer, got {test_id!r}")
    params = {"audienceName": p.audience_name or p.segment or None, "abTestId": int(test_id) if test_id else None,
              "userAttribute": p.user_attribute or None, "baseUrl": ctx.base_url}
    try:  # an unknown audience or test is answered now; the job checks again (either may go meanwhile)
        export_users_service.query(ctx.unit.tx, ctx.app.app_id, params)
    except ExportError as exc:
        raise ApiError(str(exc)) from None
    _within_daily_limit(ctx, jobs.EXPORT_USERS)
    return Reply({"jobId": jobs.start(ctx.unit.tx, ctx.app.app_id, jobs.EXPORT_USERS, params, ctx.now)})


def _within_daily_limit(ctx: ActionContext, kind: str) -> None:
    """``OPENPLUM_EXPORTS_PER_DAY`` jobs of each kind per app and Pacific day (0: no limit); refused requests
    do not count."""
    limit = ctx.settings.exports_per_day
    if limit > 0 and ctx.unit.tx.count_jobs_since(ctx.app.app_id, kind, day_start(ctx.now)) >= limit:
        raise ApiError(f"Too many {kind} requests today: the limit is {limit} per day (Pacific time)", status=429)


def export_report(ctx: ActionContext, p: ExportReportParams) -> Reply:
    start, end = _date("startDate", p.start_date), _date("endDate", p.end_date)
    if p.data_type == "AbTestResults" and p.ab_test_id is None:
        raise ApiError("Missing required parameter: abTestId (dataType AbTestResults)")
    if p.data_type == "MessageResults" and p.message_id is None:
        raise ApiError("Missing required parameter: messageId (dataType MessageResults)")
    if p.data_type == "BookmarkedReport":
        raise ApiError("dataType BookmarkedReport is not supported: openplum has no saved dashboard reports")
    params = {"startDate": start, "endDate": end or start, "dataType": p.data_type, "abTestId": p.ab_test_id,
              "messageId": p.message_id, "eventNames": p.event_names or []}
    return Reply({"jobId": jobs.start(ctx.unit.tx, ctx.app.app_id, jobs.EXPORT_REPORT, params, ctx.now)})


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
