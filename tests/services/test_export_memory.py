"""Exports stream: the export handler's peak memory (tracemalloc) is the same for N events and for 4N events.

The history is written straight into a SQLite store (sessions of ten events, a state each, a profile per user),
then the ``exportData`` handler runs as the job runner would run it, in a process of its own, in JSON and in CSV,
with a small shard size so files are cut many times. Memory must not grow with the export: one page of sessions,
one shard's buffers.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from openplum.services import jobs
from openplum.services.profile import Profile
from openplum.settings import Settings
from openplum.store.base import EventRow, SessionRow, StateRow, Tx
from openplum.store.sqlite import SqliteStore
from openplum.workers.export_jobs import export_data
from openplum.workers.jobs import JobContext

pytestmark = pytest.mark.slow

N = 6_000
EVENTS_PER_SESSION = 10
T0 = 1_700_000_000.0
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SqliteStore, Settings]]:
    data = tmp_path_factory.mktemp("export-memory")
    settings = Settings(data_dir=data, sqlite_synchronous="OFF", export_shard_bytes=64 * 1024,
                        public_url="http://127.0.0.1:1")
    found = SqliteStore(Path(data) / "openplum.db", synchronous="OFF")
    asyncio.run(found.start())
    yield found, settings
    asyncio.run(found.close())


def fill(store: SqliteStore, app_id: str, events: int) -> None:
    ids = random.Random(app_id)
    sessions, states, rows, profiles = [], [], [], []
    for n in range(events // EVENTS_PER_SESSION):
        user, session_id, state_id, start = f"user-{n % 300}", ids.getrandbits(62) + 1, ids.getrandbits(62) + 1, T0 + n
        info = msgspec.json.encode({"client": "ios", "sdkVersion": "6.0", "country": "US", "priorSessions": n,
                                    "firstRun": T0, "userBucket": n % 1000})
        sessions.append(SessionRow(session_id, user, "dev", start, start + 60, start + 60, 60.0, "stopped", False,
                                   info))
        states.append(StateRow(state_id, user, "dev", session_id, "Level", start + 1, None, None))
        rows += [EventRow(ids.getrandbits(62) + 1, user, "dev", session_id, state_id if i % 2 else None, f"Event {i}",
                          start + i, start + i, float(i), None, "info", msgspec.json.encode({"i": i, "pad": "x" * 30}),
                          None, False) for i in range(EVENTS_PER_SESSION)]
    profiles = [(f"user-{u}", msgspec.json.encode(Profile(f"user-{u}", T0, attributes={"plan": "gold", "n": u})),
                 T0) for u in range(300)]

    def write(tx: Tx) -> None:
        tx.upsert_sessions(app_id, sessions)
        tx.insert_states(app_id, states)
        tx.insert_events(app_id, rows)
        tx.save_profiles(app_id, profiles)

    store.run(write)


def peak(store: SqliteStore, settings: Settings, app_id: str, fmt: str) -> tuple[int, dict[str, Any]]:
    """Peak traced memory of one export, measured in a fresh process: the test process runs other servers'
    threads, whose allocations tracemalloc would count too."""
    found = subprocess.run(
        [sys.executable, "-m", "tests.services.test_export_memory", str(store.path), str(settings.data_dir), app_id,
         fmt, str(settings.export_shard_bytes)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert found.returncode == 0, found.stderr
    top, result = json.loads(found.stdout.strip().splitlines()[-1])
    return int(top), result


def _measure(path: str, data_dir: str, app_id: str, fmt: str, shard_bytes: int) -> tuple[int, dict[str, Any]]:
    settings = Settings(data_dir=Path(data_dir), export_shard_bytes=shard_bytes, public_url="http://127.0.0.1:1")
    store = SqliteStore(Path(path), synchronous="OFF")
    asyncio.run(store.start())
    params = {"startDate": None, "endDate": None, "startTime": T0 - 10, "endTime": None, "exportFormat": fmt}
    job = jobs.Job(f"export_{app_id}", app_id, jobs.EXPORT_DATA, "RUNNING", params, 0.0, None, None, 1, T0, T0, None)
    try:
        export_data(JobContext(job, store, settings))  # type: ignore[arg-type]  # warm-up: first-use caches
        tracemalloc.start()
        result = export_data(JobContext(job, store, settings))  # type: ignore[arg-type]
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        asyncio.run(store.close())
    return top, result


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_peak_memory_does_not_grow_with_the_export(store: tuple[SqliteStore, Settings], fmt: str) -> None:
    db, settings = store
    fill(db, f"small-{fmt}", N)
    fill(db, f"large-{fmt}", 4 * N)

    small, small_result = peak(db, settings, f"small-{fmt}", fmt)
    large, large_result = peak(db, settings, f"large-{fmt}", fmt)

    assert small_result["numSessions"] == N // EVENTS_PER_SESSION
    assert large_result["numSessions"] == 4 * N // EVENTS_PER_SESSION
    assert len(large_result["files"]) > len(small_result["files"]) > 1
    assert large < 1.5 * small, f"peak {large / 1e6:.1f} MB for 4N events vs {small / 1e6:.1f} MB for N"


if __name__ == "__main__":
    path, data_dir, app, fmt, shard_bytes = sys.argv[1:]
    print(json.dumps(_measure(path, data_dir, app, fmt, int(shard_bytes))))
