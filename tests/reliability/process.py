"""``openplum serve`` as a child process on a store of its own, which a test may SIGKILL and start again.

``fresh_store`` gives a store location (a temporary data directory, plus a fresh PostgreSQL schema on that
backend, dropped afterwards); ``ServerProcess`` runs the server on it exactly as an operator does, and ``cli`` runs
the other commands (``apps create``) against the same location.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from openplum.settings import Settings
from openplum.store import PostgresStore, SqliteStore, open_store
from tests.conftest import PG_URL, free_port

START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class StoreLocation:
    backend: str
    data_dir: Path
    database_url: str | None

    def env(self) -> dict[str, str]:
        """The environment of a process using this store: ours without any OPENPLUM_* setting, plus the store."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENPLUM_")}
        env["OPENPLUM_DATA_DIR"] = str(self.data_dir)
        if self.database_url:
            env["OPENPLUM_DATABASE_URL"] = self.database_url
        return env

    def open(self) -> SqliteStore | PostgresStore:
        """The store itself, for reading back what was kept (``store.run``); needs no server."""
        return open_store(Settings(data_dir=self.data_dir, database_url=self.database_url))


@contextmanager
def fresh_store(backend: str, tmp_path: Path) -> Iterator[StoreLocation]:
    if backend == "sqlite":
        yield StoreLocation(backend, tmp_path / "data", None)
        return
    schema = "openplum_rel_" + secrets.token_hex(6)
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield StoreLocation(backend, tmp_path / "data", f"{PG_URL}{sep}schema={schema}")
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def cli(location: StoreLocation, *args: str) -> str:
    """Run ``openplum <args>`` on the store; its stdout (a failure fails the test with its stderr)."""
    result = subprocess.run([sys.executable, "-m", "openplum", *args], env=location.env(), capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, f"openplum {' '.join(args)}: {result.stderr}"
    return result.stdout


def create_app(location: StoreLocation, name: str) -> dict[str, Any]:
    """``openplum apps create``: ``{"appId", "name", "keys": {...}}``."""
    app: dict[str, Any] = json.loads(cli(location, "apps", "create", "--name", name))
    return app


class ServerProcess:
    """One ``openplum serve`` process at a time on ``location``; ``start`` again after ``kill`` to restart it."""

    def __init__(self, location: StoreLocation, log_path: Path, *args: str) -> None:
        self.location = location
        self.log_path = log_path
        self.args = args
        """Further ``serve`` options (``--workers 2``)."""
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._proc is not None, "not started"
        return self._proc.pid

    def start(self) -> None:
        assert self._proc is None or self._proc.poll() is not None, "already running"
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        with self.log_path.open("ab") as log:
            log.write(f"--- openplum serve on port {port}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "openplum", "serve", "--port", str(port), "--log-level", "warning",
                 *self.args],
                env=self.location.env(), stdout=log, stderr=log,
            )
        self._wait_until_healthy()

    def _wait_until_healthy(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise AssertionError(f"openplum serve exited with {self._proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"openplum serve was not healthy within {START_TIMEOUT_S} s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, no goodbye."""
        assert self._proc is not None
        os.kill(self._proc.pid, signal.SIGKILL)
        self._proc.wait(timeout=30)
        assert self._proc.returncode == -signal.SIGKILL

    def stop(self) -> int | None:
        """SIGTERM and wait (a no-op when it is not running); the exit status."""
        if self._proc is None or self._proc.poll() is not None:
            return None if self._proc is None else self._proc.returncode
        self._proc.terminate()
        try:
            return self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            return self._proc.wait(timeout=30)

    def log(self, max_chars: int = 8000) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text[-max_chars:]
