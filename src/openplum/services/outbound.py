"""Outbound URLs (postbacks, export callbacks, webhooks): refused when they point inside the network.

A URL must be http(s), and every address its host resolves to must be public: loopback, private, link-local
(cloud metadata lives there), multicast, reserved and unspecified addresses are refused unless the address
is in ``OPENPLUM_OUTBOUND_ALLOW`` (a comma-separated list of addresses or networks, e.g. ``127.0.0.1/32``).
Check again right before sending: DNS can change between the request and the delivery.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from openplum.errors import ApiError
from openplum.settings import Settings


class UnsafeUrl(ApiError):
    pass


def check_url(url: str, settings: Settings) -> list[str]:
    """The addresses ``url`` may be sent to; raise ``UnsafeUrl`` naming the reason otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl(f"Outbound URL must be an absolute http(s) URL: {url[:100]!r}")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError):
        raise UnsafeUrl(f"Outbound URL host does not resolve: {parts.hostname!r}") from None
    allowed = [ipaddress.ip_network(n.strip(), strict=False) for n in settings.outbound_allow if n.strip()]
    addresses = sorted({str(info[4][0]) for info in infos})
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
