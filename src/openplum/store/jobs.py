"""Durable jobs in the store: rows that workers claim with a lease, report progress on, and finish.

A worker that dies leaves its job RUNNING with a lease in the past; the next claim takes it again (up to a
number of attempts, after which it fails visibly). On PostgreSQL claims use ``FOR UPDATE SKIP LOCKED`` so
workers on many hosts share the queue; SQLite has one writer, so a plain update is already exclusive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class JobRow:
    job_id: str
    app_id: str
    kind: str
    state: str
    params: bytes
    progress: float
    result: bytes | None
    error: str | None
    attempts: int
    lease_until: float | None
    created: float
    started: float | None
    finished: float | None


_COLS = ("job_id, app_id, kind, state, params, progress, result, error, attempts, lease_until, created, started, "
         "finished")


def _row(r: Sequence[Any]) -> JobRow:
    return JobRow(r[0], r[1], r[2], r[3], bytes(r[4]), float(r[5]), bytes(r[6]) if r[6] is not None else None,
                  r[7], int(r[8]), r[9], r[10], r[11], r[12])


class JobsTx(Protocol):
    def insert_job(self, job_id: str, app_id: str, kind: str, params: bytes, now: float) -> None: ...
    def get_job(self, app_id: str, job_id: str) -> JobRow | None: ...
    def list_jobs(self, app_id: str | None, limit: int, *, kind: str | None = None,
                  state: str | None = None) -> list[JobRow]:
        """Newest first; ``kind`` and ``state`` narrow the list when given."""
        ...

    def claim_job(self, now: float, lease: float, kinds: Sequence[str], job_id: str | None = None) -> JobRow | None:
        """Take the oldest claimable job of ``kinds`` (only ``job_id``, when given) and hold it for ``lease``."""
        ...

    def renew_job(self, job_id: str, lease_until: float, progress: float) -> bool: ...
    def finish_job(self, job_id: str, state: str, result: bytes | None, error: str | None, now: float,
                   params: bytes | None = None) -> None:
        """End the job; ``params``, when given, replaces its parameters (the runner drops credentials)."""
        ...
    def fail_exhausted_jobs(self, now: float, max_attempts: int) -> int: ...


class JobsSql:
    """SQL for ``JobsTx``; mixed into ``store.sql.SqlTx`` (which provides ``_exec`` and ``_pyformat``)."""

    _pyformat: bool

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:  # pragma: no cover - provided by SqlTx
        raise NotImplementedError

    def _changed(self, sql: str, params: Sequence[Any] = ()) -> int:  # pragma: no cover - provided by SqlTx
        raise NotImplementedError

    def insert_job(self, job_id: str, app_id: str, kind: str, params: bytes, now: float) -> None:
        self._exec(
            "INSERT INTO jobs (job_id, app_id, kind, state, params, created) VALUES (?, ?, ?, 'PENDING', ?, ?)",
            (job_id, app_id, kind, params, now),
        )

    def get_job(self, app_id: str, job_id: str) -> JobRow | None:
        row = self._exec(f"SELECT {_COLS} FROM jobs WHERE app_id = ? AND job_id = ?", (app_id, job_id)).fetchone()
        return _row(row) if row else None

    def list_jobs(self, app_id: str | None, limit: int, *, kind: str | None = None,
                  state: str | None = None) -> list[JobRow]:
        where, args = ["1 = 1"], list[str]()
        for column, value in (("app_id", app_id), ("kind", kind), ("state", state)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        rows = self._exec(
            f"SELECT {_COLS} FROM jobs WHERE {' AND '.join(where)} ORDER BY created DESC, job_id LIMIT ?",
            (*args, limit),
        ).fetchall()
        return [_row(r) for r in rows]

    def claim_job(self, now: float, lease: float, kinds: Sequence[str], job_id: str | None = None) -> JobRow | None:
        marks = ",".join("?" * len(kinds))
        lock = " FOR UPDATE SKIP LOCKED" if self._pyformat else ""
        only, only_args = (" AND job_id = ?", (job_id,)) if job_id is not None else ("", ())
        row = self._exec(
            f"UPDATE jobs SET state = 'RUNNING', lease_until = ?, attempts = attempts + 1, "
            f"started = COALESCE(started, ?) WHERE job_id = (SELECT job_id FROM jobs WHERE kind IN ({marks}) AND "
            f"(state = 'PENDING' OR (state = 'RUNNING' AND lease_until < ?)){only} ORDER BY created LIMIT 1{lock}) "
            f"RETURNING {_COLS}",
            (now + lease, now, *kinds, now, *only_args),
        ).fetchone()
        return _row(row) if row else None

    def renew_job(self, job_id: str, lease_until: float, progress: float) -> bool:
        return bool(self._changed(
            "UPDATE jobs SET lease_until = ?, progress = ? WHERE job_id = ? AND state = 'RUNNING'",
            (lease_until, progress, job_id),
        ))

    def finish_job(self, job_id: str, state: str, result: bytes | None, error: str | None, now: float,
                   params: bytes | None = None) -> None:
        self._exec(
            "UPDATE jobs SET state = ?, result = ?, error = ?, finished = ?, lease_until = NULL, "
            "progress = CASE WHEN ? = 'FINISHED' THEN 1 ELSE progress END, params = COALESCE(?, params) "
            "WHERE job_id = ?",
            (state, result, error, now, state, params, job_id),
        )

    def fail_exhausted_jobs(self, now: float, max_attempts: int) -> int:
        return self._changed(
            "UPDATE jobs SET state = 'FAILED', error = 'The job was interrupted too many times (server restarts)', "
            "finished = ?, lease_until = NULL WHERE state = 'RUNNING' AND lease_until < ? AND attempts >= ?",
            (now, now, max_attempts),
        )
