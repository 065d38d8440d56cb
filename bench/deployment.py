"""One openplum under test: its store (a fresh SQLite directory or a fresh PostgreSQL schema), the app the load
uses, an admin token, the server itself, and the data set up before the load."""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from bench import content, workload
from bench.client import Client, parallel
from bench.servers import Server, openplum

APP_ID = "app_bench"
KEYS = {"production": "prod_bench", "development": "dev_bench", "dataExport": "exp_bench"}
EXPORT_USERS = 1000


def sqlite_env(directory: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENPLUM_")}
    return {**env, "OPENPLUM_DATA_DIR": str(directory)}


def postgres_env(url: str) -> tuple[dict[str, str], str]:
    """The environment for a fresh schema ``bench_<random>`` (created by openplum on first use)."""
    schema = f"bench_{secrets.token_hex(4)}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENPLUM_")}
    sep = "&" if "?" in url else "?"
    return {**env, "OPENPLUM_DATABASE_URL": f"{url}{sep}schema={schema}"}, schema


def drop_schema(url: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@dataclass
class Deployment:
    backend: str
    env: dict[str, str]
    logs: Path
    token: str = ""
    server: Server | None = None
    users: int = 0

    def create_app(self) -> None:
        openplum(["apps", "create", "--name", "bench", "--app-id", APP_ID, "--production-key", KEYS["production"],
                  "--development-key", KEYS["development"], "--data-export-key", KEYS["dataExport"]], self.env)
        self.token = openplum(["admin-token", "create", "--name", "bench"], self.env)

    def serve(self, workers: int) -> Server:
        self.stop()
        self.server = Server.openplum(self.env, workers, self.logs / f"openplum-{self.backend}-{workers}.log").start()
        return self.server

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    @property
    def client(self) -> Client:
        assert self.server is not None
        return Client(self.server.port)

    def set_up_content(self) -> None:
        content.set_up(self.client, APP_ID, KEYS["development"], self.token)

    def populate(self, users: int) -> float:
        """Start a session for users ``u1`` .. ``uN`` (50 per batch); return the seconds it took."""
        began, at = time.monotonic(), time.time() - 7 * 86400
        ranges = [(first, min(first + workload.BATCH - 1, users)) for first in range(1, users + 1, workload.BATCH)]

        def send(client: Client, span: tuple[int, int]) -> None:
            items = workload.start_batch(APP_ID, KEYS["production"], span[0], span[1], at + span[0])
            client.multi(APP_ID, KEYS["production"], items)

        parallel(self.client, ranges, send)
        self.users = users
        return time.monotonic() - began

    def give_histories(self, users: int = EXPORT_USERS) -> None:
        """One event of each of 100 names for users ``u1`` .. ``uN``: the profiles exportUser reads."""
        at = time.time() - 86400

        def send(client: Client, user: int) -> None:
            client.multi(APP_ID, KEYS["production"], workload.history_batch(APP_ID, KEYS["production"], user, at))

        parallel(self.client, list(range(1, users + 1)), send)
