"""Outbound HTTP to addresses our users give us (webhooks, news feeds), safe against SSRF.

- ``check_webhook_url`` refuses URLs that are not http(s), carry user-info (``user:pass@``,
  ``\\@`` tricks that parse differently in different libraries) or resolve to a private,
  loopback or link-local address. It resolves the host **once** and returns the address it
  checked.
- ``pinned_request`` connects to that very address (the TLS certificate is still verified
  against the host name): a DNS answer that changes between the check and the connection (DNS
  rebinding) cannot send the request elsewhere. It never follows redirects; a caller that
  wants them (feeds) checks and pins every hop itself, and webhooks treat a redirect as a
  failed delivery.

``WEBHOOKS_ALLOW_PRIVATE_URLS`` (tests and local development) allows private addresses and
plain http; user-info and the no-redirect rule hold everywhere.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urlsplit

from django.conf import settings

MAX_REDIRECTS = 5


class UnsafeUrl(ValueError):
    pass


@dataclass(frozen=True)
class CheckedUrl:
    """A URL whose host resolved to ``address``, which passed the check."""

    url: str
    scheme: str
    host: str
    port: int
    target: str  # path and query, as sent in the request line
    address: str


@dataclass(frozen=True)
class Response:
    status: int
    headers: Message
    body: bytes
    truncated: bool


def check_webhook_url(url: str, *, require_https: bool = True) -> CheckedUrl:
    """Check ``url`` and return it with the one address its host resolved to."""
    if "\\" in url or any(ord(character) < 33 for character in url):
        raise UnsafeUrl("The URL contains a backslash, a space or a control character.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UnsafeUrl(f"The URL cannot be read: {error}.") from error
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeUrl("Use an http(s) URL with a host name.")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeUrl("The URL must not contain a user name or password.")
    allow_private = settings.WEBHOOKS_ALLOW_PRIVATE_URLS
    if require_https and parts.scheme != "https" and not allow_private:
        raise UnsafeUrl("Webhook URLs must use https.")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as error:
        raise UnsafeUrl(f"The host {parts.hostname} does not resolve.") from error
    addresses = [str(info[4][0]) for info in infos]
    if not allow_private:
        for address in addresses:
            if not ipaddress.ip_address(address.split("%")[0]).is_global:
                raise UnsafeUrl(f"The host {parts.hostname} resolves to a private address "
                                f"({address}); webhooks go to public addresses only.")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return CheckedUrl(url=url, scheme=parts.scheme, host=parts.hostname, port=port,
                      target=target, address=addresses[0])


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, checked: CheckedUrl, timeout: float) -> None:
        super().__init__(checked.address, checked.port, timeout=timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to the checked address, with SNI and certificate verification for the host name."""

    def __init__(self, checked: CheckedUrl, timeout: float) -> None:
        super().__init__(checked.address, checked.port, timeout=timeout,
                         context=ssl.create_default_context())
        self._server_name = checked.host

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(  # type: ignore[attr-defined]
            sock, server_hostname=self._server_name)


def pinned_request(checked: CheckedUrl, *, method: str = "GET", body: bytes | None = None,
                   headers: dict[str, str] | None = None, timeout: float = 10,
                   max_bytes: int = 1024 * 1024) -> Response:
    """Send one request to the checked address; read at most ``max_bytes`` of the answer.

    Redirects are returned as they are (3xx with a ``Location``), never followed."""
    connection: http.client.HTTPConnection
    if checked.scheme == "https":
        connection = _PinnedHTTPSConnection(checked, timeout)
    else:
        connection = _PinnedHTTPConnection(checked, timeout)
    default_port = 443 if checked.scheme == "https" else 80
    host_header = checked.host if checked.port == default_port else f"{checked.host}:{checked.port}"
    if ":" in checked.host and checked.port == default_port:
        host_header = f"[{checked.host}]"
    try:
        connection.putrequest(method, checked.target, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", host_header)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        answer = connection.getresponse()
        content = answer.read(max_bytes + 1)
        return Response(status=answer.status, headers=answer.headers,
                        body=content[:max_bytes], truncated=len(content) > max_bytes)
    finally:
        connection.close()
