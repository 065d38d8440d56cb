"""Outbound URLs (postbacks, export callbacks, webhooks): refused when they point inside the network.

A URL must be http(s), and every address its host resolves to must be public: loopback, private, link-local
(cloud metadata lives there), multicast, reserved and unspecified addresses are refused unless the address
is in ``OPENPLUM_OUTBOUND_ALLOW`` (a comma-separated list of addresses or networks, e.g. ``127.0.0.1/32``).

``check_url`` tells a client at once when the URL it registers is refused. The guarantee is in the HTTP clients
``client`` and ``async_client`` build: they resolve the host themselves when they connect, check those
addresses, and connect to the address they checked. A name that resolved to a public address when it was
registered (or a moment ago) and to an internal one now is refused then: there is no second lookup to race.
Environment proxies are ignored, since the check is on the address connected to.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from openplum.errors import ApiError
from openplum.settings import Settings


class UnsafeUrl(ApiError):
    pass


def check_url(url: str, settings: Settings) -> list[str]:
    """The addresses ``url`` may be sent to; raise ``UnsafeUrl`` naming the reason otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl(f"Outbound URL must be an absolute http(s) URL: {url[:100]!r}")
    return allowed_addresses(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), settings)


def allowed_addresses(host: str, port: int, settings: Settings) -> list[str]:
    """Every address ``host`` resolves to, when all of them may be reached; raise ``UnsafeUrl`` otherwise."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise UnsafeUrl(f"Outbound URL host does not resolve: {host!r}") from None
    allowed = [ipaddress.ip_network(n.strip(), strict=False) for n in settings.outbound_allow if n.strip()]
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for text in addresses:
        address = ipaddress.ip_address(text.split("%")[0])
        if any(address in net for net in allowed):
            continue
        if not address.is_global or address.is_multicast:
            raise UnsafeUrl(
                f"Outbound URL resolves to a non-public address ({address}); "
                "allow it with OPENPLUM_OUTBOUND_ALLOW if this is intended"
            )
    return addresses


def client(settings: Settings, *, timeout: float, headers: dict[str, str] | None = None) -> httpx.Client:
    """An HTTP client that connects only to addresses ``allowed_addresses`` accepts (redirects not followed)."""
    transport = httpx.HTTPTransport(trust_env=False)
    # httpx has no public way to give its transport a network backend: its pool is replaced by one that has.
    transport._pool = httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(),
                                              network_backend=_Guarded(settings))
    return httpx.Client(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False,
                        headers=headers)


def async_client(settings: Settings, *, timeout: float, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    """``client`` for asyncio."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(ssl_context=httpx.create_ssl_context(),
                                                   network_backend=_AsyncGuarded(settings))
    return httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False,
                             headers=headers)


class _Guarded(httpcore.NetworkBackend):
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        failure: Exception = httpcore.ConnectError(f"no address to connect to for {host!r}")
        for address in allowed_addresses(host, port, self._settings):
            try:
                return self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:  # the next address may answer
                failure = exc
        raise failure

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        raise UnsafeUrl("Outbound requests go over TCP only")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _AsyncGuarded(httpcore.AsyncNetworkBackend):
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        addresses = await asyncio.to_thread(allowed_addresses, host, port, self._settings)
        failure: Exception = httpcore.ConnectError(f"no address to connect to for {host!r}")
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        raise UnsafeUrl("Outbound requests go over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
