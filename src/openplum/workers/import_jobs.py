"""The CSV import job (``multi`` with createJob, API.md §6.8): every row of the file run as one action.

The file is read twice, each time as a stream, never whole: first to check it (header, encoding, quoting, the
``OPENPLUM_IMPORT_MAX_ROWS`` limit), so a broken file applies nothing; then to run it, 50 rows at a time. Each
row is prepared exactly as an item of a JSON ``multi`` (``actions.prepare``: action, key class, typed
parameters, replay key) and each batch runs through ``actions.runner.run_batch``, the path ``/api`` takes.

A batch is one write transaction through the store's group-commit writer, like any request: it commits with the
same durability, queues fairly behind API traffic instead of competing with it for the database (a second
connection would fight SQLite's single writer for its lock), and keeps each user's read-modify-write serialised
with the requests that touch the same user. The transaction also records how far the import has got and the rows
that failed or were warned about (``store.import_sql``), so a job taken again after a crash resumes after the
last batch that committed. Each row also carries a ``reqId`` made of the job id and its row number: should a batch
ever run twice (another worker taking over a lease), its rows are replays and count once.

At the end the per-row results are written as JSON lines (``{"row": n, "success": ..., "error"|"warning": ...}``)
to files served like export files (``/exports/<token>/<name>``, 24 hours), and the job's result, its progress
rows deletion and its end are committed together.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from openplum.actions.context import Runtime
from openplum.actions.prepare import number_repeats, prepare
from openplum.actions.prepared import Prepared
from openplum.actions.runner import error_item, named_users, run_batch
from openplum.client_text import NUL_MESSAGE, holds_nul
from openplum.errors import Overloaded, StoreUnavailable
from openplum.services import jobs
from openplum.services.apps import KeyClass
from openplum.services.blobs import BlobMissing, Chunks, blobs_for
from openplum.services.catalog import NameCatalog
from openplum.services.export_files import JSON_TYPE, Output, Served, check_limit, temp_dir
from openplum.services.import_csv import CsvFile, CsvProblem, count_rows, params_of
from openplum.services.snapshot import ContentCache
from openplum.store.base import AppRecord, Tx
from openplum.store.import_sql import ImportProgress, ImportRow
from openplum.workers.export_jobs import StoreCalls, base_url
from openplum.workers.jobs import JobContext, JobFailed, handles

log = logging.getLogger("openplum.workers.import")

BATCH = 50
"""Rows per transaction, as Leanplum runs them."""
PAGE = 1000
"""Notable rows read at a time when writing the result files."""
RETRIES = 6
BACKOFF = 0.5
"""Seconds before the first retry of a batch the store refused (overloaded, unreachable); doubles each time."""

Row = tuple[int, dict[str, Any] | str]
"""A row's number and its parameters, or why it cannot be read."""


@handles(jobs.IMPORT_CSV)
def import_csv(ctx: JobContext) -> dict[str, Any]:
    with StoreCalls(ctx.store) as db:
        return ImportRun(ctx, db).run()


class ImportRun:
    def __init__(self, ctx: JobContext, db: StoreCalls) -> None:
        params = ctx.job.params
        self.ctx, self.db = ctx, db
        self.job_id, self.app_id = ctx.job.job_id, ctx.job.app_id
        self.key, self.size, self.owned = str(params["blobKey"]), int(params["size"]), bool(params.get("ownsBlob"))
        self.default: str | None = params.get("defaultAction") or None
        self.top: dict[str, Any] = dict(params.get("top") or {"appId": self.app_id})
        self.key_class = KeyClass(params.get("keyClass") or KeyClass.DEVELOPMENT.value)
        self.blobs = blobs_for(ctx.settings)
        # The job's own caches: names are recorded idempotently, content is read as it is when the job runs.
        self.runtime = Runtime(ctx.settings, NameCatalog(), ContentCache())

    def run(self) -> dict[str, Any]:
        app = self.db.read(lambda tx: tx.get_app(self.app_id))
        if app is None:
            self._discard_file()
            raise JobFailed("The app no longer exists.")
        try:
            total = count_rows(self._chunks(), self.default, self.ctx.settings.import_max_rows)
        except CsvProblem as exc:
            self._discard_file()
            raise JobFailed(str(exc)) from None
        done = self.db.write(lambda tx: tx.begin_import(self.job_id))
        try:
            done = self._apply(app, total, done)
        except JobFailed:
            raise
        except Exception as exc:
            log.exception("import %s stopped", self.job_id)
            self._discard_file()
            raise JobFailed(_stopped(self._progress(), total, exc)) from exc
        result = {"successesCount": done.successes, "failuresCount": done.failures, "files": self._results(done)}
        self._finish(result)
        self._discard_file()
        return result

    # -- running the rows -----------------------------------------------------------------------------------
    def _apply(self, app: AppRecord, total: int, done: ImportProgress) -> ImportProgress:
        batch: list[Row] = []
        with CsvFile(self._chunks()) as source:
            header = source.header(self.default)
            for number, cells in source.rows():
                if number <= done.rows_done:  # applied before an interruption
                    continue
                batch.append((number, params_of(header, cells, self.default)))
                if len(batch) == BATCH:
                    done, batch = self._commit(app, batch, done), []
                    self.ctx.report(done.rows_done / max(total, 1))
        return self._commit(app, batch, done) if batch else done

    def _commit(self, app: AppRecord, batch: list[Row], done: ImportProgress) -> ImportProgress:
        """Apply the rows of ``batch`` after ``done``; the progress once they are committed."""
        crashed = False
        for attempt in range(RETRIES):
            rows = [row for row in batch if row[0] > done.rows_done]
            if not rows:
                return done
            try:
                with self.runtime.catalog.forgotten_on_failure(app.app_id):
                    work, users = self._work(app, rows, done, crashed=crashed)
                    moved = self.db.write(work, users=users)
            except JobFailed:
                raise
            except (StoreUnavailable, Overloaded):
                time.sleep(BACKOFF * 2**attempt)
                moved = None
            except Exception:
                if crashed:
                    raise
                if len(rows) > 1:
                    log.exception("import %s: a batch raised; running its rows one by one", self.job_id)
                    for row in rows:
                        done = self._commit(app, [row], done)
                    return done
                log.exception("import %s: row %d raised", self.job_id, rows[0][0])
                crashed = True
                continue
            if moved is not None:
                return moved
            done = self._progress()  # not committed, or out of step (another run moved on): look again
        raise StoreUnavailable(f"the store refused rows {batch[0][0]}-{batch[-1][0]} {RETRIES} times")

    def _work(
        self, app: AppRecord, rows: list[Row], done: ImportProgress, *, crashed: bool = False
    ) -> tuple[Callable[[Tx], ImportProgress | None], list[tuple[str, str]]]:
        """The write that applies ``rows``, and the users it writes (``Store.write``)."""
        items = [self._prepare(app, number, params) for number, params in rows]
        if crashed:  # the row's action raised unexpectedly: record it as failed, apply nothing
            items = [Prepared(None, answer=error_item("Internal error while running this row."))]
        number_repeats(items)
        runtime, now, job_id = self.runtime, self.ctx.settings.clock.now(), self.job_id

        def work(tx: Tx) -> ImportProgress | None:
            current = tx.import_progress(job_id, lock=True)
            if current is None:
                raise JobFailed("The import was finished by another worker.")
            if current.rows_done != done.rows_done:
                return None
            answers = run_batch(tx, app, items, runtime, now, None, writable=True)
            notable: list[ImportRow] = []
            successes = 0
            for (number, _), (answer, _status) in zip(rows, answers, strict=True):
                success = answer.get("success") is True
                successes += success
                details = {k: answer[k] for k in ("error", "warning") if k in answer}
                if details or not success:
                    notable.append(ImportRow(number, success, msgspec.json.encode(details)))
            moved = ImportProgress(rows[-1][0], done.successes + successes,
                                   done.failures + len(rows) - successes)
            tx.record_import_batch(job_id, moved, notable)
            return moved

        return work, [(app.app_id, user_id) for user_id in named_users(items)]

    def _prepare(self, app: AppRecord, number: int, params: dict[str, Any] | str) -> Prepared:
        if isinstance(params, str):
            return Prepared(None, answer=error_item(params))
        if holds_nul(params):  # as /api refuses it: no store can hold it
            return Prepared(None, answer=error_item(NUL_MESSAGE))
        # The row's identity: a batch run twice is recognised as a replay (API.md §1.7), whatever its columns.
        raw = {**params, "reqId": f"{self.job_id}:{number}"}
        return prepare(app, self.key_class, raw, self.top, index=number)

    def _progress(self) -> ImportProgress:
        found = self.db.read(lambda tx: tx.import_progress(self.job_id))
        if found is None:
            raise JobFailed("The import was finished by another worker.")
        return found

    # -- results --------------------------------------------------------------------------------------------
    def _results(self, done: ImportProgress) -> list[Any]:
        settings = self.ctx.settings
        served = Served(self.db, self.blobs, self.app_id, self.job_id, base_url(self.ctx), settings.clock.now)
        output = Output(served, temp_dir(settings), check_limit(settings.export_shard_bytes))
        stem = f"import-{re.sub(r'[^A-Za-z0-9]', '', self.app_id)[:64] or 'app'}-{uuid.uuid4()}-output"
        shards = output.kind("rows", lambda n: f"{stem}-{n}", JSON_TYPE)
        try:
            notable = self._notable()
            pending = next(notable, None)
            for number in range(1, done.rows_done + 1):
                if pending is not None and pending.row == number:
                    success = b"true" if pending.success else b"false"
                    extra = pending.answer[1:-1]
                    tail = b"," + extra if extra else b""
                    shards.write(b'{"row":%d,"success":%s%s}\n' % (number, success, tail))
                    pending = next(notable, None)
                else:
                    shards.write(b'{"row":%d,"success":true}\n' % number)
            output.close(header_only=False)
        except BaseException:
            output.discard()
            raise
        return list(output.files)

    def _notable(self) -> Iterator[ImportRow]:
        after = 0
        while True:
            page = self.db.read(_page(self.job_id, after))
            yield from page
            if len(page) < PAGE:
                return
            after = page[-1].row

    def _finish(self, result: dict[str, Any]) -> None:
        """Record the result and drop the progress rows together: a crash in between cannot lose either."""
        encoded, now = msgspec.json.encode(result), self.ctx.settings.clock.now()

        def work(tx: Tx) -> None:
            tx.forget_import(self.job_id)
            tx.finish_job(self.job_id, "FINISHED", encoded, None, now)

        self.db.write(work)

    # -- the file -------------------------------------------------------------------------------------------
    def _chunks(self) -> Chunks:
        try:
            return self.blobs.read(self.key, 0, self.size)
        except BlobMissing:
            raise JobFailed("The CSV file is no longer in the object store.") from None

    def _discard_file(self) -> None:
        if not self.owned:
            return  # the team's own object in the bucket
        try:
            self.blobs.delete(self.key)
        except Exception:  # the job's outcome stands; the file is only left behind
            log.warning("import %s: could not delete its CSV %s", self.job_id, self.key, exc_info=True)


def _stopped(done: ImportProgress, total: int, exc: Exception) -> str:
    return (f"The import stopped after row {done.rows_done} of {total} ({type(exc).__name__}: {exc}). Rows 1-"
            f"{done.rows_done} were applied ({done.successes} succeeded, {done.failures} failed); the others were "
            "not.")


def _page(job_id: str, after: int) -> Callable[[Tx], list[ImportRow]]:
    def read(tx: Tx) -> list[ImportRow]:
        return tx.import_rows(job_id, after, PAGE)

    return read
