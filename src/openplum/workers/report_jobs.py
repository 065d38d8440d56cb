"""The ``exportReport`` job: computes the report (``services.reports``) on a read transaction, so a long report
never holds the writer, and answers it as the fields ``getExportResults`` adds."""

from __future__ import annotations

import asyncio
from typing import Any

from openplum.services import jobs, reports
from openplum.store.base import Tx
from openplum.workers.jobs import JobContext, JobFailed, handles


@handles(jobs.EXPORT_REPORT)
def export_report(ctx: JobContext) -> dict[str, Any]:
    try:
        req = reports.request(ctx.job.params)

        def compute(tx: Tx) -> dict[str, Any]:
            return reports.build(tx, ctx.job.app_id, req, ctx.report)

        # Handlers run in a thread of their own, outside the server's event loop: this one gets a loop of its
        # own to await the store's read pool, and the whole report sees one consistent snapshot.
        return asyncio.run(ctx.store.read(compute))
    except reports.ReportError as exc:
        raise JobFailed(str(exc)) from exc
