"""The SQLite file itself: a new one is laid out with 16 KiB pages, one made with other pages keeps them and
keeps working. (Profiles are JSON documents of a few KB; in 4 KiB pages most spilled into overflow pages.)"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import apsw

from openplum.services import profile as profiles
from openplum.services.profile import Profile
from openplum.store import SqliteStore
from openplum.store.base import Tx
from openplum.store.sqlite import PAGE_BYTES
from tests.store.stores import AnyStore, app, insert, run


def _page_size(path: Path) -> int:
    with closing(apsw.Connection(str(path))) as conn:
        size: int = conn.execute("PRAGMA page_size").fetchall()[0][0]
    return size


def _round_trip(store: AnyStore) -> None:
    record = app("pages")
    doc = profiles.encode(Profile(user_id="u1", created=1.0, attributes={f"a{i}": "x" * 40 for i in range(60)}))
    assert len(doc) > 2000  # more than a 4 KiB page's row holds in a table without rowids

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
