"""The SQLite file itself: a new one is laid out with 16 KiB pages, one made with other pages keeps them and
keeps working. (Profiles are JSON documents of a few KB; in 4 KiB pages most spilled into overflow pages.) And the
snapshot that lookups on the event loop read in: one per turn of the loop."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import apsw
from yoyo import get_backend, read_migrations

from openplum.services import profile as profiles
from openplum.services.profile import Profile
from openplum.store import SqliteStore
from openplum.store.base import Tx
from openplum.store.migrate import MIGRATIONS
from openplum.store.sqlite import PAGE_BYTES
from tests.store.stores import AnyStore, app, insert, run


def _page_size(path: Path) -> int:
    with closing(apsw.Connection(str(path))) as conn:
        size: int = conn.execute("PRAGMA page_size").fetchall()[0][0]
    return size


def _round_trip(store: AnyStore) -> None:
    record = app("pages")
    doc = profiles.encode(Profile(user_id="u1", created=1.0, attributes={f"a{i}": "x" * 40 for i in range(60)}))
    assert len(doc) > 2000  # over a 4 KiB page's share for one row of a key-only B-tree (profiles before 0011)

    async def scenario(s: AnyStore) -> None:
        await s.write(insert(record))
        await s.write(lambda tx: tx.save_profiles(record.app_id, [("u1", doc, 1.0)]))

        def read(tx: Tx) -> dict[str, bytes]:
            return tx.load_profiles(record.app_id, ["u1"])

        assert await s.read(read) == {"u1": doc}

    run(store, scenario)


def test_a_new_database_has_16_kib_pages_and_profiles_fit_in_them(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    _round_trip(SqliteStore(path, synchronous="NORMAL"))
    assert _page_size(path) == PAGE_BYTES
    with closing(apsw.Connection(str(path))) as conn:
        spilled = conn.execute("SELECT count(*) FROM dbstat WHERE name = 'profiles' AND pagetype = 'overflow'")
        assert spilled.fetchall()[0][0] == 0


def test_a_database_made_with_4_kib_pages_keeps_them_and_works(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    # Made by the standard library's sqlite3, as openplum made its files before it used apsw; closed before the
    # store opens it (one SQLite library at a time on a file).
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA page_size=4096")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE earlier (x INTEGER)")  # a file already in use
    _round_trip(SqliteStore(path, synchronous="NORMAL"))
    assert _page_size(path) == 4096


def test_profiles_stored_before_migration_0011_are_kept_in_the_rowid_table(tmp_path: Path) -> None:
    """Migration 0011 makes ``profiles`` a rowid table (a long profile is no longer part of its B-tree's key):
    the profiles of a database made before it are all there after it, and the upsert still finds them."""
    path = tmp_path / "before.db"
    record = app("rowid")
    long_doc = profiles.encode(Profile(user_id="u1", created=1.0, attributes={f"a{i}": "x" * 90 for i in range(120)}))
    assert len(long_doc) > PAGE_BYTES // 2
    backend = get_backend(f"sqlite:///{path}")
    with backend.lock():
        backend.apply_migrations(backend.to_apply(
            read_migrations(str(MIGRATIONS / "sqlite")).filter(lambda m: m.id < "0011")
        ))
    backend.connection.close()
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("INSERT INTO apps VALUES (?, ?, ?, ?, ?, ?, ?)", (
            record.app_id, record.name, record.production_key, record.development_key, record.data_export_key,
            record.content_read_only_key, record.created))
        conn.executemany("INSERT INTO profiles VALUES (?, ?, ?, 1.0)",
                         [(record.app_id, "u1", long_doc), (record.app_id, "u2", b"{}")])
    store = SqliteStore(path, synchronous="NORMAL")

    async def scenario(s: AnyStore) -> None:
        def read(tx: Tx) -> dict[str, bytes]:
            return tx.load_profiles(record.app_id, ["u1", "u2", "u3"])

        assert await s.read(read) == {"u1": long_doc, "u2": b"{}"}
        await s.write(lambda tx: tx.save_profiles(record.app_id, [("u2", b"[]", 2.0), ("u3", long_doc, 2.0)]))
        assert await s.read(read) == {"u1": long_doc, "u2": b"[]", "u3": long_doc}

    run(store, scenario)
    with closing(apsw.Connection(str(path))) as conn:
        made = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'profiles'").fetchall()[0][0]
    assert "WITHOUT ROWID" not in made.upper()


def test_a_second_store_opened_on_a_file_in_use_leaves_the_first_working(tmp_path: Path) -> None:
    """Opening a store migrates its file only when a migration is pending: a second store of this process on a file
    the first holds (two servers in one test) must not open it through a second SQLite library, whose closing
    would drop the first one's locks."""
    path = tmp_path / "shared.db"
    first = SqliteStore(path, synchronous="NORMAL")
    record = app("shared")

    async def scenario(s: AnyStore) -> None:
        await s.write(insert(record))
        second = SqliteStore(path, synchronous="NORMAL")
        await second.start()
        try:
            for n in range(20):
                doc = profiles.encode(Profile(user_id=f"u{n}", created=1.0))
                await s.write(lambda tx, n=n, doc=doc: tx.save_profiles(record.app_id, [(f"u{n}", doc, 1.0)]))
            names = [f"u{n}" for n in range(20)]
            seen = await second.read(lambda tx: tx.load_profiles(record.app_id, names))
            assert sorted(seen) == sorted(names)
        finally:
            await second.close()

    run(first, scenario)


def _profile_doc(user_id: str, plan: str) -> bytes:
    return profiles.encode(Profile(user_id=user_id, created=1.0, attributes={"plan": plan}))


def test_reads_of_one_turn_of_the_loop_share_a_snapshot_and_the_next_turn_sees_new_writes(tmp_path: Path) -> None:
    """Lookups on a busy event loop read inside one transaction per turn of the loop: a write committed meanwhile
    (by another connection) is not half seen within the turn, and is seen from the next turn on."""
    path = tmp_path / "turns.db"
    store = SqliteStore(path, synchronous="NORMAL")
    record = app("turns")

    async def scenario(s: AnyStore) -> None:
        await s.write(insert(record))
        await s.write(lambda tx: tx.save_profiles(record.app_id, [("u1", _profile_doc("u1", "free"), 1.0)]))

        def plan(tx: Tx) -> str:
            return profiles.decode(tx.load_profiles(record.app_id, ["u1"])["u1"]).attributes["plan"]

        def plan_then_a_commit_elsewhere(tx: Tx) -> str:
            seen = plan(tx)
            with closing(apsw.Connection(str(path))) as other:
                other.execute("UPDATE profiles SET doc = ? WHERE user_id = 'u1'", (_profile_doc("u1", "pro"),))
            return seen

        # Two requests in one turn (the first sees the second waiting to run): one snapshot for both.
        assert await asyncio.gather(s.read(plan_then_a_commit_elsewhere), s.read(plan)) == ["free", "free"]
        await asyncio.sleep(0)  # the next turn
        assert await asyncio.gather(s.read(plan), s.read(plan)) == ["pro", "pro"]

    run(store, scenario)


def test_a_write_is_seen_by_the_next_read_on_the_loop(tmp_path: Path) -> None:
    """Read, write, read, with no pause between them: the write's acknowledgement comes in a later turn, so the
    second read is in a new snapshot that holds it (on an idle loop, and on a busy one)."""
    store = SqliteStore(tmp_path / "acked.db", synchronous="NORMAL")
    record = app("acked")

    async def scenario(s: AnyStore) -> None:
        await s.write(insert(record))
        busy = asyncio.get_running_loop().call_soon
        for n in range(20):
            if n % 2:
                busy(lambda: None)
            assert await s.read(lambda tx: tx.load_profiles(record.app_id, ["u1"])) == (
                {} if n == 0 else {"u1": _profile_doc("u1", f"p{n - 1}")})
            await s.write(lambda tx, n=n: tx.save_profiles(record.app_id, [("u1", _profile_doc("u1", f"p{n}"), 1.0)]))

    run(store, scenario)


def test_a_loop_that_stops_mid_turn_leaves_no_old_snapshot_to_the_next(tmp_path: Path) -> None:
    """A loop stopped in the turn of a read never runs that turn's end: the next loop on the thread starts afresh
    instead of reading in the old snapshot."""
    path = tmp_path / "loops.db"
    store = SqliteStore(path, synchronous="NORMAL")
    record = app("loops")

    async def read_and_stop() -> dict[str, bytes]:
        loop = asyncio.get_running_loop()
        loop.call_soon(lambda: None)  # something else waits to run: the read begins the turn's transaction
        loop.stop()  # this turn is the loop's last
        return await store.read(lambda tx: tx.load_profiles(record.app_id, ["u1"]))

    loop = asyncio.new_event_loop()
    loop.run_until_complete(store.start())
    loop.run_until_complete(store.write(insert(record)))
    assert loop.run_until_complete(read_and_stop()) == {}
    loop.close()
    with closing(apsw.Connection(str(path))) as other:
        other.execute("INSERT INTO profiles (app_id, user_id, doc, updated) VALUES (?, 'u1', ?, 1.0)",
                      (record.app_id, _profile_doc("u1", "free")))

    async def second() -> None:
        try:
            assert await store.read(lambda tx: tx.load_profiles(record.app_id, ["u1"])) == {
                "u1": _profile_doc("u1", "free")}
        finally:
            await store.close()

    asyncio.run(second())
