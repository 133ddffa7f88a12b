"""Refuse webhook URLs that resolve to private, loopback or link-local addresses (SSRF):
checked when the URL is registered and again before each delivery (DNS can change)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class UnsafeUrl(ValueError):
    pass


def check_webhook_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeUrl("Use an http(s) URL with a host name.")
    if settings.WEBHOOKS_ALLOW_PRIVATE_URLS:
        return
    if parts.scheme != "https":
        raise UnsafeUrl("Webhook URLs must use https.")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as error:
        raise UnsafeUrl(f"The host {parts.hostname} does not resolve.") from error
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise UnsafeUrl(f"The host {parts.hostname} resolves to a private address "
                            f"({address}); webhooks go to public addresses only.")
