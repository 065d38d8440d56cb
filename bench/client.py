"""A small keep-alive HTTP client on the standard library, for setting a server up (never for the load itself:
that is wrk's job). One connection per thread, so a thread pool can populate in parallel."""

from __future__ import annotations

import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode


class SetupError(RuntimeError):
    """The server refused a set-up request: the benchmark cannot go on."""


class Client:
    def __init__(self, port: int) -> None:
        self.port = port
        self._local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        return conn

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                *, expect: tuple[int, ...] = (200, 201)) -> Any:
        raw = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        for attempt in range(2):  # a keep-alive connection the server closed is reopened once
            conn = self._conn()
            try:
                conn.request(method, path, body=raw, headers=headers or {})
                response = conn.getresponse()
                data = response.read()
                break
            except (ConnectionError, http.client.HTTPException):
                conn.close()
                self._local.conn = None
                if attempt:
                    raise
        if response.status not in expect:
            raise SetupError(f"{method} {path[:80]} answered {response.status}: {data[:300]!r}")
        return json.loads(data) if data else None

    def api(self, params: dict[str, str], body: Any = None, *, content_type: str = "text/plain") -> Any:
        method = "GET" if body is None else "POST"
        return self.request(method, "/api?" + urlencode(params), body, {"Content-Type": content_type})

    def multi(self, app_id: str, key: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One JS-style batch; raises unless every item succeeded."""
        params = {"appId": app_id, "client": "js", "clientKey": key, "sdkVersion": "1.9.0", "action": "multi",
                  "time": items[-1]["time"]}
        answers: list[dict[str, Any]] = self.api(params, {"data": items})["response"]
        failed = [a for a in answers if not a.get("success")]
        if failed:
            raise SetupError(f"batch item failed: {failed[0]}")
        return answers

    def manage(self, method: str, path: str, token: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        return self.request(method, "/manage/v1" + path, body, headers)

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.request("GET", "/health")
                return
            except (OSError, SetupError, http.client.HTTPException):
                self._local.conn = None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def parallel(client: Client, jobs: list[Any], fn: Any, connections: int = 8) -> None:
    """Run ``fn(client, job)`` for every job over ``connections`` keep-alive connections."""
    with ThreadPoolExecutor(max_workers=connections) as pool:
        for future in [pool.submit(fn, client, job) for job in jobs]:
            future.result()
