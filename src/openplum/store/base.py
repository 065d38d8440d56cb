"""The store protocol: what the services may ask of persistence, in domain terms, never in SQL.

A ``Tx`` is one transaction's view. ``Store.write`` runs a function inside the shared writer transaction
(group commit: many requests per commit, each isolated by a savepoint); ``Store.read`` runs one on a read
connection. Functions passed to either are synchronous and run off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import msgspec

from openplum.store.app_settings_sql import AppSettingsTx
from openplum.store.export_sql import ExportTx
from openplum.store.files import FilesTx
from openplum.store.import_sql import ImportTx
from openplum.store.jobs import JobsTx
from openplum.store.postbacks_sql import PostbacksTx
from openplum.store.report_sql import ReportTx

T = TypeVar("T")


@dataclass(frozen=True)
class AppRecord:
    app_id: str
    name: str
    production_key: str
    development_key: str
    data_export_key: str
    content_read_only_key: str
    created: float


# The rows written per event are msgspec structs, not dataclasses: a frozen dataclass costs ~1.4 us to build,
# a frozen struct ~0.1 us, and ingest builds one or two per event.
class EventRow(msgspec.Struct, frozen=True):
    """One tracked event (or message impression) as stored; ``params`` is JSON bytes or None."""

    event_id: int
    user_id: str
    device_id: str | None
    session_id: int | None
    state_id: int | None
    name: str
    time: float
    received: float
    value: float
    currency: str | None
    info: str | None
    params: bytes | None
    message_id: str | None
    dev_mode: bool


class StateRow(msgspec.Struct, frozen=True):
    state_id: int
    user_id: str
    device_id: str | None
    session_id: int | None
    name: str
    time: float
    info: str | None
    params: bytes | None


class SessionRow(msgspec.Struct, frozen=True):
    session_id: int
    user_id: str
    device_id: str | None
    started: float
    expires: float
    """When the timeout sweeper should look at this session again (only meaningful while open)."""
    ended: float | None
    duration: float | None
    end_reason: str | None
    dev_mode: bool
    info: bytes
    """JSON: device and location snapshot, prior lifetime counts, client and SDK."""


@dataclass(frozen=True)
class OpenSessionRef:
    """An open session the timeout sweeper should look at."""

    session_id: int
    user_id: str
    device_id: str | None


@dataclass(frozen=True)
class VariableRow:
    name: str
    kind: str
    default: bytes | None
    """JSON of the code default (``setVars``), None when only a team value exists."""
    value: bytes | None
    """JSON of the team's value, None when the code default applies."""


@dataclass(frozen=True)
class AudienceRow:
    audience_id: int
    name: str
    rule: bytes
    created: float
    updated: float


@dataclass(frozen=True)
class AbTestRow:
    test_id: int
    doc: bytes
    state: str
    created: float
    updated: float


@dataclass(frozen=True)
class AuditRow:
    seq: int
    app_id: str | None
    at: float
    actor: str
    action: str
    target: str
    details: bytes | None


class Tx(FilesTx, JobsTx, PostbacksTx, ReportTx, ExportTx, ImportTx, AppSettingsTx, Protocol):
    # apps
    def insert_app(self, app: AppRecord) -> None: ...
    def get_app(self, app_id: str) -> AppRecord | None: ...
    def list_apps(self) -> list[AppRecord]: ...

    # profiles: one JSON document per (app, user)
    def load_profiles(self, app_id: str, user_ids: Sequence[str], *, lock: bool = False) -> dict[str, bytes]:
        """Profile documents by user id; ``lock`` holds them until the transaction ends (write paths)."""
        ...
    def save_profiles(self, app_id: str, docs: Iterable[tuple[str, bytes, float]]) -> None: ...
    def delete_profile(self, app_id: str, user_id: str) -> None: ...

    # devices: which user a device last belonged to
    def device_users(self, app_id: str, device_ids: Sequence[str]) -> dict[str, str]: ...
    def set_device_users(self, app_id: str, pairs: Iterable[tuple[str, str]]) -> None: ...
    def delete_devices_of(self, app_id: str, user_id: str) -> None: ...

    # behaviour history
    def insert_events(self, app_id: str, rows: Sequence[EventRow]) -> None: ...
    def insert_states(self, app_id: str, rows: Sequence[StateRow]) -> None: ...
    def set_state_durations(self, app_id: str, durations: Iterable[tuple[int, float]]) -> None: ...
    def upsert_sessions(self, app_id: str, rows: Sequence[SessionRow]) -> None: ...
    def touch_sessions(self, app_id: str, touches: Iterable[tuple[int, float]]) -> None: ...
    def end_sessions(self, app_id: str, ends: Sequence[tuple[int, float, float | None, str]]) -> None: ...
    def stale_sessions(self, expired_by: float, limit: int) -> list[tuple[str, OpenSessionRef]]: ...
    def register_test_device(self, app_id: str, device_id: str, email: str, now: float) -> bool:
        """Register a test device; False when it was registered already."""
        ...
    def reassign_user(self, app_id: str, from_user: str, to_user: str) -> None: ...
    def erase_history(self, app_id: str, user_id: str) -> None: ...
    def count_events(self, app_id: str, user_id: str) -> int: ...
    def count_sessions(self, app_id: str, user_id: str) -> int: ...

    # the names (events, states, attributes, parameters) an app has used
    def list_names(self, app_id: str) -> list[tuple[str, str]]: ...
    def add_names(self, app_id: str, names: Sequence[tuple[str, str]]) -> None: ...

    # content: variables, action definitions, audiences, A/B tests, and the version every process watches
    def content_versions(self) -> dict[str, int]: ...
    def content_version(self, app_id: str) -> int: ...
    def bump_content(self, app_id: str, now: float) -> int: ...
    def list_variables(self, app_id: str) -> list[VariableRow]: ...
    def define_variables(self, app_id: str, rows: Sequence[tuple[str, str, bytes]], now: float) -> None:
        """Record code defaults (name, kind, default JSON); team values are kept."""
        ...

    def set_variable_value(self, app_id: str, name: str, value: bytes | None, now: float) -> bool: ...
    def delete_variables(self, app_id: str, names: Sequence[str]) -> list[str]: ...
    def list_action_definitions(self, app_id: str) -> dict[str, bytes]: ...
    def put_action_definitions(self, app_id: str, docs: Sequence[tuple[str, bytes]], now: float) -> None: ...
    def list_audiences(self, app_id: str) -> list[AudienceRow]: ...
    def put_audience(self, app_id: str, row: AudienceRow) -> None: ...
    def delete_audience(self, app_id: str, audience_id: int) -> bool: ...
    def list_ab_tests(self, app_id: str) -> list[AbTestRow]: ...
    def put_ab_test(self, app_id: str, row: AbTestRow) -> None: ...
    def delete_ab_test(self, app_id: str, test_id: int) -> bool: ...
    def forced_variants(self, app_id: str) -> dict[tuple[str, int], int]: ...
    def force_variant(self, app_id: str, device_id: str, test_id: int, variant_id: int | None) -> None: ...

    # management: tokens and the audit log
    def add_admin_token(self, token_id: str, name: str, token_hash: bytes, now: float) -> None: ...
    def admin_token_hashes(self) -> dict[str, bytes]: ...
    def list_admin_tokens(self) -> list[tuple[str, str, float, float | None]]: ...
    def revoke_admin_token(self, token_id: str, now: float) -> bool: ...
    def audit(
        self, app_id: str | None, at: float, actor: str, action: str, target: str, details: bytes | None
    ) -> None: ...
    def audit_log(self, app_id: str | None, after: int, limit: int) -> list[AuditRow]: ...
    def update_app_keys(self, app: AppRecord) -> None: ...

    # effectively-once ingestion
    def claim_keys(self, app_id: str, keys: Sequence[bytes], now: float) -> set[bytes]:
        """Record ``keys``; return those that were already recorded (replays)."""
        ...

    def release_keys(self, app_id: str, keys: Sequence[bytes]) -> None:
        """Forget ``keys`` claimed in this transaction by items that were refused, so a resend runs again."""
        ...

    def forget_keys(self, seen_before: float) -> int: ...

    # concurrency
    def lock_users(self, users: Sequence[tuple[str, str]]) -> bool:
        """Lock these (app, user) pairs until the transaction ends, before anything else it does: a writer
        takes every user of a group of requests at once, in one order, so two groups never wait for each
        other's users (PostgreSQL; SQLite writes one transaction at a time and has nothing to lock). True when
        there is a statement to send (``sync``)."""
        ...

    # health
    def ping(self) -> None: ...


class Store(Protocol):
    backend: str

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def write(self, fn: Callable[[Tx], T], *, users: Collection[tuple[str, str]] = ()) -> T:
        """Run ``fn`` in a write transaction, with others (group commit). ``users``: the (app, user) pairs whose
        profiles ``fn`` writes, when the caller knows them: locked before any function of the group runs
        (``Tx.lock_users``). A function that locks users it did not name still runs; on PostgreSQL two
        transactions may then wait for each other, and the one the server stops is answered as retryable."""
        ...
    async def read(self, fn: Callable[[Tx], T]) -> T: ...
    def run(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn`` in its own transaction, synchronously (CLI and start-up)."""
        ...
