"""How ``openplum serve`` logs in each of its processes (``openplum.logs``): uvicorn spawns its workers afresh
and configures only its own loggers there, so openplum's records would otherwise be dropped or printed bare."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from openplum import logs

_WORKER = (
    "import logging, sys; from pathlib import Path; from openplum.app import create_app; "
    "from openplum.settings import Settings; create_app(Settings(data_dir=Path(sys.argv[1]))); "
    "logging.getLogger('openplum.store.writer').info('a write was chosen as a deadlock victim')"
)
"""A fresh interpreter that builds the app as each worker process does, then logs one INFO record."""


def _worker(tmp_path: Path, **extra: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENPLUM_")}
    result = subprocess.run([sys.executable, "-c", _WORKER, str(tmp_path)], env={**env, **extra},
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_a_worker_process_logs_openplums_records_at_the_servers_level(tmp_path: Path) -> None:
    printed = _worker(tmp_path, OPENPLUM_LOG_LEVEL="info")
    assert " INFO openplum.store.writer: a write was chosen as a deadlock victim" in printed


def test_a_worker_process_leaves_out_what_is_below_the_servers_level(tmp_path: Path) -> None:
    assert "deadlock" not in _worker(tmp_path, OPENPLUM_LOG_LEVEL="warning")


def test_an_app_built_outside_openplum_serve_leaves_logging_to_its_host(tmp_path: Path) -> None:
    assert "deadlock" not in _worker(tmp_path)


def test_serve_hands_its_level_to_the_processes_it_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(logs.LEVEL_VARIABLE, raising=False)
    logs.configure("debug")
    assert os.environ[logs.LEVEL_VARIABLE] == "debug"
