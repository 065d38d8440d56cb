"""CSV import actions (development key, API.md §1.8, §6.8): ``multi`` with ``createJob=true`` starts an import job
over a CSV file; ``getMultiResults`` reports on it.

The file reaches the handler already stored (``actions.import_staging`` puts it in the object store before the
transaction, so the write transaction never waits on file I/O): the handler only records the job. The rows run in
the job worker (``workers.import_jobs``) through the same preparation and runner as a JSON ``multi``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openplum.actions.context import ActionContext, Reply
from openplum.actions.params import Common
from openplum.errors import ApiError
from openplum.services import jobs


class ImportParams(Common):
    create_job: bool = False
    default_action: str | None = None
    file: str | None = None
    """An object in the app's folder of the configured bucket (instead of a CSV in the request)."""
    gcs_bucket: str | None = None
    """Leanplum's bucket parameter: accepted when it names the configured bucket."""


class MultiResultsParams(Common):
    job_id: str


@dataclass(frozen=True)
class StagedImport:
    """An import request whose CSV is in the object store, ready to become a job."""

    key: str
    size: int
    owned: bool
    """openplum stored the file (it came in the request) and deletes it when the job ends."""
    default_action: str | None
    top: dict[str, Any]
    """The request's parameters that every row inherits (``appId``, ``devMode``, ``client``...)."""


def start_import(ctx: ActionContext, p: ImportParams | StagedImport) -> Reply:
    if not isinstance(p, StagedImport):  # staging answers every request it cannot stage
        raise ApiError("Internal error: the CSV file was not stored.", status=500)
    params = {
        "blobKey": p.key, "size": p.size, "ownsBlob": p.owned, "defaultAction": p.default_action, "top": p.top,
        "keyClass": ctx.key_class.value, "baseUrl": ctx.base_url,
    }
    return Reply({"jobId": jobs.start(ctx.unit.tx, ctx.app.app_id, jobs.IMPORT_CSV, params, ctx.now)})


def get_multi_results(ctx: ActionContext, p: MultiResultsParams) -> Reply:
    tx = ctx.unit.tx
    job = jobs.get(tx, ctx.app.app_id, p.job_id)
    if job is None or job.kind != jobs.IMPORT_CSV:
        raise ApiError(f"No import job with id {p.job_id!r}", status=404)
    fields: dict[str, Any] = {"jobId": job.job_id, "state": job.state, "progress": round(job.progress, 4)}
    if job.state == "FINISHED" and job.result is not None:
        fields["data"] = job.result
    else:  # counts so far (a failed job keeps those of the rows it applied)
        done = tx.import_progress(job.job_id)
        fields["data"] = {"successesCount": done.successes if done else 0,
                          "failuresCount": done.failures if done else 0, "files": []}
    if job.state == "FAILED":
        fields["error"] = {"message": job.error or "The job failed."}
    return Reply(fields)
