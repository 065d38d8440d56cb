"""The ``exportData`` and ``exportUsers`` jobs, and the worker that deletes export files when they expire.

A job streams: sessions (or profiles) are read a page at a time, each record is written to the shard being
filled, and a finished shard goes to the blob store (or the caller's S3 bucket) before the next is started, so
memory stays flat whatever the export's size. The result is what ``getExportResults`` adds: ``files`` (absolute
URLs), ``numSessions`` (``numUsers`` for exportUsers) and ``numBytes``, and ``s3CopyStatus`` for an S3 export.
With ``callbackUrl`` the same body ``getExportResults`` would answer is POSTed there when the job ends (after
the outbound-URL check); a callback that fails is logged and does not fail the export.

A job run again after a crash starts over with new file names; the files of the interrupted run expire with
the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
import msgspec

from openplum import __version__
from openplum.services import export_csv, export_files, export_users, jobs
from openplum.services.blobs import blobs_for
from openplum.services.export_csv import Encoder
from openplum.services.export_files import CSV_TYPE, JSON_TYPE, LIFETIME, Output, Served, ToS3, file_stem, temp_dir
from openplum.services.export_sessions import ExportError, count, lines, window
from openplum.services.outbound import UnsafeUrl, client
from openplum.settings import Settings
from openplum.store.base import Store, Tx
from openplum.store.export_sql import ExportFileRow
from openplum.workers.jobs import JobContext, JobFailed, handles

log = logging.getLogger("openplum.workers.export")
T = TypeVar("T")

CALLBACK_TIMEOUT = 30.0
PROGRESS_EVERY = 200
"""Sessions between progress reports."""


class StoreCalls:
    """The store, called synchronously from a job's worker thread through an event loop of the job's own."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._runner = asyncio.Runner()

    def read(self, fn: Callable[[Tx], T]) -> T:
        return self._runner.run(self.store.read(fn))

    def write(self, fn: Callable[[Tx], T], *, users: Collection[tuple[str, str]] = ()) -> T:
        return self._runner.run(self.store.write(fn, users=users))

    def __enter__(self) -> StoreCalls:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._runner.close()


def base_url(ctx: JobContext) -> str:
    """The absolute base of file URLs: the one the export request came to, else the configured or bound one."""
    settings = ctx.settings
    found = ctx.job.params.get("baseUrl") or settings.public_url or f"http://{settings.host}:{settings.port}"
    return str(found).rstrip("/")


def _output(ctx: JobContext, db: StoreCalls) -> Output:
    params, settings = ctx.job.params, ctx.settings
    limit = export_files.check_limit(settings.export_shard_bytes)
    if params.get("s3BucketName"):
        client = export_files.s3_client(settings, str(params.get("s3AccessId")), str(params.get("s3AccessKey")))
        sink = ToS3(client, str(params["s3BucketName"]), str(params.get("s3ObjectPrefix") or ""))
        return Output(sink, temp_dir(settings), limit, gzip=bool(params.get("compressData")))
    served = Served(db, blobs_for(settings), ctx.job.app_id, ctx.job.job_id, base_url(ctx), settings.clock.now)
    return Output(served, temp_dir(settings), limit)


def _finished(ctx: JobContext, output: Output, counted: dict[str, int]) -> dict[str, Any]:
    result: dict[str, Any] = {"files": [], **counted, "numBytes": output.num_bytes}
    if isinstance(output.sink, ToS3):
        result["s3CopyStatus"] = {"success": output.files}
    else:
        result["files"] = output.files
    return result


def _run(ctx: JobContext, body: Callable[[StoreCalls], dict[str, Any]]) -> dict[str, Any]:
    """Run an export; tell the callback URL how it ended; turn an ``ExportError`` into a failed job."""
    try:
        with StoreCalls(ctx.store) as db:
            result = body(db)
    except ExportError as exc:
        notify(ctx, None, str(exc))
        raise JobFailed(str(exc)) from exc
    except Exception as exc:
        notify(ctx, None, f"Internal error: {type(exc).__name__}")
        raise
    notify(ctx, result, None)
    return result


@handles(jobs.EXPORT_DATA)
def export_data(ctx: JobContext) -> dict[str, Any]:
    return _run(ctx, lambda db: _export_data(ctx, db))


def _export_data(ctx: JobContext, db: StoreCalls) -> dict[str, Any]:
    app_id, params = ctx.job.app_id, ctx.job.params
    sessions = window(params)
    total = max(1, count(db, app_id, sessions))
    output, stem, done = _output(ctx, db), file_stem(app_id), 0
    try:
        if params.get("exportFormat") == "csv":
            encoder = Encoder()
            kinds = {kind: output.kind(kind, _namer(f"{stem}{kind}"), CSV_TYPE, encoder.header(kind))
                     for kind in export_csv.KINDS}
            for line in lines(db, app_id, sessions):
                for kind, record in export_csv.records(encoder, line):
                    kinds[kind].write(record)
                done += 1
                _progress(ctx, done, total)
        else:
            shards, encode = output.kind("json", _namer(stem), JSON_TYPE), msgspec.json.Encoder().encode
            for line in lines(db, app_id, sessions):
                shards.write(encode(line) + b"\n")
                done += 1
                _progress(ctx, done, total)
        output.close(header_only=done > 0)
    except BaseException:
        output.discard()
        raise
    return _finished(ctx, output, {"numSessions": done})


@handles(jobs.EXPORT_USERS)
def export_users_job(ctx: JobContext) -> dict[str, Any]:
    return _run(ctx, lambda db: _export_users(ctx, db))


def _export_users(ctx: JobContext, db: StoreCalls) -> dict[str, Any]:
    app_id, now = ctx.job.app_id, ctx.settings.clock.now()
    wanted = db.read(lambda tx: export_users.query(tx, app_id, ctx.job.params))
    output, encoder, done = _output(ctx, db), Encoder(), 0
    try:
        shards = output.kind("users", _namer(f"{file_stem(app_id)}users"), CSV_TYPE, encoder.row(wanted.columns))
        for row in export_users.rows(db, app_id, wanted, now):
            shards.write(encoder.row([export_csv.text(v) for v in row]))
            done += 1
        output.close(header_only=False)
    except BaseException:
        output.discard()
        raise
    return _finished(ctx, output, {"numUsers": done})


def _namer(prefix: str) -> Callable[[int], str]:
    return lambda shard: f"{prefix}-{shard}"


def _progress(ctx: JobContext, done: int, total: int) -> None:
    if done % PROGRESS_EVERY == 0:
        ctx.report(done / total)


# -- callbackUrl ----------------------------------------------------------------------------------------------
def callback_body(ctx: JobContext, result: dict[str, Any] | None, error: str | None) -> dict[str, Any]:
    """What ``getExportResults`` answers for the job once it has ended."""
    item: dict[str, Any] = {"success": True, "jobId": ctx.job.job_id}
    if error is None:
        item.update({"progress": 1.0, "state": "FINISHED", **(result or {})})
    else:
        item.update({"progress": round(ctx.progress, 4), "state": "FAILED", "error": {"message": error}})
    return {"response": [item]}


def notify(ctx: JobContext, result: dict[str, Any] | None, error: str | None) -> None:
    url = ctx.job.params.get("callbackUrl")
    if not url:
        return
    try:
        with client(ctx.settings, timeout=CALLBACK_TIMEOUT, headers={"User-Agent": f"openplum/{__version__}"}) as http:
            answer = http.post(str(url), json=callback_body(ctx, result, error))
        if not 200 <= answer.status_code < 300:
            log.warning("export %s: callback %s answered HTTP %d", ctx.job.job_id, url, answer.status_code)
    except UnsafeUrl as exc:
        log.warning("export %s: callback refused: %s", ctx.job.job_id, exc.message)
    except httpx.HTTPError as exc:
        log.warning("export %s: callback to %s failed: %s", ctx.job.job_id, url, exc)


# -- expiry ---------------------------------------------------------------------------------------------------
class ExportCleaner:
    """Deletes export files (blob and row) once they have expired, and temporary files an interrupted export left."""

    name = "export-files"
    interval = 300.0
    batch = 500

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def run_once(self, store: Store) -> int:
        blobs, removed = blobs_for(self.settings), 0
        while True:
            now = self.settings.clock.now()
            expired = await store.read(_expired(now, self.batch))
            for row in expired:
                await asyncio.to_thread(blobs.delete, row.storage_key)
            await store.write(_forget([(row.token, row.name) for row in expired]))
            removed += len(expired)
            if len(expired) < self.batch:
                break
        await asyncio.to_thread(_sweep_temp, temp_dir(self.settings), time.time() - LIFETIME)
        return removed


def _expired(now: float, limit: int) -> Callable[[Tx], list[ExportFileRow]]:
    def read(tx: Tx) -> list[ExportFileRow]:
        return tx.expired_export_files(now, limit)

    return read


def _forget(keys: list[tuple[str, str]]) -> Callable[[Tx], None]:
    def write(tx: Tx) -> None:
        tx.forget_export_files(keys)

    return write


def _sweep_temp(directory: Path, before: float) -> None:
    """Remove temporary files untouched since ``before`` (file times are the host's, not the server clock)."""
    if not directory.is_dir():
        return
    for path in directory.iterdir():
        with contextlib.suppress(OSError):
            if path.is_file() and path.stat().st_mtime < before:
                path.unlink()
