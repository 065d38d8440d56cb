"""Runs durable jobs: claims one at a time with a lease, runs its handler in a thread, renews the lease while
it runs, and records the result or the error. Registered handlers by job kind live in ``JOB_HANDLERS``.

A server killed mid-job leaves the lease to expire; the next claim (in any process) runs the job again from
the start, at most ``MAX_ATTEMPTS`` times, after which it fails with an error saying why.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from openplum.services.job_views import without_secrets
from openplum.services.jobs import Job, view
from openplum.settings import Settings
from openplum.store.base import Store, Tx
from openplum.store.jobs import JobRow

log = logging.getLogger("openplum.workers.jobs")

LEASE = 60.0
MAX_ATTEMPTS = 3


class JobFailed(Exception):
    """A job that cannot succeed: its message is shown to the caller of getExportResults."""


@dataclass
class JobContext:
    job: Job
    store: Store
    settings: Settings
    progress: float = 0.0
    listener: Callable[[float], None] | None = None
    """Told every progress report, from the handler's thread (the CLI's progress bar)."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def report(self, fraction: float) -> None:
        with self._lock:
            self.progress = max(0.0, min(1.0, fraction))
        if self.listener is not None:
            self.listener(self.progress)


class JobHandler(Protocol):
    def __call__(self, ctx: JobContext) -> dict[str, Any]: ...


JOB_HANDLERS: dict[str, JobHandler] = {}


def handles(kind: str) -> Callable[[JobHandler], JobHandler]:
    def register(handler: JobHandler) -> JobHandler:
        JOB_HANDLERS[kind] = handler
        return handler

    return register


class JobRunner:
    name = "jobs"
    interval = 1.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def run_once(self, store: Store) -> int:
        done = 0
        while True:
            now = self.settings.clock.now()
            kinds = sorted(JOB_HANDLERS)
            if not kinds:
                return done

            def claim(tx: Tx, now: float = now, kinds: list[str] = kinds) -> JobRow | None:
                tx.fail_exhausted_jobs(now, MAX_ATTEMPTS)
                return tx.claim_job(now, LEASE, kinds)

            row = await store.write(claim)
            if row is None:
                return done
            await self.run_job(store, view(row))
            done += 1

    async def run_job(self, store: Store, job: Job, listener: Callable[[float], None] | None = None) -> None:
        """Run a job this process has claimed, renewing its lease, and record how it ended."""
        ctx = JobContext(job, store, self.settings, listener=listener)
        task = asyncio.ensure_future(asyncio.to_thread(self._execute, ctx))
        while not task.done():
            await asyncio.wait({task}, timeout=LEASE / 3)
            if not task.done():
                lease_until, progress = self.settings.clock.now() + LEASE, ctx.progress

                def renew(tx: Tx, until: float = lease_until, done: float = progress) -> bool:
                    return tx.renew_job(job.job_id, until, done)

                await store.write(renew)
        state, result, error = task.result()
        encoded = msgspec.json.encode(result) if result is not None else None
        finished = self.settings.clock.now()
        kept = without_secrets(job.params)  # credentials are needed only while the job runs
        params = msgspec.json.encode(kept) if kept != job.params else None
        await store.write(lambda tx: tx.finish_job(job.job_id, state, encoded, error, finished, params))

    @staticmethod
    def _execute(ctx: JobContext) -> tuple[str, dict[str, Any] | None, str | None]:
        handler = JOB_HANDLERS[ctx.job.kind]
        try:
            return "FINISHED", handler(ctx), None
        except JobFailed as exc:
            return "FAILED", None, str(exc)
        except Exception as exc:
            log.exception("job %s (%s) failed", ctx.job.job_id, ctx.job.kind)
            return "FAILED", None, f"Internal error: {type(exc).__name__}"


from openplum.workers import report_jobs  # noqa: E402, F401 - registers the exportReport handler
