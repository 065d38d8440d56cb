"""The one settings object, typed, read once at start-up from the environment (``OPENPLUM_*``) and CLI flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from openplum.clock import Clock, SystemClock

_MB = 1024 * 1024


def _env_int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None


def _env_float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from None


def _env_url(env: dict[str, str], name: str) -> str | None:
    raw = env.get(name) or None
    if raw is not None and not raw.startswith(("http://", "https://")):
        raise SystemExit(f"{name} must be an absolute http:// or https:// URL, got {raw!r}")
    return raw


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("openplum-data")
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    # Request limits (bytes / counts). Uploads get their own, larger, body limit.
    max_body_bytes: int = 10 * _MB
    max_upload_bytes: int = 50 * _MB
    max_params: int = 1000
    multi_max_items: int = 10_000
    multi_max_users: int = 50
    # Write path: how many write jobs may wait for the writer before new ones are shed with 503.
    writer_queue_limit: int = 2000
    # PostgreSQL: write connections per process, each committing its own groups (SQLite always has one).
    postgres_writers: int = 2
    # PostgreSQL: read connections per process on the event loop, and as many again with a reader thread each.
    postgres_readers: int = 4
    sqlite_synchronous: str = "FULL"
    sqlite_rehearse: str = "auto"
    """When SQLite write jobs are rehearsed ahead of their turn (``store.rehearsal``): ``auto`` while another
    process is writing the same file, ``always``, or ``never``."""
    event_loop: str = "asyncio"
    """``asyncio`` (the standard library's) or ``uvloop``. uvloop serves a little more at saturation, but it
    serves connections unevenly: at 64 busy connections its p99 latency was 8 to 10 times the stdlib loop's."""
    # Sessions (API.md §4): 2 h without activity, 30 min after a pause.
    session_timeout: float = 2 * 3600.0
    pause_timeout: float = 30 * 60.0
    session_sweep_interval: float = 30.0
    # How long replay keys are remembered (SDK offline queues are replayed for days at most).
    dedupe_retention: float = 14 * 86400.0
    outbound_allow: tuple[str, ...] = ()
    """Addresses or networks outbound calls may reach although they are not public (tests: 127.0.0.1/32)."""
    run_workers: bool = True
    clock: Clock = field(default_factory=SystemClock)
    # Files (uploadFile/downloadFile): kept under ``data_dir/files`` unless an S3-compatible bucket is set.
    # S3 credentials come from boto3's usual chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, instance roles...).
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    public_url: str | None = None
    """Absolute base URL of this server for the redirects it answers; unset: taken from the request's Host."""
    secret_key: str | None = field(default=None, repr=False)
    """Signs file URLs; unset: one is generated once and kept in the store, so every process shares it."""
    # Raw exports (exportData, exportUsers): files split at this many bytes; ``exports_per_day`` caps each kind of
    # export per app and Pacific day (Leanplum allows 24 exportData a day), 0 = no cap.
    export_shard_bytes: int = 256 * _MB
    exports_per_day: int = 0
    # Postbacks (API.md §6.6): Leanplum's cap of 3 per app, 30 s timeout, 10 attempts; retries back off from
    # ``postback_backoff_base`` doubling up to ``postback_backoff_cap``, then the delivery is a dead letter.
    max_postbacks: int = 3
    postback_timeout: float = 30.0
    postback_backoff_base: float = 60.0
    postback_backoff_cap: float = 10 * 3600.0
    postback_max_attempts: int = 10
    postback_interval: float = 1.0
    """Seconds between passes of the delivery worker when the outbox has nothing due."""
    import_max_rows: int = 1_000_000
    """Rows a CSV import (``multi`` with createJob) may hold; its file also obeys ``max_upload_bytes``."""

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "openplum.db"

    @property
    def backend(self) -> str:
        return "postgres" if self.database_url else "sqlite"

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def from_env(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    url = env.get("OPENPLUM_DATABASE_URL") or None
    if url and not url.startswith(("postgresql://", "postgres://")):
        raise SystemExit("OPENPLUM_DATABASE_URL must be a postgresql:// URL (leave it unset for SQLite)")
    sync = env.get("OPENPLUM_SQLITE_SYNCHRONOUS", "FULL").upper()
    if sync not in {"FULL", "NORMAL", "EXTRA"}:
        raise SystemExit("OPENPLUM_SQLITE_SYNCHRONOUS must be FULL, NORMAL or EXTRA")
    public_url = _env_url(env, "OPENPLUM_PUBLIC_URL")
    writers = _env_int(env, "OPENPLUM_POSTGRES_WRITERS", 2)
    readers = _env_int(env, "OPENPLUM_POSTGRES_READERS", 4)
    for name, count in (("OPENPLUM_POSTGRES_WRITERS", writers), ("OPENPLUM_POSTGRES_READERS", readers)):
        if count < 1:
            raise SystemExit(f"{name} must be at least 1")
    rehearse = env.get("OPENPLUM_SQLITE_REHEARSE", "auto").lower()
    if rehearse not in {"auto", "always", "never"}:
        raise SystemExit("OPENPLUM_SQLITE_REHEARSE must be auto, always or never")
    event_loop = env.get("OPENPLUM_EVENT_LOOP", "asyncio").lower()
    if event_loop not in {"asyncio", "uvloop"}:
        raise SystemExit("OPENPLUM_EVENT_LOOP must be asyncio or uvloop")
    return Settings(
        data_dir=Path(env.get("OPENPLUM_DATA_DIR") or "openplum-data"),
        database_url=url,
        max_body_bytes=_env_int(env, "OPENPLUM_MAX_BODY_BYTES", 10 * _MB),
        max_upload_bytes=_env_int(env, "OPENPLUM_MAX_UPLOAD_BYTES", 50 * _MB),
        max_params=_env_int(env, "OPENPLUM_MAX_PARAMS", 1000),
        multi_max_items=_env_int(env, "OPENPLUM_MULTI_MAX_ITEMS", 10_000),
        multi_max_users=_env_int(env, "OPENPLUM_MULTI_MAX_USERS", 50),
        writer_queue_limit=_env_int(env, "OPENPLUM_WRITER_QUEUE_LIMIT", 2000),
        postgres_writers=writers,
        postgres_readers=readers,
        sqlite_synchronous=sync,
        sqlite_rehearse=rehearse,
        event_loop=event_loop,
        session_timeout=_env_float(env, "OPENPLUM_SESSION_TIMEOUT", 2 * 3600.0),
        pause_timeout=_env_float(env, "OPENPLUM_PAUSE_TIMEOUT", 30 * 60.0),
        session_sweep_interval=_env_float(env, "OPENPLUM_SESSION_SWEEP_INTERVAL", 30.0),
        dedupe_retention=_env_float(env, "OPENPLUM_DEDUPE_RETENTION", 14 * 86400.0),
        outbound_allow=tuple(n for n in env.get("OPENPLUM_OUTBOUND_ALLOW", "").split(",") if n.strip()),
        s3_bucket=env.get("OPENPLUM_S3_BUCKET") or None,
        s3_endpoint_url=_env_url(env, "OPENPLUM_S3_ENDPOINT_URL"),
        s3_region=env.get("OPENPLUM_S3_REGION") or None,
        public_url=public_url.rstrip("/") if public_url else None,
        secret_key=env.get("OPENPLUM_SECRET_KEY") or None,
        export_shard_bytes=_env_int(env, "OPENPLUM_EXPORT_SHARD_BYTES", 256 * _MB),
        exports_per_day=_env_int(env, "OPENPLUM_EXPORTS_PER_DAY", 0),
        max_postbacks=_env_int(env, "OPENPLUM_MAX_POSTBACKS", 3),
        postback_timeout=_env_float(env, "OPENPLUM_POSTBACK_TIMEOUT", 30.0),
        postback_backoff_base=_env_float(env, "OPENPLUM_POSTBACK_BACKOFF_BASE", 60.0),
        postback_backoff_cap=_env_float(env, "OPENPLUM_POSTBACK_BACKOFF_CAP", 10 * 3600.0),
        postback_max_attempts=_env_int(env, "OPENPLUM_POSTBACK_MAX_ATTEMPTS", 10),
        postback_interval=_env_float(env, "OPENPLUM_POSTBACK_INTERVAL", 1.0),
        import_max_rows=_env_int(env, "OPENPLUM_IMPORT_MAX_ROWS", 1_000_000),
    )
