"""The CSV import job: rows run in batches that each commit on their own; a job interrupted by a crash resumes after
its last committed batch and counts nothing twice; a file that cannot be read applies nothing; a row whose action
raises fails alone. Jobs run when the test says so (the server runs no background workers)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from openplum.actions.context import ActionContext, Reply
from openplum.actions.table import ACTIONS
from openplum.store.base import Tx
from openplum.workers.import_jobs import ImportRun
from openplum.workers.jobs import LEASE
from tests import clients
from tests.clients import missing
from tests.conftest import ApiClient
from tests.imports import (
    Expected,
    bucket_keys,
    check_profiles,
    ended,
    finished,
    im_api,
    im_server,
    lines,
    results,
    run_jobs,
    s3_endpoint,
    start,
    to_csv,
)

__all__ = ["im_api", "im_server", "s3_endpoint"]  # fixtures used by name


class Crash(BaseException):
    """The process dies: nothing in the job or the runner handles it."""


def purchases(tag: str, count: int) -> tuple[str, Expected]:
    rows: list[list[Any]] = [["userId", "event", "value"]]
    expected = Expected(rows=count)
    for number in range(1, count + 1):
        user = f"{tag}-{number % 25}"
        rows.append([user, "Purchase", str(number % 5)])
        expected.track(user, "Purchase", number % 5)
    return to_csv(rows), expected


def crash_at_commit(monkeypatch: pytest.MonkeyPatch, which: int) -> None:
    """Make the ``which``-th batch of the next run die before it commits."""
    real, calls = ImportRun._commit, [0]

    def commit(self: ImportRun, *args: Any) -> Any:
        calls[0] += 1
        if calls[0] == which:
            raise Crash
        return real(self, *args)

    monkeypatch.setattr(ImportRun, "_commit", commit)


def attempts(api: ApiClient, job_id: str) -> int:
    app_id = api.app.app_id
    job = api.server.app.store.run(lambda tx: tx.get_job(app_id, job_id))
    assert job is not None
    return job.attempts


def test_an_interrupted_import_resumes_after_its_last_committed_batch(
    im_api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, expected = purchases("resume", 600)
    job_id = start(im_api, data, defaultAction="track")
    crash_at_commit(monkeypatch, 4)

    with pytest.raises(Crash):
        run_jobs(im_api)

    item = results(im_api, job_id)
    assert item["state"] == "RUNNING"
    assert item["data"]["successesCount"] == 150, "three batches of 50 committed"
    assert sum(im_api.profile(u)["events"]["Purchase"]["count"] for u in expected.events) == 150
    monkeypatch.undo()
    assert run_jobs(im_api) == 0, "its lease still holds"

    im_api.server.clock.advance(LEASE + 1)
    item = finished(im_api, job_id)

    assert attempts(im_api, job_id) == 2
    assert (item["data"]["successesCount"], item["data"]["failuresCount"]) == (600, 0)
    assert [line["row"] for line in lines(item)] == list(range(1, 601))
    check_profiles(im_api, expected)


def test_a_batch_run_again_is_a_replay_and_counts_once(im_api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two batches committed, then their progress is lost (as if another worker had run them too): when they run
    again, every row carries the same ``reqId`` (job id and row number) and is recognised as a replay."""
    data, expected = purchases("replay", 300)
    job_id = start(im_api, data, defaultAction="track")
    crash_at_commit(monkeypatch, 3)
    with pytest.raises(Crash):
        run_jobs(im_api)
    monkeypatch.undo()

    def forget_progress(tx: Tx) -> None:
        tx._exec("UPDATE import_progress SET rows_done = 0, successes = 0 WHERE job_id = ?", (job_id,))

    im_api.server.app.store.run(forget_progress)
    im_api.server.clock.advance(LEASE + 1)
    item = finished(im_api, job_id)

    assert item["data"]["successesCount"] == 300
    check_profiles(im_api, expected)


def test_results_span_several_files_in_row_order(im_api: ApiClient) -> None:
    rows = [["userId", "event", "value"]] + [[f"files-{n % 7}", "Open", "x" if n % 50 == 0 else "1"]
                                             for n in range(1, 401)]

    item = finished(im_api, start(im_api, to_csv(rows), defaultAction="track"))

    assert len(item["data"]["files"]) > 1, "cut at OPENPLUM_EXPORT_SHARD_BYTES like export files"
    reported = lines(item)
    assert [line["row"] for line in reported] == list(range(1, 401))
    assert [line["row"] for line in reported if not line["success"]] == list(range(50, 401, 50))
    assert (item["data"]["successesCount"], item["data"]["failuresCount"]) == (392, 8)


def test_a_file_broken_half_way_fails_the_job_and_applies_nothing(im_api: ApiClient) -> None:
    data, _ = purchases("broken", 300)
    job_id = start(im_api, data.encode() + b"broken-1,Purch\xe9se,1\r\n", defaultAction="track")

    item = ended(im_api, job_id)

    assert item["state"] == "FAILED"
    assert item["error"]["message"] == "Row 301 is not valid UTF-8: the file must be UTF-8."
    assert item["data"] == {"successesCount": 0, "failuresCount": 0, "files": []}
    assert all(missing(im_api, f"broken-{n}") for n in range(25))
    assert bucket_keys(im_api, f"import-uploads/{im_api.app.app_id}/") == []


def test_more_rows_than_the_limit_fail_the_job_and_apply_nothing(im_api: ApiClient) -> None:
    data, _ = purchases("limit", im_api.server.settings.import_max_rows + 1)

    item = ended(im_api, start(im_api, data, defaultAction="track"))

    assert item["state"] == "FAILED"
    assert "Too many rows: more than 1000 (OPENPLUM_IMPORT_MAX_ROWS)" in item["error"]["message"]
    assert all(missing(im_api, f"limit-{n}") for n in range(25))


def boom_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``track`` raise (a bug) for the event "Boom"."""
    track = ACTIONS["track"]
    assert track.handler is not None
    real = track.handler

    def handler(ctx: ActionContext, p: Any) -> Reply:
        if p.event == "Boom":
            raise RuntimeError("a bug")
        return real(ctx, p)

    monkeypatch.setitem(ACTIONS, "track", replace(track, handler=handler))


def test_a_row_whose_action_raises_fails_alone(im_api: ApiClient, monkeypatch: pytest.MonkeyPatch) -> None:
    boom_raises(monkeypatch)
    rows = [["userId", "event"]] + [["raise-1", "Boom" if n == 60 else "Open"] for n in range(1, 121)]

    item = finished(im_api, start(im_api, to_csv(rows), defaultAction="track"))

    assert (item["data"]["successesCount"], item["data"]["failuresCount"]) == (119, 1)
    assert [line for line in lines(item) if not line["success"]] == [
        {"row": 60, "success": False, "error": {"message": "Internal error while running this row."}}]
    assert im_api.profile("raise-1")["events"]["Open"]["count"] == 119


def test_a_name_first_seen_in_a_batch_that_raised_is_recorded(im_api: ApiClient, monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    """The batch of rows 51-100 rolls back (row 60 raises) after its rows admitted the name "Close"; run again row
    by row, they must record it: the worker's catalog forgets what the rolled-back batch admitted."""
    boom_raises(monkeypatch)
    rows = [["userId", "event"]] + [["names-1", "Open" if n <= 50 else "Boom" if n == 60 else "Close"]
                                    for n in range(1, 101)]

    item = finished(im_api, start(im_api, to_csv(rows), defaultAction="track"))

    assert (item["data"]["successesCount"], item["data"]["failuresCount"]) == (99, 1)
    assert im_api.profile("names-1")["events"]["Close"]["count"] == 49
    assert ("event", "Close") in clients.rows(im_api, "SELECT kind, name FROM names WHERE app_id = ?")


def test_a_row_holding_a_nul_fails_alone_as_on_the_api(im_api: ApiClient) -> None:
    rows = [["userId", "event"], ["nul-1", "Open"], ["nul-1", "Op\x00en"], ["nul-1", "Open"]]

    item = finished(im_api, start(im_api, to_csv(rows), defaultAction="track"))

    assert (item["data"]["successesCount"], item["data"]["failuresCount"]) == (2, 1)
    assert [line for line in lines(item) if not line["success"]] == [
        {"row": 2, "success": False, "error": {"message": "Parameters must not contain NUL (\\u0000) characters."}}]
    assert im_api.profile("nul-1")["events"] == {"Open": im_api.profile("nul-1")["events"]["Open"]}
