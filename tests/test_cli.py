"""The ``openplum`` command, run as a subprocess exactly as users and outside tooling run it."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import BACKENDS, PG_URL, free_port

KEY_PREFIXES = {"production": "prod_", "development": "dev_", "dataExport": "exp_", "contentReadOnly": "cro_"}


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENPLUM_")}
    env.update(extra)
    return env


def openplum(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "openplum", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=60, check=False)


def created(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, f"apps create must print one line of JSON, got {result.stdout!r}"
    app: dict[str, Any] = json.loads(lines[0])
    return app


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return base_env(OPENPLUM_DATA_DIR=str(tmp_path / "data"))


# -- apps create / apps list ---------------------------------------------------------------------------


def test_apps_create_prints_one_json_object(env: dict[str, str], tmp_path: Path) -> None:
    app = created(openplum("apps", "create", "--name", "Shop", env=env, cwd=tmp_path))
    assert set(app) == {"appId", "name", "keys"}
    assert app["name"] == "Shop"
    assert set(app["keys"]) == set(KEY_PREFIXES)


def test_apps_create_generates_prefixed_ids_and_keys(env: dict[str, str], tmp_path: Path) -> None:
    app = created(openplum("apps", "create", "--name", "Shop", env=env, cwd=tmp_path))
    assert app["appId"].startswith("app_")
    for key_class, prefix in KEY_PREFIXES.items():
        assert app["keys"][key_class].startswith(prefix)
        assert len(app["keys"][key_class]) >= len(prefix) + 20


def test_generated_keys_differ_between_apps(env: dict[str, str], tmp_path: Path) -> None:
    first = created(openplum("apps", "create", "--name", "A", env=env, cwd=tmp_path))
    second = created(openplum("apps", "create", "--name", "B", env=env, cwd=tmp_path))
    assert first["appId"] != second["appId"]
    assert not set(first["keys"].values()) & set(second["keys"].values())


def test_apps_create_keeps_chosen_id_and_keys(env: dict[str, str], tmp_path: Path) -> None:
    chosen = {"production": "prod_mine", "development": "dev_mine", "dataExport": "exp_mine",
              "contentReadOnly": "cro_mine"}
    app = created(openplum(
        "apps", "create", "--name", "Mine", "--app-id", "app_mine",
        "--production-key", chosen["production"], "--development-key", chosen["development"],
        "--data-export-key", chosen["dataExport"], "--content-read-only-key", chosen["contentReadOnly"],
        env=env, cwd=tmp_path,
    ))
    assert app == {"appId": "app_mine", "name": "Mine", "keys": chosen}


def test_apps_create_generates_the_keys_not_chosen(env: dict[str, str], tmp_path: Path) -> None:
    app = created(openplum("apps", "create", "--name", "Half", "--production-key", "prod_given",
                           env=env, cwd=tmp_path))
    assert app["keys"]["production"] == "prod_given"
    assert app["keys"]["development"].startswith("dev_")


def test_apps_create_with_an_existing_id_fails_clearly(env: dict[str, str], tmp_path: Path) -> None:
    created(openplum("apps", "create", "--name", "One", "--app-id", "app_dup", env=env, cwd=tmp_path))
    again = openplum("apps", "create", "--name", "Two", "--app-id", "app_dup", env=env, cwd=tmp_path)
    assert again.returncode != 0
    assert again.stdout == ""
    assert "app_dup" in again.stderr
    assert "already exists" in again.stderr
    assert "Traceback" not in again.stderr


def test_apps_create_with_invalid_input_fails_clearly(env: dict[str, str], tmp_path: Path) -> None:
    result = openplum("apps", "create", "--name", "Bad", "--app-id", "no spaces allowed", env=env, cwd=tmp_path)
    assert result.returncode != 0
    assert "app id" in result.stderr
    assert "Traceback" not in result.stderr


def test_apps_list_prints_a_json_list_of_the_apps(env: dict[str, str], tmp_path: Path) -> None:
    empty = openplum("apps", "list", env=env, cwd=tmp_path)
    assert empty.returncode == 0, empty.stderr
    assert json.loads(empty.stdout) == []
    one = created(openplum("apps", "create", "--name", "Listed", env=env, cwd=tmp_path))
    listed = openplum("apps", "list", env=env, cwd=tmp_path)
    assert json.loads(listed.stdout) == [one]


def test_without_configuration_data_lives_in_openplum_data(tmp_path: Path) -> None:
    created(openplum("apps", "create", "--name", "Default", env=base_env(), cwd=tmp_path))
    assert (tmp_path / "openplum-data" / "openplum.db").is_file()


# -- migrate -------------------------------------------------------------------------------------------


def test_migrate_applies_then_has_nothing_to_apply(env: dict[str, str], tmp_path: Path) -> None:
    first = openplum("migrate", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["backend"] == "sqlite"
    assert report["applied"]
    second = openplum("migrate", env=env, cwd=tmp_path)
    assert json.loads(second.stdout)["applied"] == []


# -- PostgreSQL, selected by the environment -----------------------------------------------------------


@pytest.fixture
def pg_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    if "postgres" not in BACKENDS:
        pytest.skip("PostgreSQL backend not selected")
    schema = "openplum_cli_" + secrets.token_hex(6)
    sep = "&" if "?" in PG_URL else "?"
    yield base_env(OPENPLUM_DATABASE_URL=f"{PG_URL}{sep}schema={schema}", OPENPLUM_DATA_DIR=str(tmp_path / "data"))
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_apps_create_and_list_on_postgres(pg_env: dict[str, str], tmp_path: Path) -> None:
    app = created(openplum("apps", "create", "--name", "PG", env=pg_env, cwd=tmp_path))
    listed = openplum("apps", "list", env=pg_env, cwd=tmp_path)
    assert json.loads(listed.stdout) == [app]
    assert not (tmp_path / "data" / "openplum.db").exists(), "PostgreSQL was selected, not SQLite"


def test_migrate_on_postgres(pg_env: dict[str, str], tmp_path: Path) -> None:
    result = openplum("migrate", env=pg_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["backend"] == "postgres"


def test_unreachable_postgres_is_a_clear_error(tmp_path: Path) -> None:
    env = base_env(OPENPLUM_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/test")
    result = openplum("apps", "list", env=env, cwd=tmp_path)
    assert result.returncode != 0
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert "PostgreSQL" in result.stderr


def test_database_url_must_be_postgresql(tmp_path: Path) -> None:
    result = openplum("apps", "list", env=base_env(OPENPLUM_DATABASE_URL="mysql://x/y"), cwd=tmp_path)
    assert result.returncode != 0
    assert "postgresql://" in result.stderr


# -- serve ---------------------------------------------------------------------------------------------


def test_serve_answers_health_and_api(env: dict[str, str], tmp_path: Path) -> None:
    app = created(openplum("apps", "create", "--name", "Served", env=env, cwd=tmp_path))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "openplum", "serve", "--port", str(port)], env=env,
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        health = _wait_for_health(url, proc)
        assert health.status_code == 200
        assert health.headers["content-type"] == "application/json"
        response = httpx.get(f"{url}/api", params={"appId": app["appId"], "clientKey": app["keys"]["production"],
                                                   "action": "getMigrateState"})
        assert response.json()["response"][0]["sdk"] == "lp"
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=20)
    # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught so the exit status tells why it stopped.
    assert proc.returncode in (0, -signal.SIGTERM), stderr
    assert "shutdown complete" in stderr, stderr


def _wait_for_health(url: str, proc: subprocess.Popen[str]) -> httpx.Response:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"openplum serve exited early: {proc.stderr.read() if proc.stderr else ''}")
        try:
            return httpx.get(f"{url}/health", timeout=2)
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("openplum serve did not answer /health within 30 s")


def test_admin_tokens_are_listed_without_secrets_and_revoked_at_once(tmp_path: Path) -> None:
    env = {**os.environ, "OPENPLUM_DATA_DIR": str(tmp_path)}
    env.pop("OPENPLUM_DATABASE_URL", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "openplum", *args], env=env, capture_output=True, text=True,
                              timeout=60, check=False)

    token = cli("admin-token", "create", "--name", "ops").stdout.strip()
    assert token.startswith("opk_")
    listed = json.loads(cli("admin-token", "list").stdout)
    assert [(t["name"], t["revoked"]) for t in listed] == [("ops", None)]
    secret = token.removeprefix("opk_").partition("_")[2]  # the secret may itself hold "_" (URL-safe base64)
    assert secret
    assert secret not in json.dumps(listed)
    assert cli("admin-token", "revoke", token).returncode == 0
    assert json.loads(cli("admin-token", "list").stdout)[0]["revoked"] is not None
    again = cli("admin-token", "revoke", token)
    assert again.returncode == 1
    assert "no active token" in again.stderr


def test_a_data_directory_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = openplum("apps", "list", env=base_env(OPENPLUM_DATA_DIR=str(blocker / "data")), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert "cannot open the store" in result.stderr
    assert str(blocker / "data") in result.stderr
