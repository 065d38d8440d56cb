"""Write jobs rehearsed ahead of their turn (SQLite): a job whose reads still hold when its turn comes counts
once, with the rehearsal's result; one whose reads another process changed in between runs again in its turn,
so no update is lost; one that asks for something a rehearsal cannot stand in for simply runs in its turn."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from openplum.store import SqliteStore
from openplum.store.base import Tx
from openplum.store.rehearsal import Rehearsable, Rehearsal
from tests.store.stores import app, insert, one_group

USER = "u1"


def _count(tx: Tx, app_id: str) -> int:
    return int(tx.load_profiles(app_id, [USER]).get(USER, b"0"))


def increment(app_id: str, runs: list[str], meanwhile: Callable[[], None] = lambda: None) -> Callable[[Tx], int]:
    """A write that adds one to a counter kept as the user's profile; ``runs`` says what it ran against."""

    def fn(tx: Tx) -> int:
        runs.append("rehearsal" if isinstance(tx, Rehearsal) else "turn")
        value = _count(tx, app_id) + 1
        if len(runs) == 1:
            meanwhile()
        tx.save_profiles(app_id, [(USER, str(value).encode(), 1.0)])
        return value

    return fn


def _store(tmp_path: Path, rehearse: str = "always") -> SqliteStore:
    return SqliteStore(tmp_path / "rehearsal.db", synchronous="NORMAL", rehearse=rehearse)


def _with(store: SqliteStore, scenario: Callable[[str], Awaitable[None]]) -> None:
    async def main() -> None:
        await store.start()
        try:
            app_id = await store.write(insert(app("rehearsal")))
            await scenario(app_id)
        finally:
            await store.close()

    asyncio.run(main())


def test_a_job_whose_reads_still_hold_runs_once_and_answers_what_its_rehearsal_did(tmp_path: Path) -> None:
    store = _store(tmp_path)
    runs: list[str] = []
    discarded: list[bool] = []

    async def scenario(app_id: str) -> None:
        job = Rehearsable(increment(app_id, runs), lambda: discarded.append(True))
        assert await store.write(job) == 1
        assert await store.read(lambda tx: _count(tx, app_id)) == 1

    _with(store, scenario)
    assert runs == ["rehearsal"]
    assert not discarded


def test_by_default_a_store_writing_its_file_alone_does_not_rehearse(tmp_path: Path) -> None:
    store = _store(tmp_path, "auto")
    runs: list[str] = []

    async def scenario(app_id: str) -> None:
        assert await store.write(Rehearsable(increment(app_id, runs), lambda: None)) == 1

    _with(store, scenario)
    assert runs == ["turn"]


def test_a_job_whose_profile_another_process_changed_meanwhile_runs_again_and_loses_nothing(tmp_path: Path) -> None:
    store, other = _store(tmp_path), _store(tmp_path)
    runs: list[str] = []
    discarded: list[bool] = []

    async def scenario(app_id: str) -> None:
        def other_worker_writes() -> None:  # between the rehearsal's read and the turn
            other.run(increment(app_id, []))

        job = Rehearsable(increment(app_id, runs, other_worker_writes), lambda: discarded.append(True))
        assert await store.write(job) == 2
        assert await store.read(lambda tx: _count(tx, app_id)) == 2

    _with(store, scenario)
    assert runs == ["rehearsal", "turn"]
    assert discarded == [True]


def test_replay_keys_claimed_by_another_process_meanwhile_are_seen_in_the_turn(tmp_path: Path) -> None:
    store, other = _store(tmp_path), _store(tmp_path)
    runs: list[str] = []
    key = b"k" * 16

    async def scenario(app_id: str) -> None:
        def claim(tx: Tx) -> set[bytes]:
            runs.append("rehearsal" if isinstance(tx, Rehearsal) else "turn")
            seen = tx.claim_keys(app_id, [key], 1.0)
            if len(runs) == 1:
                other.run(lambda other_tx: other_tx.claim_keys(app_id, [key], 1.0))
            return seen

        assert await store.write(Rehearsable(claim, lambda: None)) == {key}

    _with(store, scenario)
    assert runs == ["rehearsal", "turn"]


def test_a_job_asking_for_what_a_rehearsal_cannot_stand_in_for_runs_in_its_turn(tmp_path: Path) -> None:
    store = _store(tmp_path)
    runs: list[str] = []
    discarded: list[bool] = []

    async def scenario(app_id: str) -> None:
        record = app("second")

        def create(tx: Tx) -> str:
            runs.append("rehearsal" if isinstance(tx, Rehearsal) else "turn")
            tx.insert_app(record)
            return record.app_id

        assert await store.write(Rehearsable(create, lambda: discarded.append(True))) == record.app_id
        assert record.app_id in await store.read(lambda tx: {a.app_id for a in tx.list_apps()})

    _with(store, scenario)
    assert runs == ["rehearsal", "turn"]
    assert discarded == [True]


def test_two_stores_incrementing_one_profile_at_once_lose_no_increment(tmp_path: Path) -> None:
    first, second = _store(tmp_path), _store(tmp_path)

    async def scenario() -> int:
        await first.start()
        await second.start()
        try:
            app_id = await first.write(insert(app("both")))
            await asyncio.gather(*(store.write(Rehearsable(increment(app_id, []), lambda: None))
                                   for _ in range(40) for store in (first, second)))
            return await first.read(lambda tx: _count(tx, app_id))
        finally:
            await second.close()
            await first.close()

    assert asyncio.run(scenario()) == 80


def test_jobs_of_one_group_rehearsed_against_the_same_profile_each_count_once(tmp_path: Path) -> None:
    """Three increments of one user, rehearsed together (each against the same count): in the turn the first
    one's replay holds and the second's no longer does, so the group runs again job by job in savepoints; no
    increment is lost or counted twice, and each answers its own count."""
    store = _store(tmp_path)
    discarded: list[bool] = []

    async def scenario(app_id: str) -> None:
        jobs = [Rehearsable(increment(app_id, []), lambda: discarded.append(True)) for _ in range(3)]
        assert await one_group(store, jobs) == [1, 2, 3]
        assert await store.read(lambda tx: _count(tx, app_id)) == 3

    _with(store, scenario)
    assert discarded, "the rehearsals that no longer held were thrown away"
