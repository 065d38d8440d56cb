"""CSV imports in the store: how far each import job has got, and the rows that were not plain successes.

A batch of rows writes its progress and its notable rows (an error or a warning) in the transaction that applies
it, so a job taken again after a crash resumes exactly after the last batch that committed. Plain successes are
not stored: every row up to ``rows_done`` that has no notable row succeeded. Both go when the job finishes.
On PostgreSQL the progress row is read ``FOR UPDATE``, so two hosts running the same job never both apply a batch;
SQLite has one writer, so a plain read is already exclusive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class ImportProgress:
    rows_done: int
    successes: int
    failures: int


@dataclass(frozen=True)
class ImportRow:
    row: int
    success: bool
    answer: bytes
    """JSON of the row's ``error`` or ``warning``."""


class ImportTx(Protocol):
    def import_progress(self, job_id: str, *, lock: bool = False) -> ImportProgress | None: ...
    def begin_import(self, job_id: str) -> ImportProgress:
        """The job's progress, recorded as nothing done when the job had none yet."""
        ...

    def record_import_batch(self, job_id: str, progress: ImportProgress, rows: Sequence[ImportRow]) -> None: ...
    def import_rows(self, job_id: str, after: int, limit: int) -> list[ImportRow]:
        """Up to ``limit`` notable rows numbered above ``after``, in order."""
        ...

    def forget_import(self, job_id: str) -> None: ...


class ImportSql:
    """SQL for ``ImportTx``; mixed into ``store.sql.SqlTx`` (which provides ``_exec`` and ``_pyformat``)."""

    _pyformat: bool

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:  # pragma: no cover - provided by SqlTx
        raise NotImplementedError

    def import_progress(self, job_id: str, *, lock: bool = False) -> ImportProgress | None:
        suffix = " FOR UPDATE" if lock and self._pyformat else ""
        row = self._exec(
            f"SELECT rows_done, successes, failures FROM import_progress WHERE job_id = ?{suffix}", (job_id,)
        ).fetchone()
        return ImportProgress(int(row[0]), int(row[1]), int(row[2])) if row else None

    def begin_import(self, job_id: str) -> ImportProgress:
        self._exec(
            "INSERT INTO import_progress (job_id, rows_done, successes, failures) VALUES (?, 0, 0, 0) "
            "ON CONFLICT (job_id) DO NOTHING",
            (job_id,),
        )
        found = self.import_progress(job_id)
        assert found is not None
        return found

    def record_import_batch(self, job_id: str, progress: ImportProgress, rows: Sequence[ImportRow]) -> None:
        self._exec(
            "UPDATE import_progress SET rows_done = ?, successes = ?, failures = ? WHERE job_id = ?",
            (progress.rows_done, progress.successes, progress.failures, job_id),
        )
        for row in rows:
            self._exec(
                "INSERT INTO import_rows (job_id, row_no, success, answer) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (job_id, row_no) DO NOTHING",  # a row's first answer stands
                (job_id, row.row, int(row.success), row.answer),
            )

    def import_rows(self, job_id: str, after: int, limit: int) -> list[ImportRow]:
        rows = self._exec(
            "SELECT row_no, success, answer FROM import_rows WHERE job_id = ? AND row_no > ? ORDER BY row_no LIMIT ?",
            (job_id, after, limit),
        ).fetchall()
        return [ImportRow(int(n), bool(s), bytes(a)) for n, s, a in rows]

    def forget_import(self, job_id: str) -> None:
        self._exec("DELETE FROM import_rows WHERE job_id = ?", (job_id,))
        self._exec("DELETE FROM import_progress WHERE job_id = ?", (job_id,))
