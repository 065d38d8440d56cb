"""Fixtures for the end-to-end test of openplum with the official Leanplum JavaScript SDK.

What the fixtures put together:

- ``openplum_server``: a real ``python -m openplum serve`` process on a free loopback port, with its own
  SQLite data directory, and, when ``OPENPLUM_TEST_DATABASE_URL`` is set, a second one on PostgreSQL (a fresh
  schema for the test session). Tests using it run once per backend.
- ``e2e_app``: an app created with ``python -m openplum apps create``; its keys come from the CLI's output.
- ``page_server``: a static HTTP server on *another* port, serving ``pages/`` and the SDK bundle from
  ``node_modules``, so every SDK call to ``/api`` is a cross-origin (CORS) request, as on a customer's site.
- ``sdk``: a fresh Chromium tab (fresh localStorage, hence a new SDK device id) on that page, with the SDK
  pointed at the server in production mode; a ``LeanplumPage`` that drives the SDK's public API and records
  every request the page makes, every console error and every uncaught page error.
- ``export_user``: reads a profile back through the ``exportUser`` API action with the data-export key.
- ``manage``: the management API (``/manage/v1``) with an admin token from ``openplum admin-token create``.
- ``content_app`` / ``content_sdk``: a fresh app per test and the SDK page for it, for tests that change
  content (variables, A/B tests), so other tests' users never receive it.

Install the browser and the SDK with ``scripts/install-e2e``; without them the tests fail.
The backends are those of the whole suite (``OPENPLUM_TEST_BACKENDS``, ``OPENPLUM_TEST_DATABASE_URL``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from tests.conftest import BACKENDS, PG_URL

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request

E2E_DIR = Path(__file__).resolve().parent
REPO_ROOT = E2E_DIR.parents[1]
SDK_PACKAGE_DIR = E2E_DIR / "node_modules" / "leanplum-sdk"
SDK_VERSION = "1.9.0"
PAGE_PATH = "/pages/journey.html"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

SERVER_START_TIMEOUT_S = 20.0
CLI_TIMEOUT_S = 30.0
SDK_NETWORK_TIMEOUT_S = 5  # Leanplum.setNetworkTimeout in the page (the SDK's default is 10 s)
SDK_CALLBACK_TIMEOUT_MS = 12_000  # a start/forceContentUpdate callback that never fires fails the test
FLUSH_TIMEOUT_S = 15.0
APP_VERSION = "2.3.1"

# localStorage keys of the SDK's request queue (src/Constants.ts, DEFAULT_KEYS in 1.9.0)
SDK_UNSYNCED_COUNT_KEY = "__leanplum_unsynced"
SDK_DEVICE_ID_KEY = "__leanplum_device_id"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: runs the official Leanplum JavaScript SDK in headless Chromium against a real server"
    )


# ------------------------------------------------------------------------------------------------------------
# openplum server process and app
# ------------------------------------------------------------------------------------------------------------


@dataclass
class OpenplumServer:
    backend: str
    base_url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    stderr_path: Path

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api"

    def stderr_tail(self, max_chars: int = 20_000) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError as exc:
            return f"(cannot read server stderr: {exc})"
        return text[-max_chars:] if text else "(server stderr is empty)"


@dataclass(frozen=True)
class E2eApp:
    app_id: str
    name: str
    production_key: str
    development_key: str
    data_export_key: str
    content_read_only_key: str


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with_query_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    extra = urlencode({name: value})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped again at the end of the session."""
    base_url = PG_URL
    import psycopg
    from psycopg import sql

    schema = f"e2e_{secrets.token_hex(6)}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield _with_query_param(base_url, "options", f"-csearch_path={schema}")
    finally:
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@dataclass(frozen=True)
class Backend:
    """A storage backend and the environment openplum processes (server and CLI) run with for it."""

    name: str
    env: dict[str, str]


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Backend:
    name: str = request.param
    env = {k: v for k, v in os.environ.items() if k not in ("OPENPLUM_DATABASE_URL", "OPENPLUM_DATA_DIR")}
    env["OPENPLUM_DATA_DIR"] = str(tmp_path_factory.mktemp(f"openplum-data-{name}"))
    env["PYTHONUNBUFFERED"] = "1"
    if name == "postgres":
        env["OPENPLUM_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    return Backend(name, env)


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def openplum_server(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenplumServer]:
    """``python -m openplum serve`` on a free loopback port, answering ``GET /health`` with 200."""
    port = _free_port()
    log_dir = tmp_path_factory.mktemp(f"openplum-server-{backend.name}")
    stderr_path = log_dir / "stderr.log"
    base_url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "openplum", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with open(log_dir / "stdout.log", "wb") as stdout_file, open(stderr_path, "wb") as stderr_file:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=backend.env, stdout=stdout_file, stderr=stderr_file)
    server = OpenplumServer(backend.name, base_url, backend.env, process, stderr_path)
    try:
        _wait_for_health(server)
        yield server
    finally:
        _stop_process(process)


def _wait_for_health(server: OpenplumServer) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    last_problem = "no answer yet"
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                pytest.fail(
                    f"openplum server ({server.backend}) exited with code {server.process.returncode} "
                    f"before answering /health.\n--- server stderr ---\n{server.stderr_tail()}",
                    pytrace=False,
                )
            try:
                response = client.get(f"{server.base_url}/health")
            except httpx.TransportError as exc:
                last_problem = repr(exc)
            else:
                if response.status_code == 200:
                    return
                last_problem = f"HTTP {response.status_code}: {response.text[:500]}"
            time.sleep(0.1)
    pytest.fail(
        f"openplum server ({server.backend}) did not answer GET /health with 200 within "
        f"{SERVER_START_TIMEOUT_S:.0f} s (last: {last_problem}).\n"
        f"--- server stderr ---\n{server.stderr_tail()}",
        pytrace=False,
    )


def _run_cli(server: OpenplumServer, *args: str) -> str:
    """``python -m openplum <args>`` with the server's environment (same store); its stdout, exit 0 asserted."""
    command = [sys.executable, "-m", "openplum", *args]
    result = subprocess.run(
        command, cwd=REPO_ROOT, env=server.env, capture_output=True, timeout=CLI_TIMEOUT_S, check=False
    )
    stdout = result.stdout.decode(errors="replace")
    stderr = result.stderr.decode(errors="replace")
    if result.returncode != 0:
        pytest.fail(
            f"`openplum {' '.join(args[:2])}` exited with {result.returncode}\n--- stdout ---\n{stdout}\n"
            f"--- stderr ---\n{stderr}",
            pytrace=False,
        )
    return stdout


def create_app(server: OpenplumServer, name: str) -> E2eApp:
    """An app ``app_<name>`` (keys ``prod_<name>`` etc.) created through the CLI, with the keys it reports."""
    stdout = _run_cli(
        server, "apps", "create",
        "--name", name,
        "--app-id", f"app_{name}",
        "--production-key", f"prod_{name}",
        "--development-key", f"dev_{name}",
        "--data-export-key", f"exp_{name}",
        "--content-read-only-key", f"cro_{name}",
    )  # fmt: skip
    try:
        created = json.loads(stdout)
        keys = created["keys"]
        return E2eApp(
            app_id=created["appId"],
            name=created["name"],
            production_key=keys["production"],
            development_key=keys["development"],
            data_export_key=keys["dataExport"],
            content_read_only_key=keys["contentReadOnly"],
        )
    except (ValueError, KeyError, TypeError) as exc:
        pytest.fail(
            f"`openplum apps create` did not print the expected JSON object ({exc!r})\n--- stdout ---\n{stdout}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def e2e_app(openplum_server: OpenplumServer) -> E2eApp:
    """The app ``app_e2e`` created through the CLI, with the keys the CLI reports."""
    return create_app(openplum_server, "e2e")


@pytest.fixture(scope="session")
def admin_token(openplum_server: OpenplumServer) -> str:
    """A management API token from ``openplum admin-token create`` (it prints the token, once)."""
    token = _run_cli(openplum_server, "admin-token", "create", "--name", "e2e").strip()
    assert token, "`openplum admin-token create` printed nothing"
    assert len(token.split()) == 1, f"`openplum admin-token create` printed {token!r}"
    return token


class ManagementApi:
    """JSON calls to ``/manage/v1`` with the admin token; each asserts the HTTP status it expects."""

    def __init__(self, base_url: str, token: str) -> None:
        self.http = httpx.Client(
            base_url=f"{base_url}/manage/v1", headers={"Authorization": f"Bearer {token}"}, timeout=5.0
        )

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = self.http.request(method, path, json=body)
        assert response.status_code == expect, (
            f"{method} /manage/v1{path} {json.dumps(body)}: expected HTTP {expect}, "
            f"got {response.status_code}: {response.text[:2000]}"
        )
        return response.json()

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def manage(openplum_server: OpenplumServer, admin_token: str) -> Iterator[ManagementApi]:
    api = ManagementApi(openplum_server.base_url, admin_token)
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def export_user(openplum_server: OpenplumServer, e2e_app: E2eApp) -> Iterator[Callable[[str], dict[str, Any]]]:
    """``export_user(user_id)`` -> the profile item of ``exportUser`` (HTTP 200 and ``success`` asserted)."""
    with httpx.Client(timeout=5.0) as client:

        def export(user_id: str) -> dict[str, Any]:
            response = client.get(
                openplum_server.api_url,
                params={
                    "action": "exportUser",
                    "appId": e2e_app.app_id,
                    "clientKey": e2e_app.data_export_key,
                    "userId": user_id,
                },
            )
            assert response.status_code == 200, f"exportUser: HTTP {response.status_code}: {response.text[:2000]}"
            body = response.json()
            items = body.get("response")
            assert isinstance(items, list), f"exportUser: no response list in {body!r}"
            assert len(items) == 1, f"exportUser: expected one response item, got {body!r}"
            profile: dict[str, Any] = items[0]
            assert profile.get("success") is True, f"exportUser failed: {profile!r}"
            return profile

        yield export


# ------------------------------------------------------------------------------------------------------------
# Page server (the "customer site", on another origin than the API)
# ------------------------------------------------------------------------------------------------------------


class _PageRequestHandler(SimpleHTTPRequestHandler):
    """Serves the test page and the SDK's dist files from tests/e2e, nothing else."""

    served_prefixes = ("/pages/", "/node_modules/leanplum-sdk/dist/")

    def do_GET(self) -> None:
        if not self.path.startswith(self.served_prefixes) or ".." in self.path:
            self.send_error(404)
            return
        super().do_GET()

    def do_HEAD(self) -> None:
        self.do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class PageServer:
    origin: str

    def page_url(self, **query: str) -> str:
        return f"{self.origin}{PAGE_PATH}?{urlencode(query)}"


@pytest.fixture(scope="session")
def page_server() -> Iterator[PageServer]:
    handler = functools.partial(_PageRequestHandler, directory=str(E2E_DIR))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, name="e2e-page-server", daemon=True)
    thread.start()
    try:
        yield PageServer(origin=f"http://127.0.0.1:{httpd.server_address[1]}")
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


# ------------------------------------------------------------------------------------------------------------
# Browser and the SDK page
# ------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Module-scoped: Playwright's sync API keeps an event loop running in this thread while it is open,
    which would break every later test that calls ``asyncio.run``."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-e2e")
    if not (SDK_PACKAGE_DIR / "dist" / "leanplum.min.js").exists():
        pytest.fail("tests/e2e/node_modules/leanplum-sdk is missing: run scripts/install-e2e")
    installed = json.loads((SDK_PACKAGE_DIR / "package.json").read_text())["version"]
    assert installed == SDK_VERSION, f"leanplum-sdk {installed} installed, {SDK_VERSION} expected: run npm ci"
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class ApiExchange:
    """One HTTP request the page sent to openplum's /api, with the SDK items it carried."""

    request: Request
    items: list[dict[str, Any]]

    @property
    def actions(self) -> list[str]:
        return [str(item.get("action")) for item in self.items]


class LeanplumPage:
    """A Chromium tab on the page origin running the SDK, configured for openplum in production mode.

    Its methods call the SDK's public API inside the page (``Leanplum.track(...)`` etc.). Everything the page
    sends is recorded, so a test can wait until the SDK's queue is flushed and then check each answer.
    """

    def __init__(self, page: Page, api_url: str, page_origin: str) -> None:
        self.page = page
        self.api_url = api_url
        self.page_origin = page_origin
        self.api_requests: list[Request] = []
        self.settled_api_requests = 0
        self.failed_api_requests: list[str] = []
        self.foreign_requests: list[str] = []
        self.console_errors: list[str] = []
        self.console_log: list[str] = []
        self.page_errors: list[str] = []
        page.on("request", self._on_request)
        page.on("requestfinished", self._on_request_settled)
        page.on("requestfailed", self._on_request_failed)
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))

    # -- recording -------------------------------------------------------------------------------------------

    def _is_api(self, request: Request) -> bool:
        return request.url.split("?", 1)[0] == self.api_url

    def _on_request(self, request: Request) -> None:
        if self._is_api(request):
            self.api_requests.append(request)
        elif not request.url.startswith((self.page_origin + "/", "data:")):
            self.foreign_requests.append(f"{request.method} {request.url}")

    def _on_request_settled(self, request: Request) -> None:
        if self._is_api(request):
            self.settled_api_requests += 1

    def _on_request_failed(self, request: Request) -> None:
        if self._is_api(request):
            self.settled_api_requests += 1
            self.failed_api_requests.append(f"{request.method} {request.url}: {request.failure}")

    def _on_console(self, message: ConsoleMessage) -> None:
        line = f"[{message.type}] {message.text}"
        self.console_log.append(line)
        if message.type == "error":
            self.console_errors.append(line)

    # -- the SDK's public API --------------------------------------------------------------------------------

    def _call(self, method: str, *args: Any) -> None:
        self.page.evaluate("([method, args]) => { Leanplum[method](...args) }", [method, list(args)])

    def _call_with_status_callback(self, method: str, *args: Any) -> bool:
        """Calls ``Leanplum[method](...args, callback)`` and returns the success flag the SDK passes back."""
        result = self.page.evaluate(
            """([method, args, timeoutMs]) => Promise.race([
                new Promise(resolve => Leanplum[method](...args, success => resolve(success))),
                new Promise((_, reject) => setTimeout(
                    () => reject(new Error(`Leanplum.${method}: no callback in ${timeoutMs} ms`)),
                    timeoutMs)),
            ])""",
            [method, list(args), SDK_CALLBACK_TIMEOUT_MS],
        )
        return bool(result)

    def start(self, user_id: str | None, attributes: dict[str, Any]) -> bool:
        """``Leanplum.start(userId, attributes, callback)``; anonymous: ``start(attributes, callback)``."""
        if user_id is None:
            return self._call_with_status_callback("start", attributes)
        return self._call_with_status_callback("start", user_id, attributes)

    def track(self, event: str, value: float | None = None, params: dict[str, Any] | None = None) -> None:
        args: list[Any] = [event]
        if value is not None:
            args.append(value)
        if params is not None:
            args.append(params)
        self._call("track", *args)

    def track_purchase(self, value: float, currency_code: str, params: dict[str, Any]) -> None:
        self._call("trackPurchase", value, currency_code, params)

    def advance_to(self, state: str, info: str, params: dict[str, Any]) -> None:
        self._call("advanceTo", state, info, params)

    def set_user_attributes(self, attributes: dict[str, Any]) -> None:
        self._call("setUserAttributes", attributes)

    def set_user_id(self, user_id: str) -> None:
        self._call("setUserId", user_id)

    def force_content_update(self) -> bool:
        """``Leanplum.forceContentUpdate(callback)``: sends ``getVars`` at once, with every queued call."""
        return self._call_with_status_callback("forceContentUpdate")

    def set_variables(self, defaults: dict[str, Any]) -> None:
        """``Leanplum.setVariables(defaults)``: the code's defaults, which the SDK merges the server's values
        onto. In production mode 1.9.0 keeps them local (``setVars`` only goes out in dev mode)."""
        self._call("setVariables", defaults)

    def variables(self) -> Any:
        """``Leanplum.getVariables()``: the code defaults merged with the values the server sent."""
        return self.page.evaluate("() => Leanplum.getVariables()")

    def variable(self, *path: str) -> Any:
        """``Leanplum.getVariable(...path)``."""
        return self.page.evaluate("path => Leanplum.getVariable(...path)", list(path))

    def variants(self) -> list[Any]:
        """``Leanplum.getVariants()``: the ``variants`` list of the last start/getVars answer, as JSON text
        parsed in Python, so ids come back exactly as the SDK holds them (JS numbers)."""
        text = self.page.evaluate("() => JSON.stringify(Leanplum.getVariants())")
        value = json.loads(text)
        assert isinstance(value, list), f"Leanplum.getVariants() returned {text}"
        return value

    def pause_session(self) -> None:
        self._call("pauseSession")

    def resume_session(self) -> None:
        self._call("resumeSession")

    def stop(self) -> None:
        self._call("stop")

    def idle(self, seconds: float) -> None:
        self.page.wait_for_timeout(seconds * 1000)

    # -- what happened ---------------------------------------------------------------------------------------

    def device_id(self) -> str:
        return str(self.page.evaluate("key => localStorage.getItem(key)", SDK_DEVICE_ID_KEY))

    def _unsynced_count(self) -> int:
        return int(self.page.evaluate("key => Number(localStorage.getItem(key) || 0)", SDK_UNSYNCED_COUNT_KEY))

    def exchanges(self) -> list[ApiExchange]:
        return [ApiExchange(request, _items_of(request)) for request in self.api_requests]

    def sent_actions(self) -> list[str]:
        return [action for exchange in self.exchanges() for action in exchange.actions]

    def sent_items(self, action: str) -> list[dict[str, Any]]:
        return [item for exchange in self.exchanges() for item in exchange.items if item.get("action") == action]

    def wait_until_flushed(self, last_action: str) -> None:
        """Waits until the SDK's localStorage queue is empty, ``last_action`` was sent and every /api request
        the page made got its answer (or failed)."""
        deadline = time.monotonic() + FLUSH_TIMEOUT_S
        while True:
            unsynced = self._unsynced_count()
            sent_last = last_action in self.sent_actions()
            settled = self.settled_api_requests == len(self.api_requests)
            if unsynced == 0 and sent_last and settled:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"SDK not flushed after {FLUSH_TIMEOUT_S:.0f} s: {unsynced} calls still queued in "
                    f"localStorage, {last_action!r} sent: {sent_last}, "
                    f"{len(self.api_requests) - self.settled_api_requests} /api requests unanswered\n"
                    + self.transcript()
                )
            self.page.wait_for_timeout(100)

    def api_problems(self) -> list[str]:
        """Everything wrong with the /api exchanges so far, as readable lines (empty when all is well)."""
        problems = list(self.failed_api_requests)
        for exchange in self.exchanges():
            request = exchange.request
            label = f"{request.method} {request.url} {exchange.actions}"
            origin = request.all_headers().get("origin")
            if origin != self.page_origin:
                problems.append(f"{label}: sent with Origin {origin!r}, expected the page origin")
            response = request.response()
            if response is None:
                if not any(request.url in failed for failed in self.failed_api_requests):
                    problems.append(f"{label}: no response")
                continue
            if response.status != 200:
                problems.append(f"{label}: HTTP {response.status}: {_safe_text(response)[:1000]}")
                continue
            allowed_origin = response.all_headers().get("access-control-allow-origin")
            if allowed_origin not in ("*", self.page_origin):
                problems.append(
                    f"{label}: Access-Control-Allow-Origin is {allowed_origin!r}, so the browser hides the "
                    f"answer from the SDK (page origin {self.page_origin})"
                )
            try:
                body = json.loads(response.body())
            except ValueError:
                problems.append(f"{label}: answer is not JSON: {_safe_text(response)[:1000]}")
                continue
            items = body.get("response") if isinstance(body, dict) else None
            if not isinstance(items, list) or len(items) != len(exchange.items):
                problems.append(f"{label}: expected {len(exchange.items)} response items, got {body!r}")
                continue
            for sent, answered in zip(exchange.items, items, strict=True):
                if not isinstance(answered, dict) or answered.get("success") is not True:
                    problems.append(f"{label}: {sent.get('action')} not successful: {answered!r}")
                elif "error" in answered or "warning" in answered:
                    problems.append(f"{label}: {sent.get('action')} answered with {answered!r}")
        return problems

    def transcript(self) -> str:
        lines = ["--- /api traffic (request actions -> answer) ---"]
        for exchange in self.exchanges():
            response = exchange.request.response()
            answer = f"HTTP {response.status} {_safe_text(response)[:1500]}" if response else "(no answer)"
            lines.append(f"{exchange.request.method} {exchange.request.url}")
            lines.append(f"    sent: {json.dumps(exchange.items)[:3000]}")
            lines.append(f"    got:  {answer}")
        lines.extend(f"failed: {failure}" for failure in self.failed_api_requests)
        lines.extend(f"request to a foreign host: {foreign}" for foreign in self.foreign_requests)
        lines.append("--- browser console ---")
        lines.extend(self.console_log or ["(empty)"])
        lines.extend(f"uncaught page error: {error}" for error in self.page_errors)
        return "\n".join(lines)


def _safe_text(response: Any) -> str:
    try:
        return str(response.text())
    except Exception as exc:  # the body can be unavailable, e.g. after a network error
        return f"(body unavailable: {exc})"


def _items_of(request: Request) -> list[dict[str, Any]]:
    """The SDK calls a request carries: the ``data`` list of a ``multi``, else the query as one item."""
    query: dict[str, Any] = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))
    if query.get("action") == "multi":
        try:
            body = json.loads(request.post_data or "")
        except ValueError:
            return [{"action": "multi", "unparsable body": request.post_data}]
        data = body.get("data") if isinstance(body, dict) else None
        return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
    return [query]


@contextlib.contextmanager
def _sdk_page(browser: Browser, page_server: PageServer, server: OpenplumServer, app: E2eApp) -> Iterator[LeanplumPage]:
    """A fresh browser profile on the page origin with the SDK configured for ``app`` (production key).
    Loading the page sends nothing: the SDK's first request is the test's ``Leanplum.start``."""
    context = browser.new_context()
    context.set_default_timeout(15_000)
    page = context.new_page()
    lp_page = LeanplumPage(page, server.api_url, page_server.origin)
    try:
        page.goto(
            page_server.page_url(
                apiPath=server.api_url,
                appId=app.app_id,
                productionKey=app.production_key,
                appVersion=APP_VERSION,
                networkTimeout=str(SDK_NETWORK_TIMEOUT_S),
            )
        )
        page.wait_for_function("() => window.e2eConfigured === true")
        assert page.evaluate("() => Leanplum.VERSION") == SDK_VERSION
        yield lp_page
    finally:
        context.close()


@pytest.fixture
def sdk(
    browser: Browser, page_server: PageServer, openplum_server: OpenplumServer, e2e_app: E2eApp
) -> Iterator[LeanplumPage]:
    """The SDK page for the shared app ``app_e2e``."""
    with _sdk_page(browser, page_server, openplum_server, e2e_app) as lp_page:
        yield lp_page


@pytest.fixture
def content_app(openplum_server: OpenplumServer) -> E2eApp:
    """A fresh app per test, for tests that define variables and run A/B tests (so nothing leaks into the
    content that other tests' users receive)."""
    return create_app(openplum_server, f"e2e_content_{secrets.token_hex(3)}")


@pytest.fixture
def content_sdk(
    browser: Browser, page_server: PageServer, openplum_server: OpenplumServer, content_app: E2eApp
) -> Iterator[LeanplumPage]:
    """The SDK page for ``content_app``."""
    with _sdk_page(browser, page_server, openplum_server, content_app) as lp_page:
        yield lp_page


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On failure, attach the SDK traffic and the server's stderr to the report."""
    report = yield
    if report.failed and call.when in ("setup", "call"):
        funcargs = getattr(item, "funcargs", {})
        for name, lp_page in funcargs.items():
            if not isinstance(lp_page, LeanplumPage):
                continue
            try:
                report.sections.append((f"Leanplum SDK traffic ({name})", lp_page.transcript()))
            except Exception as exc:  # never let diagnostics hide the real failure
                report.sections.append((f"Leanplum SDK traffic ({name})", f"(unavailable: {exc!r})"))
        server = funcargs.get("openplum_server")
        if isinstance(server, OpenplumServer):
            report.sections.append((f"openplum server stderr ({server.backend})", server.stderr_tail()))
    return report
