"""Asynchronous jobs (API.md §1.8): exports and CSV imports start a durable job and answer its id at once.

A job is PENDING until a worker claims it, RUNNING while a worker holds its lease, then FINISHED with a result
or FAILED with an error. Ids look like Leanplum's (``export_<app>_<n>``, ``export_users_<app>_<n>``), and are
unguessable; a job is only visible to its own app.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import msgspec

from openplum.store.base import Tx
from openplum.store.jobs import JobRow

EXPORT_DATA, EXPORT_USERS, EXPORT_REPORT, IMPORT_CSV = "exportData", "exportUsers", "exportReport", "importCsv"
_PREFIX = {EXPORT_DATA: "export", EXPORT_USERS: "export_users", EXPORT_REPORT: "export_report", IMPORT_CSV: "import"}


@dataclass(frozen=True)
class Job:
    job_id: str
    app_id: str
    kind: str
    state: str
    params: dict[str, Any]
    progress: float
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    created: float
    started: float | None
    finished: float | None


def view(row: JobRow) -> Job:
    return Job(
        row.job_id, row.app_id, row.kind, row.state, msgspec.json.decode(row.params), row.progress,
        msgspec.json.decode(row.result) if row.result is not None else None, row.error, row.attempts,
        row.created, row.started, row.finished,
    )


def new_job_id(kind: str, app_id: str) -> str:
    digits = "".join(c for c in app_id if c.isalnum())[:24] or "app"
    return f"{_PREFIX[kind]}_{digits}_{secrets.randbelow(10**19)}"


def start(tx: Tx, app_id: str, kind: str, params: dict[str, Any], now: float) -> str:
    job_id = new_job_id(kind, app_id)
    tx.insert_job(job_id, app_id, kind, msgspec.json.encode(params), now)
    return job_id


def get(tx: Tx, app_id: str, job_id: str) -> Job | None:
    row = tx.get_job(app_id, job_id)
    return view(row) if row is not None else None
