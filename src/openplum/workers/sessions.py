"""Ends sessions the clients never stopped: 2 h without activity, or 30 min after a pause (API.md §4).

Each open session row carries the time it should next be looked at; a pass reads the overdue ones and, per
app, lets the sessions service decide from the profile (the source of truth) whether each has really ended.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from openplum.services import sessions
from openplum.services.sessions import Timeouts
from openplum.services.unit import Unit
from openplum.settings import Settings
from openplum.store.base import OpenSessionRef, Store, Tx

log = logging.getLogger("openplum.workers.sessions")

_PAGE = 500


def expire_sessions(tx: Tx, app_id: str, refs: list[OpenSessionRef], now: float, timeouts: Timeouts) -> int:
    unit = Unit(tx, app_id, now, writable=True)
    unit.prefetch(ref.user_id for ref in refs)
    ended = 0
    for ref in refs:
        profile = unit.profile(ref.user_id)
        if profile is None:
            unit.end_session(ref.session_id, now, None, "user deleted")
            ended += 1
        elif sessions.sweep(unit, profile, ref.session_id, now, timeouts):
            ended += 1
    unit.flush()
    return ended


class SessionSweeper:
    name = "session-timeouts"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.interval = settings.session_sweep_interval

    async def run_once(self, store: Store) -> int:
        now = self.settings.clock.now()
        timeouts = Timeouts.of(self.settings)
        total = 0
        while True:
            def overdue(tx: Tx) -> list[tuple[str, OpenSessionRef]]:
                return tx.stale_sessions(now, _PAGE)

            page = await store.read(overdue)
            by_app: dict[str, list[OpenSessionRef]] = defaultdict(list)
            for app_id, ref in page:
                by_app[app_id].append(ref)
            for app_id, refs in by_app.items():
                def expire(tx: Tx, app_id: str = app_id, refs: list[OpenSessionRef] = refs) -> int:
                    return expire_sessions(tx, app_id, refs, now, timeouts)

                total += await store.write(expire, users={(app_id, ref.user_id) for ref in refs})
            if len(page) < _PAGE:
                break
        if total:
            log.info("ended %d timed-out session(s)", total)
        return total
