"""Outbound HTTP (postbacks, export callbacks) reaches only the addresses it checked.

A real HTTP server on loopback stands for the outside world; ``OPENPLUM_OUTBOUND_ALLOW`` lets the clients
reach it. Where a test needs a name to resolve differently over time (DNS rebinding), the name service is
replaced by a table, since no real resolver here can be told to change its answer.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from openplum.services import outbound
from openplum.services.outbound import UnsafeUrl, async_client, check_url, client
from openplum.settings import Settings

LOOPBACK_ALLOWED = Settings(data_dir=Path("unused"), outbound_allow=("127.0.0.1/32", "::1/128"))
NOTHING_ALLOWED = Settings(data_dir=Path("unused"))


class _Echo(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = (self.headers.get("Host") or "").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def echo() -> Iterator[int]:
    """The port of a server on 127.0.0.1 that answers each POST with the Host header it received."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def _resolver(answers: list[str]) -> Callable[..., list[Any]]:
    """A name service answering each lookup with the next address of ``answers`` (the last one stays)."""
    real = socket.getaddrinfo

    def lookup(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host != "app.example.test":
            return real(host, port, *args, **kwargs)
        address = answers.pop(0) if len(answers) > 1 else answers[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))]

    return lookup


def test_a_client_reaches_an_allowed_address_and_keeps_the_host_name(echo: int) -> None:
    with client(LOOPBACK_ALLOWED, timeout=5) as http:
        answer = http.post(f"http://localhost:{echo}/hook", content=b"{}")
    assert answer.status_code == 200
    assert answer.text == f"localhost:{echo}"


def test_a_client_refuses_an_internal_address(echo: int) -> None:
    with client(NOTHING_ALLOWED, timeout=5) as http, pytest.raises(UnsafeUrl, match="non-public address"):
        http.post(f"http://127.0.0.1:{echo}/hook", content=b"{}")


def test_a_name_that_turns_internal_after_the_check_is_refused_when_connecting(
    echo: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rebinding attack: public when registered, loopback when the delivery connects."""
    monkeypatch.setattr(outbound.socket, "getaddrinfo", _resolver(["93.184.215.14", "127.0.0.1"]))
    url = f"http://app.example.test:{echo}/hook"
    assert check_url(url, NOTHING_ALLOWED) == ["93.184.215.14"]
    with client(NOTHING_ALLOWED, timeout=5) as http, pytest.raises(UnsafeUrl, match=r"127\.0\.0\.1"):
        http.post(url, content=b"{}")


def test_the_client_connects_to_the_address_it_checked(echo: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """One lookup per connection: the name resolves to loopback (allowed here) exactly when connecting, and
    the request goes there with its own name as Host."""
    monkeypatch.setattr(outbound.socket, "getaddrinfo", _resolver(["127.0.0.1"]))
    with client(LOOPBACK_ALLOWED, timeout=5) as http:
        answer = http.post(f"http://app.example.test:{echo}/hook", content=b"{}")
    assert answer.text == f"app.example.test:{echo}"


def test_the_async_client_is_guarded_the_same_way(echo: int, monkeypatch: pytest.MonkeyPatch) -> None:
    async def post(settings: Settings, url: str) -> str:
        async with async_client(settings, timeout=5) as http:
            return (await http.post(url, content=b"{}")).text

    assert asyncio.run(post(LOOPBACK_ALLOWED, f"http://localhost:{echo}/hook")) == f"localhost:{echo}"
    monkeypatch.setattr(outbound.socket, "getaddrinfo", _resolver(["127.0.0.1"]))
    with pytest.raises(UnsafeUrl, match=r"127\.0\.0\.1"):
        asyncio.run(post(NOTHING_ALLOWED, f"http://app.example.test:{echo}/hook"))


def test_proxies_from_the_environment_are_not_used(echo: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy would be the address connected to, and it would do its own lookup: the check would be moot."""
    monkeypatch.setenv("HTTP_PROXY", "http://203.0.113.1:3128")
    monkeypatch.setenv("ALL_PROXY", "http://203.0.113.1:3128")
    with client(LOOPBACK_ALLOWED, timeout=5) as http:
        assert http.post(f"http://localhost:{echo}/hook", content=b"{}").status_code == 200
