"""Starting an export: the checks every way in shares (the export actions, the management API, the CLI).

Each request type names its fields as Leanplum does on the wire (``startDate``, ``exportFormat``...), so the
management API decodes its ``params`` into them with the API's own rules. The checks answer ``ApiError`` (400)
naming the parameter; ``start`` then applies the app's daily limit (429, ``services.limits``) and records the
job, which a worker runs. What the job stores is what ``workers.export_jobs`` and ``workers.report_jobs`` read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import msgspec

from openplum.errors import ApiError
from openplum.services import export_users, jobs, limits
from openplum.services.export_sessions import ExportError
from openplum.settings import Settings
from openplum.store.base import Tx


class DataExport(msgspec.Struct, rename="camel", kw_only=True):
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


class UsersExport(msgspec.Struct, rename="camel", kw_only=True):
    audience_name: str | None = None
    segment: str | None = None
    ab_test_id: str | None = None
    old_ab_test_id: str | None = msgspec.field(default=None, name="ab_test_id")
    """The Ruby client's spellings, sent empty (``&segment&ab_test_id``) when unused."""
    user_attribute: str | None = None


class ReportExport(msgspec.Struct, rename="camel", kw_only=True):
    start_date: str
    data_type: Literal["UserActivity", "AbTestResults", "MessageResults", "BookmarkedReport"]
    end_date: str | None = None
    ab_test_id: int | None = None
    message_id: str | None = None
    bookmark_name: str | None = None
    event_names: list[str] | None = None


REQUEST_TYPES: dict[str, type[DataExport | UsersExport | ReportExport]] = {
    jobs.EXPORT_DATA: DataExport, jobs.EXPORT_USERS: UsersExport, jobs.EXPORT_REPORT: ReportExport,
}


def _date(name: str, value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        dt.datetime.strptime(value, "%Y%m%d")  # noqa: DTZ007 - a calendar date, interpreted in Pacific time later
    except ValueError:
        raise ApiError(f"Invalid value for parameter '{name}': expected YYYYMMDD, got {value!r}") from None
    return value


def data_params(settings: Settings, req: DataExport, base_url: str | None) -> dict[str, Any]:
    """The stored parameters of an ``exportData`` job; the callback URL is checked (it resolves names)."""
    start, end = _date("startDate", req.start_date), _date("endDate", req.end_date)
    if start is None and req.start_time is None:
        raise ApiError("Missing required parameter: startDate")
    if req.s3_bucket_name and not (req.s3_access_id and req.s3_access_key):
        raise ApiError("s3AccessId and s3AccessKey are required with s3BucketName")
    if req.callback_url:
        from openplum.services.outbound import check_url

        check_url(req.callback_url, settings)
    if start and end and end < start:
        raise ApiError(f"endDate {end} is before startDate {start}")
    return {
        "startDate": start, "endDate": end or start, "startTime": req.start_time, "endTime": req.end_time,
        "exportFormat": req.export_format, "callbackUrl": req.callback_url, "s3BucketName": req.s3_bucket_name,
        "s3AccessId": req.s3_access_id, "s3AccessKey": req.s3_access_key, "s3ObjectPrefix": req.s3_object_prefix,
        "compressData": req.compress_data, "baseUrl": base_url,
    }


def users_params(tx: Tx, app_id: str, req: UsersExport, base_url: str | None) -> dict[str, Any]:
    """The stored parameters of an ``exportUsers`` job; an unknown audience or A/B test is refused now."""
    test_id = (req.ab_test_id or req.old_ab_test_id or "").strip()
    if test_id and not test_id.lstrip("-").isdigit():
        raise ApiError(f"Invalid value for parameter 'abTestId': expected an integer, got {test_id!r}")
    params = {"audienceName": req.audience_name or req.segment or None,
              "abTestId": int(test_id) if test_id else None,
              "userAttribute": req.user_attribute or None, "baseUrl": base_url}
    try:  # the job checks again: either may be deleted before it runs
        export_users.query(tx, app_id, params)
    except ExportError as exc:
        raise ApiError(str(exc)) from None
    return params


def report_params(req: ReportExport) -> dict[str, Any]:
    """The stored parameters of an ``exportReport`` job."""
    start, end = _date("startDate", req.start_date), _date("endDate", req.end_date)
    if req.data_type == "AbTestResults" and req.ab_test_id is None:
        raise ApiError("Missing required parameter: abTestId (dataType AbTestResults)")
    if req.data_type == "MessageResults" and req.message_id is None:
        raise ApiError("Missing required parameter: messageId (dataType MessageResults)")
    if req.data_type == "BookmarkedReport":
        raise ApiError("dataType BookmarkedReport is not supported: openplum has no saved dashboard reports")
    return {"startDate": start, "endDate": end or start, "dataType": req.data_type, "abTestId": req.ab_test_id,
            "messageId": req.message_id, "eventNames": req.event_names or []}


def params_for(tx: Tx, settings: Settings, app_id: str, req: DataExport | UsersExport | ReportExport,
               base_url: str | None) -> tuple[str, dict[str, Any]]:
    """The job kind and stored parameters of any export request."""
    if isinstance(req, DataExport):
        return jobs.EXPORT_DATA, data_params(settings, req, base_url)
    if isinstance(req, UsersExport):
        return jobs.EXPORT_USERS, users_params(tx, app_id, req, base_url)
    return jobs.EXPORT_REPORT, report_params(req)


def start(tx: Tx, settings: Settings, app_id: str, kind: str, params: dict[str, Any], now: float) -> str:
    """Record the job once the app's daily limit allows it; its id."""
    limits.check(tx, settings, app_id, kind, now)
    return jobs.start(tx, app_id, kind, params, now)
