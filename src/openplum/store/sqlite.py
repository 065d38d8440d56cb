"""The embedded store: one SQLite file in WAL mode, one writer thread, read connections per reader thread (and one
on each thread that calls ``read``, for the key lookups it runs itself).

Connections are apsw's, not the standard library's ``sqlite3``: the same statements cost less Python per call
(an ``executemany`` of 40 event rows about a third as much CPU, before SQLite's own work) and apsw brings a
current SQLite. Migrations (yoyo) still go through ``sqlite3``, and only when one is pending, before any other
connection of the store is open: two SQLite libraries must never hold the same file at once in one process
(closing a file in one drops the POSIX locks the other holds on it, and a reader of the other may then see a page
being rewritten)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import apsw

from openplum.errors import StoreUnavailable
from openplum.loop_queue import nothing_else_waits, ready_queue
from openplum.store.migrate import apply_migrations, migration_ids
from openplum.store.reads import ReadGate
from openplum.store.sql import ReadAgain, SqlTx
from openplum.store.write_turns import WriteTurns
from openplum.store.writer import GroupCommitWriter

T = TypeVar("T")


MMAP_BYTES = 1 << 40
"""Map the whole database file, however large (SQLite caps it at its compile-time limit, 2 GiB by default)."""
PAGE_BYTES = 16384
"""Pages of a new database file. A profile is a JSON document of about 1 KB for a new user to 10 KB and more for
one with a long history; with 4 KiB pages, a profile over about 4,000 bytes keeps its tail in an overflow page,
so a profile read or write touched two random pages and the table took several times the space of its data.
(The ``profiles`` table is a rowid table since migration 0011: the whole row is never a B-tree key.)"""
CACHE_KIB = 16384
"""Page cache per connection (16 MiB): hot B-tree interior pages stay decoded; memory does not grow with data."""


class SqliteTx(SqlTx):
    """``SqlTx`` on an apsw connection, whose cursors do not count the rows a statement changed: the connection
    does, for its last statement."""

    def _changed(self, sql: str, params: Sequence[Any] = ()) -> int:
        self._exec(sql, params)
        return int(self._conn.changes())


class SqliteStore:
    backend = "sqlite"

    def __init__(self, path: Path, *, synchronous: str = "FULL", writer_queue_limit: int = 2000,
                 readers: int = 4, rehearse: str = "auto") -> None:
        """``rehearse``: when write jobs are rehearsed ahead of their turn (``store.rehearsal``): ``auto`` while
        another process writes the file too (with one worker a rehearsal only adds its checks), ``always`` or
        ``never``."""
        self.path = path
        self._synchronous = synchronous
        self._gate = ReadGate(writer_queue_limit)
        self._turns = WriteTurns(path)
        self._writer = GroupCommitWriter(
            connect=self._connect, begin="BEGIN IMMEDIATE", make_tx=self._tx, queue_limit=writer_queue_limit,
            name="openplum-sqlite-writer", turn=self._turns.turn,
            rehearse={"always": lambda: True, "never": lambda: False}.get(rehearse, self._turns.shared),
        )
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="openplum-sqlite-reader")
        self._local = threading.local()

    def migrate(self) -> list[str]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # the operator's to fix, like a file SQLite cannot open
            raise StoreUnavailable(f"cannot create {self.path.parent}: {exc.strerror or exc}") from exc
        conn = self._connect()  # WAL is a property of the file: set it before yoyo connects
        try:
            pending = self._pending_migrations(conn)
        finally:
            conn.close()
        return apply_migrations("sqlite", str(self.path)) if pending else []

    @staticmethod
    def _pending_migrations(conn: apsw.Connection) -> bool:
        """Whether a migration is not yet applied, asked through this store's own SQLite: yoyo (the standard
        library's) opens the file only to apply one, so a store opened on a file that another store of this
        process already holds (tests do) does not share it between two SQLite libraries."""
        known = conn.execute("SELECT 1 FROM sqlite_master WHERE name = '_yoyo_migration'").fetchall()
        if not known:
            return True
        applied = {row[0] for row in conn.execute("SELECT migration_id FROM _yoyo_migration")}
        return any(m not in applied for m in migration_ids("sqlite"))

    def _connect(self) -> apsw.Connection:
        conn = apsw.Connection(str(self.path))  # autocommit until a BEGIN; usable from any thread
        conn.execute(f"PRAGMA page_size={PAGE_BYTES}")  # before WAL writes the header; a file in use keeps its own
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute("PRAGMA busy_timeout=30000")
        # Reads through a memory map skip a system call and a copy per page: a profile read takes half the
        # time. The map is address space, not memory: the OS pages it in and out like any file cache.
        conn.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
        conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        return conn

    @staticmethod
    def _tx(conn: Any) -> SqlTx:
        return SqliteTx(conn, pyformat=False)

    async def start(self) -> None:
        self.migrate()
        self._writer.start()

    async def close(self) -> None:
        await asyncio.to_thread(self._writer.stop)
        self._readers.shutdown(wait=True)
        self._turns.close()

    async def write(self, fn: Callable[[Any], T], *, users: Collection[tuple[str, str]] = ()) -> T:
        return await self._writer.submit(fn, users)

    async def read(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn`` in a read transaction. A read that needs only lookups by key (a profile, a device, an app:
        ``getVars``, ``exportUser``, auth) runs right here on the caller's thread, in the loop's snapshot
        (``_read_in_turn``), a few microseconds of SQLite without the hop to a reader thread and back, which
        costs more than the read. Any other statement stops that attempt (``ReadAgain``) and the read runs again
        on a reader thread."""
        try:
            return self._read_in_turn(fn)
        except ReadAgain:
            pass
        loop = asyncio.get_running_loop()
        with self._gate.admit():
            return await loop.run_in_executor(self._readers, self._read, fn)

    def _read_in_turn(self, fn: Callable[[Any], T]) -> T:
        """``fn`` in the read transaction of this turn of the event loop.

        On a busy loop the first read of a turn begins a transaction on the loop's connection and the next turn
        ends it. Every read of one turn sees the same snapshot, so each is consistent, and SQLite takes its read
        lock (two system calls and a look at the WAL index) once per turn rather than once per statement. No
        write a client saw acknowledged is missing from it: an acknowledgement goes out in a later turn than the
        commit's, so the client's next request is read in a later snapshot still.

        When nothing else is waiting to run (one request at a time), a read of one statement runs alone in
        autocommit, consistent by itself: beginning and ending a transaction, and the extra turn that ends it,
        would cost that request more than they save (``loop_queue``; a loop that does not show its queue always
        reads in its turn's transaction).
        """
        conn = self._reader_connection()
        loop = asyncio.get_running_loop()
        if getattr(self._local, "turn", None) is not loop or not conn.in_transaction:
            if nothing_else_waits(ready_queue(loop)) and not conn.in_transaction:
                try:
                    return fn(SqliteTx(conn, pyformat=False, light_only=True, budget=1))
                except ReadAgain:
                    pass  # more than one statement: in a transaction, to read them all in one snapshot
            if conn.in_transaction:  # left open by a loop that stopped before its next turn
                conn.execute("ROLLBACK")
            conn.execute("BEGIN")
            self._local.turn = loop
            loop.call_soon(self._end_turn, conn)
        return fn(SqliteTx(conn, pyformat=False, light_only=True))

    def _end_turn(self, conn: apsw.Connection) -> None:
        self._local.turn = None
        if conn.in_transaction:
            conn.execute("ROLLBACK")

    def _reader_connection(self) -> apsw.Connection:
        """This thread's read connection (the event loop's, or a reader thread's)."""
        conn: apsw.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def _read(self, fn: Callable[[Any], T]) -> T:
        conn = self._reader_connection()
        conn.execute("BEGIN")
        try:
            return fn(SqliteTx(conn, pyformat=False))
        finally:
            conn.execute("ROLLBACK")

    def run(self, fn: Callable[[Any], T]) -> T:
        conn = self._connect()
        try:
            with self._turns.turn():
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(self._tx(conn))
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            return result
        finally:
            conn.close()
