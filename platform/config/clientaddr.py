"""The client's address, trusting forwarded headers only from our own proxies.

``X-Forwarded-For`` is a list anyone can write: a client may send ``X-Forwarded-For: 1.2.3.4``
and every hop appends to it. Only the entries added by proxies we run are facts, so the
address is found by walking the list from the right, past ``TRUSTED_PROXIES`` (addresses or
networks, e.g. the ingress controller's pod network), to the first address that is not ours.
With no trusted proxies (the default, and ``make run``) the header is ignored and the peer
address (``REMOTE_ADDR``) is the client. Rate limits, audit records and sign-in throttles all
read the address here.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(configured: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False)
                 for entry in configured if entry.strip())


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in networks)


def client_address(request: HttpRequest) -> str:
    peer = str(request.META.get("REMOTE_ADDR") or "")
    networks = _networks(tuple(settings.TRUSTED_PROXIES))
    if not networks or not _trusted(peer, networks):
        return peer
    forwarded = [part.strip() for part in
                 str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",") if part.strip()]
    for address in reversed(forwarded):
        if not _trusted(address, networks):
            try:
                return str(ipaddress.ip_address(address))
            except ValueError:
                return peer  # garbage in the header: fall back to the proxy that sent it
    return forwarded[0] if forwarded else peer
