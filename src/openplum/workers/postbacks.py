"""Delivers postbacks from the outbox: claim due rows with a lease, POST each, record the outcome.

Each request is ``POST <rendered URL>`` with the event as a JSON body and two headers: ``X-Openplum-Timestamp``
(Unix seconds when sent) and ``X-Openplum-Signature: sha256=<hex HMAC-SHA256 of the body>``, keyed with the
app's postback secret. A 2xx answer is a delivery; anything else (another status, a redirect, a timeout, a
refused or unreachable address) is a failed attempt, retried after ``backoff`` until ``postback_max_attempts``,
then kept as a dead letter. The URL's addresses are checked again right before each attempt (DNS can change).

At least once: a row is deleted only after its 2xx; a worker that dies in between leaves the row claimed
until its lease ends, then it is sent again with the same ``id`` in the body, on which receivers deduplicate.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import httpx
import msgspec

from openplum import __version__
from openplum.services import postbacks
from openplum.services.outbound import UnsafeUrl, async_client
from openplum.settings import Settings
from openplum.store.base import Store, Tx
from openplum.store.postbacks_sql import DeliveryRow

log = logging.getLogger("openplum.workers.postbacks")

BATCH = 40
CONCURRENCY = 10
"""Requests in flight at once: a backlog must not open a connection per row against one receiver."""
LEASE_MARGIN = 60.0
"""Seconds a claimed batch stays out of other workers' reach beyond the time its requests may take."""


@dataclass(frozen=True)
class Outcome:
    row: DeliveryRow
    error: str | None
    """None when delivered."""


def backoff(attempt: int, settings: Settings) -> float:
    """Seconds before the attempt after failed ``attempt`` (1-based): base, doubling, capped."""
    return float(min(settings.postback_backoff_base * 2.0 ** min(attempt - 1, 60), settings.postback_backoff_cap))


def lease(settings: Settings) -> float:
    """How long a claimed batch is reserved: every round of ``CONCURRENCY`` requests may take the full timeout."""
    return settings.postback_timeout * -(-BATCH // CONCURRENCY) + LEASE_MARGIN


def body_of(row: DeliveryRow) -> bytes:
    """The request body: the delivery id, then the event's fields; the same bytes on every attempt."""
    return msgspec.json.encode({"id": row.delivery_id, **msgspec.json.decode(row.event)})


class PostbackDeliverer:
    name = "postbacks"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.interval = settings.postback_interval
        self._max_attempts = max(1, settings.postback_max_attempts)

    async def run_once(self, store: Store) -> int:
        """Deliver what is due now; return how many attempts were made."""
        made = 0
        while True:
            rows, keys = await store.write(self._claim)
            if not rows:
                return made
            slots = asyncio.Semaphore(CONCURRENCY)
            async with self._client() as client:
                outcomes = await asyncio.gather(*(self._attempt(client, slots, row, keys[row.app_id])
                                                  for row in rows))

            def record(tx: Tx, done: list[Outcome] = outcomes) -> None:
                self._record(tx, done)

            await store.write(record)
            made += len(rows)
            if len(rows) < BATCH:
                return made

    def _client(self) -> httpx.AsyncClient:
        return async_client(self.settings, timeout=self.settings.postback_timeout,
                            headers={"User-Agent": f"openplum/{__version__}"})

    def _claim(self, tx: Tx) -> tuple[list[DeliveryRow], dict[str, str]]:
        now = self.settings.clock.now()
        tx.bury_exhausted_deliveries(now, self._max_attempts)
        rows = tx.claim_deliveries(now, lease(self.settings), BATCH)
        keys = tx.postback_secrets(sorted({r.app_id for r in rows}))
        for app_id in {r.app_id for r in rows} - set(keys):
            keys[app_id] = postbacks.secret(tx, app_id, now)
        return rows, keys

    async def _attempt(
        self, client: httpx.AsyncClient, slots: asyncio.Semaphore, row: DeliveryRow, secret: str
    ) -> Outcome:
        async with slots:
            return await self._send(client, row, secret)

    async def _send(self, client: httpx.AsyncClient, row: DeliveryRow, secret: str) -> Outcome:
        body = body_of(row)
        try:
            async with asyncio.timeout(self.settings.postback_timeout):
                headers = {"Content-Type": "application/json",
                           "X-Openplum-Timestamp": str(int(self.settings.clock.now())),
                           "X-Openplum-Signature": postbacks.signature(secret, body)}
                response = await client.post(row.url, content=body, headers=headers)
        except UnsafeUrl as exc:
            return Outcome(row, f"Refused: {exc.message}")
        except TimeoutError:
            return Outcome(row, f"No answer within {self.settings.postback_timeout:g} s")
        except httpx.HTTPError as exc:
            return Outcome(row, f"{type(exc).__name__}: {exc}"[:500])
        except Exception as exc:  # a bad row must not hold up the others: it fails like an unreachable URL
            log.exception("postback delivery %d failed unexpectedly", row.delivery_id)
            return Outcome(row, f"Internal error: {type(exc).__name__}")
        if 200 <= response.status_code < 300:
            return Outcome(row, None)
        return Outcome(row, f"HTTP {response.status_code}")

    def _record(self, tx: Tx, outcomes: list[Outcome]) -> None:
        now = self.settings.clock.now()
        for outcome in outcomes:
            row = outcome.row
            if outcome.error is None:
                tx.delivered(row.delivery_id)
            elif row.attempts >= self._max_attempts:
                log.warning("postback delivery %d failed for good after %d attempts: %s", row.delivery_id,
                            row.attempts, outcome.error)
                tx.bury_delivery(row.delivery_id, row.attempts, outcome.error, now)
            else:
                due = now + backoff(row.attempts, self.settings)
                tx.reschedule_delivery(row.delivery_id, row.attempts, due, outcome.error, now)
