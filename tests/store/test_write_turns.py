"""Turns at writing one SQLite file: the processes of a server with several workers (here, other processes and
a second store on the same file) write one after another, none waits on a turn that a dead process held, and
every write of each lands."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from openplum.store import SqliteStore
from openplum.store.base import Tx
from openplum.store.write_turns import WriteTurns
from tests.store.stores import AnyStore, app, insert, run

_HOLDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from openplum.store.write_turns import WriteTurns

    with WriteTurns(Path(sys.argv[1])).turn():
        print("held", flush=True)
        sys.stdin.readline()
""")


@contextmanager
def other_process_in_its_turn(database: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the file's write turn until its stdin is closed (or it is killed)."""
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(database)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait()


def _names(tx: Tx) -> set[str]:
    return {record.name for record in tx.list_apps()}


def test_a_write_waits_while_another_process_has_the_turn_and_lands_when_it_ends(tmp_path: Path) -> None:
    database = tmp_path / "turns.db"
    store = SqliteStore(database, synchronous="NORMAL")

    async def scenario(store: AnyStore) -> None:
        await store.write(insert(app("first")))
        with other_process_in_its_turn(database) as holder:
            waiting = asyncio.ensure_future(store.write(insert(app("second"))))
            done, _ = await asyncio.wait([waiting], timeout=0.5)
            assert not done  # not a timing bound: a write must not land while another process has the turn
            assert holder.stdin is not None
            holder.stdin.close()
            await asyncio.wait_for(waiting, timeout=30)
        assert await store.read(_names) == {"first", "second"}

    run(store, scenario)
    assert (tmp_path / "turns.db-writer").exists()


def test_a_turn_that_waited_for_another_process_marks_the_file_shared(tmp_path: Path) -> None:
    database = tmp_path / "turns.db"
    turns = WriteTurns(database)
    with turns.turn():
        pass
    assert not turns.shared()
    with other_process_in_its_turn(database) as holder:
        def take_a_turn() -> None:
            with turns.turn():
                pass

        waiting = threading.Thread(target=take_a_turn)
        waiting.start()
        waiting.join(timeout=0.3)
        assert waiting.is_alive()  # not a timing bound: it cannot have its turn while the other holds it
        assert holder.stdin is not None
        holder.stdin.close()
        waiting.join(timeout=30)
    assert turns.shared()
    turns.close()


def test_a_process_killed_in_its_turn_leaves_the_file_to_the_others(tmp_path: Path) -> None:
    database = tmp_path / "turns.db"
    SqliteStore(database, synchronous="NORMAL").migrate()
    with other_process_in_its_turn(database) as holder:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    store = SqliteStore(database, synchronous="NORMAL")
    store.run(insert(app("after")))
    assert store.run(_names) == {"after"}


def test_two_stores_on_one_file_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    database = tmp_path / "turns.db"
    first, second = SqliteStore(database, synchronous="NORMAL"), SqliteStore(database, synchronous="NORMAL")

    async def scenario() -> set[str]:
        await first.start()
        await second.start()
        try:
            await asyncio.gather(*(store.write(insert(app(f"{name}-{n}")))
                                   for n in range(40) for name, store in (("a", first), ("b", second))))
            return await first.read(_names)
        finally:
            await second.close()
            await first.close()

    assert asyncio.run(scenario()) == {f"{name}-{n}" for n in range(40) for name in "ab"}
