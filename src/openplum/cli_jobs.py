"""``openplum export data|users|report`` and ``openplum jobs list``: exports run from the command line.

An export starts a job in the store the environment selects, with the checks and daily limit of the export
actions (``services.export_requests``), and claims it in the same transaction, so a server's job worker on the
same store never takes it. It then runs in this process with the server's own handlers, renewing its lease and
drawing a progress bar on stderr, and the files it wrote are copied from the blob store into ``--output`` (a
report is printed as JSON, or written to ``--output``). The job stays in the store like any other: listed,
and its files served by a running server for 24 hours. Ctrl-C marks it failed.

What programs read goes to stdout as JSON; the progress bar and errors go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import msgspec

from openplum.cli_progress import ProgressBar
from openplum.errors import ApiError
from openplum.services import export_requests, jobs
from openplum.services.blobs import blobs_for
from openplum.services.export_files import PREFIX
from openplum.services.export_requests import DataExport, ReportExport, UsersExport
from openplum.services.job_views import info
from openplum.settings import Settings
from openplum.store import open_store
from openplum.store.base import Store, Tx
from openplum.store.export_sql import ExportFileRow

Request = DataExport | UsersExport | ReportExport
ACTOR = "cli"
REPORT_TYPES = ("UserActivity", "AbTestResults", "MessageResults")


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = commands.add_parser("export", help="run an export now, in this process, with a progress bar")
    kinds = export.add_subparsers(dest="export_command", required=True)
    data = kinds.add_parser("data", help="sessions between two days (exportData); files into --output")
    data.add_argument("--app-id", required=True)
    data.add_argument("--start-date", required=True, help="YYYYMMDD, a US Pacific day")
    data.add_argument("--end-date", help="YYYYMMDD, inclusive (default: the start date)")
    data.add_argument("--format", choices=["json", "csv"], default="json")
    data.add_argument("--output", type=Path, default=Path("."), help="directory for the files (default: .)")
    users = kinds.add_parser("users", help="users of an audience or A/B test, or all (exportUsers)")
    users.add_argument("--app-id", required=True)
    users.add_argument("--audience", help="only the users of this audience (by name)")
    users.add_argument("--ab-test-id", type=int, help="only the users exposed to this A/B test, with their variant")
    users.add_argument("--attribute", help="add this user attribute's value as a column")
    users.add_argument("--output", type=Path, default=Path("."), help="directory for the file (default: .)")
    report = kinds.add_parser("report", help="a report (exportReport), printed as JSON or written to --output")
    report.add_argument("--app-id", required=True)
    report.add_argument("--start-date", required=True, help="YYYYMMDD, a US Pacific day")
    report.add_argument("--end-date", help="YYYYMMDD, inclusive (default: the start date)")
    report.add_argument("--type", required=True, choices=REPORT_TYPES)
    report.add_argument("--ab-test-id", type=int, help="the A/B test (AbTestResults)")
    report.add_argument("--message-id", help="the message (MessageResults)")
    report.add_argument("--event-name", action="append", default=[], help="an event to count (repeatable)")
    report.add_argument("--output", type=Path, help="write the report's JSON to this file instead of stdout")

    job_cmd = commands.add_parser("jobs", help="durable jobs (exports, imports)")
    job_sub = job_cmd.add_subparsers(dest="jobs_command", required=True)
    listing = job_sub.add_parser("list", help="jobs and their state as JSON, newest first")
    listing.add_argument("--app-id")
    listing.add_argument("--kind", choices=[jobs.EXPORT_DATA, jobs.EXPORT_USERS, jobs.EXPORT_REPORT, jobs.IMPORT_CSV])
    listing.add_argument("--state", choices=["PENDING", "RUNNING", "FINISHED", "FAILED"])
    listing.add_argument("--limit", type=int, default=100)


def run(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "jobs":
        return _list(settings, args)
    try:
        return _export(settings, args, _request(args))
    except ApiError as exc:
        print(f"openplum: {exc.message}", file=sys.stderr)
        return 1


def _list(settings: Settings, args: argparse.Namespace) -> int:
    store = open_store(settings)
    store.migrate()
    limit = min(max(args.limit, 1), 10_000)

    def read(tx: Tx) -> list[Any]:
        rows = tx.list_jobs(args.app_id, limit, kind=args.kind, state=args.state)
        return [msgspec.to_builtins(info(jobs.view(row))) for row in rows]

    print(json.dumps(store.run(read), indent=2))
    return 0


def _request(args: argparse.Namespace) -> Request:
    if args.export_command == "data":
        return DataExport(start_date=args.start_date, end_date=args.end_date, export_format=args.format)
    if args.export_command == "users":
        test_id = None if args.ab_test_id is None else str(args.ab_test_id)
        return UsersExport(audience_name=args.audience, ab_test_id=test_id, user_attribute=args.attribute)
    return ReportExport(start_date=args.start_date, end_date=args.end_date, data_type=args.type,
                        ab_test_id=args.ab_test_id, message_id=args.message_id, event_names=args.event_name or None)


@dataclass
class _Run:
    """What an export run has got to: its job once claimed, how it ended, the files it wrote."""

    job: jobs.Job | None = None
    final: jobs.Job | None = None
    files: list[ExportFileRow] = field(default_factory=list)


def _export(settings: Settings, args: argparse.Namespace, req: Request) -> int:
    # The same checks as the API, before anything is stored (exportData's resolve the callback host, if any).
    ready = export_requests.data_params(settings, req, None) if isinstance(req, DataExport) else None
    state = _Run()
    bar = ProgressBar(sys.stderr, f"export {args.export_command} {args.app_id}")
    previous = signal.signal(signal.SIGINT, _on_interrupt(settings, state))
    try:
        asyncio.run(_run(settings, args.app_id, req, ready, state, bar))
    finally:
        signal.signal(signal.SIGINT, previous)
    final = state.final
    assert final is not None
    bar.finish(final.state)
    if final.state != "FINISHED":
        print(f"openplum: job {final.job_id} failed: {final.error or 'no reason given'}", file=sys.stderr)
        return 1
    result = final.result or {}
    if isinstance(req, ReportExport):
        return _write_report(final, result, args.output)
    paths = _copy(settings, state.files, args.output)
    counts = {k: v for k, v in result.items() if k.startswith("num")}
    print(json.dumps({"jobId": final.job_id, "state": final.state, **counts, "files": [str(p) for p in paths]}))
    return 0


async def _run(settings: Settings, app_id: str, req: Request, ready: dict[str, Any] | None, state: _Run,
               bar: ProgressBar) -> None:
    from openplum.workers import export_jobs as _handlers  # noqa: F401 - registers the exportData/Users handlers
    from openplum.workers.jobs import LEASE, JobRunner

    store: Store = open_store(settings)
    await store.start()
    try:
        def begin(tx: Tx) -> jobs.Job:
            if tx.get_app(app_id) is None:
                raise ApiError(f"No app with id {app_id!r}", status=404)
            now = settings.clock.now()
            kind, params = (jobs.EXPORT_DATA, ready) if ready is not None else export_requests.params_for(
                tx, settings, app_id, req, None)
            job_id = export_requests.start(tx, settings, app_id, kind, params, now)
            row = tx.claim_job(now, LEASE, [kind], job_id)  # ours before any server's worker can see it
            assert row is not None
            tx.audit(app_id, now, ACTOR, "job.start", job_id, msgspec.json.encode({"kind": kind}))
            return jobs.view(row)

        job = state.job = await store.write(begin)
        bar.update(0.0)
        await JobRunner(settings).run_job(store, job, bar.update)
        state.final = await store.read(lambda tx: jobs.get(tx, app_id, job.job_id))
        if state.final is not None and state.final.state == "FINISHED" and not isinstance(req, ReportExport):
            wanted = _file_keys((state.final.result or {}).get("files") or [])
            state.files = await store.read(lambda tx: [r for t, n in wanted if (r := tx.get_export_file(t, n))])
    finally:
        await store.close()


def _file_keys(urls: list[Any]) -> list[tuple[str, str]]:
    """(token, name) of each served file, from its URL ``…/exports/<token>/<name>``."""
    keys = []
    for url in urls:
        token, _, name = urlsplit(str(url)).path.partition(PREFIX)[2].partition("/")
        keys.append((token, name))
    return keys


def _copy(settings: Settings, rows: list[ExportFileRow], output: Path) -> list[Path]:
    """Copy each file from the blob store to ``output``, a chunk at a time, under its Leanplum name."""
    output.mkdir(parents=True, exist_ok=True)
    blobs, paths = blobs_for(settings), []
    for row in rows:
        target = output / row.name
        partial = target.with_name(f".{row.name}.partial")
        chunks = blobs.read(row.storage_key, 0, row.size or 0)
        try:
            with partial.open("wb") as out:
                for chunk in chunks:
                    out.write(chunk)
        finally:
            chunks.close()
        partial.replace(target)
        paths.append(target.resolve())
    return paths


def _write_report(job: jobs.Job, result: dict[str, Any], output: Path | None) -> int:
    text = json.dumps(result, indent=2)
    if output is None:
        print(text)
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text + "\n", encoding="utf-8")
    print(json.dumps({"jobId": job.job_id, "state": job.state, "file": str(output.resolve())}))
    return 0


def _on_interrupt(settings: Settings, state: _Run) -> Callable[[int, FrameType | None], None]:
    """Ctrl-C: mark the job failed (so no one waits on it, and no worker runs it again) and leave at once."""

    def interrupted(signum: int, frame: FrameType | None) -> None:
        job = state.job
        if job is not None:
            try:
                open_store(settings).run(lambda tx: tx.finish_job(
                    job.job_id, "FAILED", None, "Interrupted on the command line", settings.clock.now()))
            except Exception as exc:  # leaving matters more; the lease lets a worker take the job over
                print(f"openplum: could not mark job {job.job_id} failed: {exc}", file=sys.stderr)
        print("\nopenplum: interrupted", file=sys.stderr, flush=True)
        os._exit(130)

    return interrupted
