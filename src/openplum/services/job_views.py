"""A job as operators see it (the management API, ``openplum jobs list``): its secrets left out, its result
summed up.

Parameters that are credentials (``s3AccessKey``) are never shown. The result keeps its counts, flags and file
lists (``numSessions``, ``numBytes``, ``files``, ``s3CopyStatus``...); a report's figures (``data``,
``variants``...) are left to ``getExportResults`` or ``openplum export report``, which answer them whole.
"""

from __future__ import annotations

from typing import Any

import msgspec

from openplum.services.jobs import Job

SECRET_PARAMS = frozenset({"s3AccessKey"})
_KEPT_STRUCTURES = frozenset({"s3CopyStatus"})


class JobInfo(msgspec.Struct):
    jobId: str
    appId: str
    kind: str
    state: str
    """PENDING, RUNNING, FINISHED or FAILED."""
    params: dict[str, Any]
    progress: float
    attempts: int
    result: dict[str, Any] | None
    error: str | None
    created: float
    started: float | None
    finished: float | None


def without_secrets(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` less its credentials: what a job keeps once it has ended."""
    return {k: v for k, v in params.items() if k not in SECRET_PARAMS}


def public_params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: _public(v) for k, v in without_secrets(params).items()}


def _public(value: Any) -> Any:
    return public_params(value) if isinstance(value, dict) else value


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def summary(result: dict[str, Any] | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {k: v for k, v in result.items()
            if _scalar(v) or k in _KEPT_STRUCTURES or (isinstance(v, list) and all(_scalar(x) for x in v))}


def info(job: Job) -> JobInfo:
    return JobInfo(job.job_id, job.app_id, job.kind, job.state, public_params(job.params), round(job.progress, 4),
                   job.attempts, summary(job.result), job.error, job.created, job.started, job.finished)
