"""Runs periodic workers as asyncio tasks; a failing pass is logged and retried at the next interval."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from openplum.services.snapshot import ContentCache
from openplum.settings import Settings
from openplum.store.base import Store

log = logging.getLogger("openplum.workers")


class Worker(Protocol):
    name: str
    interval: float

    async def run_once(self, store: Store) -> int:
        """Do one pass; return how many things were handled."""
        ...


class WorkerRunner:
    def __init__(self, settings: Settings, store: Store, workers: list[Worker]) -> None:
        self.settings = settings
        self.store = store
        self.workers = workers
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop(w), name=f"openplum-{w.name}") for w in self.workers]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def run_all_once(self) -> dict[str, int]:
        return {w.name: await w.run_once(self.store) for w in self.workers}

    async def _loop(self, worker: Worker) -> None:
        while True:
            try:
                await worker.run_once(self.store)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker %s failed; retrying in %.0f s", worker.name, worker.interval)
            await asyncio.sleep(worker.interval)


def default_workers(settings: Settings, content: ContentCache) -> list[Worker]:
    from openplum.workers.content import ContentWatcher
    from openplum.workers.export_jobs import ExportCleaner  # also registers the exportData/exportUsers jobs
    from openplum.workers.import_jobs import import_csv  # noqa: F401 - registers the CSV import job
    from openplum.workers.jobs import JobRunner
    from openplum.workers.postbacks import PostbackDeliverer
    from openplum.workers.replay_keys import ReplayKeyPruner
    from openplum.workers.sessions import SessionSweeper

    return [SessionSweeper(settings), ReplayKeyPruner(settings), ContentWatcher(content), JobRunner(settings),
            PostbackDeliverer(settings), ExportCleaner(settings)]
