"""Webhook deliveries: signed, replay-safe, retried with backoff, logged; SSRF-safe URLs."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from tests.webhooks.conftest import Receiver
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import MAX_ATTEMPTS, webhook_emit, webhook_endpoint_create
from webhooks.signing import SIGNATURE_HEADER, sign, verify
from webhooks.tasks import RESPONSE_PREFIX_BYTES, _attempt, deliver
from webhooks.urlcheck import UnsafeUrl, check_webhook_url


@pytest.fixture
def allow_loopback(settings) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True


def test_delivery_is_signed_and_logged(acme: TenantSetup, receiver: Receiver,
                                       allow_loopback: None) -> None:
    with tenant_context(acme.tenant.pk):
        endpoint = webhook_endpoint_create(url=receiver.url, events=["job.succeeded"])
        [delivery] = webhook_emit(event="job.succeeded", payload={"id": 7})
        assert webhook_emit(event="job.failed", payload={"id": 8}) == []
    assert deliver.apply(args=[delivery.pk]).get() == "succeeded"
    [request] = receiver.requests
    body = request["body"]
    assert json.loads(body)["data"] == {"id": 7}
    assert request["headers"]["Webhook-Event"] == "job.succeeded"
    assert verify(secret=endpoint.secret, header=request["headers"][SIGNATURE_HEADER], body=body)
    assert not verify(secret="whsec_wrong", header=request["headers"][SIGNATURE_HEADER], body=body)
    assert not verify(secret=endpoint.secret, header=request["headers"][SIGNATURE_HEADER],
                      body=body + b" ")
    with tenant_context(acme.tenant.pk):
        delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("succeeded", 1, 200)
    # Delivering again (a duplicated task) sends nothing more.
    assert deliver.apply(args=[delivery.pk]).get() == "succeeded"
    assert len(receiver.requests) == 1


def test_old_signatures_are_refused() -> None:
    body = b'{"x":1}'
    header = sign(secret="s", body=body, timestamp=int(time.time()) - 3600)
    assert not verify(secret="s", header=header, body=body)
    assert verify(secret="s", header=header, body=body, now=time.time() - 3600)
    assert not verify(secret="s", header="garbage", body=body)


def test_failures_are_retried_with_backoff_then_marked_failed(
    acme: TenantSetup, receiver: Receiver, allow_loopback: None
) -> None:
    receiver.status = 500
    with tenant_context(acme.tenant.pk):
        webhook_endpoint_create(url=receiver.url, events=[])
        [delivery] = webhook_emit(event="job.failed", payload={"id": 1})
        delays = []
        for _ in range(MAX_ATTEMPTS):
            delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery.pk)
            before = time.time()
            assert _attempt(delivery) is False
            if delivery.next_attempt_at:
                delays.append(delivery.next_attempt_at.timestamp() - before)
        delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert delivery.attempts == MAX_ATTEMPTS
    assert delivery.response_status == 500
    assert len(receiver.requests) == MAX_ATTEMPTS
    assert all(later > earlier * 1.5 for earlier, later in zip(delays, delays[1:], strict=False))


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/hook", "https://localhost/hook", "https://10.1.2.3/x",
    "https://169.254.169.254/latest/meta-data", "http://example.com/plain-http", "ftp://x/y",
])
def test_private_and_non_https_urls_are_refused(db: None, url: str) -> None:
    with pytest.raises(UnsafeUrl):
        check_webhook_url(url)


def test_private_url_refused_at_delivery_time_too(
    acme: TenantSetup, receiver: Receiver, settings
) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    with tenant_context(acme.tenant.pk):
        webhook_endpoint_create(url=receiver.url, events=[])
        [delivery] = webhook_emit(event="job.failed", payload={})
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    with tenant_context(acme.tenant.pk):
        delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery.pk)
        _attempt(delivery)
    assert receiver.requests == []
    assert "private" in delivery.error or "https" in delivery.error


def test_emit_only_reaches_the_current_tenants_endpoints(
    acme: TenantSetup, globex: TenantSetup, receiver: Receiver, allow_loopback: None
) -> None:
    with tenant_context(globex.tenant.pk):
        webhook_endpoint_create(url=receiver.url, events=[])
    with tenant_context(acme.tenant.pk):
        assert webhook_emit(event="job.succeeded", payload={}) == []


@pytest.fixture
def redirector() -> Iterator[tuple[str, list[str]]]:
    """A receiver that answers every POST with a 302 to a second local server holding a
    "secret" page; the second server records any request that reaches it."""
    reached: list[str] = []

    class Secret(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            reached.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"instance metadata: secret-token")

        do_POST = do_GET  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    secret = ThreadingHTTPServer(("127.0.0.1", 0), Secret)

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{secret.server_port}/latest/meta")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    redirect = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    for server in (secret, redirect):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{redirect.server_port}/hook", reached
    for server in (secret, redirect):
        server.shutdown()
        server.server_close()


def test_redirects_are_not_followed_and_nothing_of_the_target_is_stored(
    acme: TenantSetup, redirector: tuple[str, list[str]], allow_loopback: None
) -> None:
    url, reached = redirector
    with tenant_context(acme.tenant.pk):
        webhook_endpoint_create(url=url, events=[])
        [delivery] = webhook_emit(event="job.failed", payload={})
        delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery.pk)
        assert _attempt(delivery) is False
        delivery.refresh_from_db()
    assert reached == []
    assert delivery.response_status == 302
    assert "secret" not in delivery.response_body
    assert "redirects are not followed" in delivery.error


def test_only_a_short_prefix_of_the_answer_is_stored(
    acme: TenantSetup, allow_loopback: None
) -> None:
    class Chatty(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"x" * 100_000)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Chatty)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with tenant_context(acme.tenant.pk):
            webhook_endpoint_create(url=f"http://127.0.0.1:{server.server_port}/h", events=[])
            [delivery] = webhook_emit(event="job.failed", payload={})
            delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery.pk)
            assert _attempt(delivery) is True
            delivery.refresh_from_db()
    finally:
        server.shutdown()
        server.server_close()
    assert delivery.response_body == "x" * RESPONSE_PREFIX_BYTES


def test_the_request_goes_to_the_address_that_was_checked(
    acme: TenantSetup, receiver: Receiver, allow_loopback: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name resolves to the receiver once (the check), and to a different
    address on any later lookup. The request must reach the checked address."""
    port = int(receiver.url.rsplit(":", 1)[1].split("/")[0])
    lookups: list[str] = []
    real = socket.getaddrinfo

    def rebinding(host: str, *args: object, **kwargs: object) -> list:
        if host != "hooks.rebind.test":
            return real(host, *args, **kwargs)  # type: ignore[arg-type]
        lookups.append(host)
        address = "127.0.0.1" if len(lookups) == 1 else "192.0.2.1"  # TEST-NET: unroutable
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with tenant_context(acme.tenant.pk):
        endpoint = webhook_endpoint_create(url=f"http://127.0.0.1:{port}/hook", events=[])
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            url=f"http://hooks.rebind.test:{port}/hook")
        [delivery] = webhook_emit(event="job.failed", payload={})
        delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery.pk)
        assert _attempt(delivery) is True
    assert lookups == ["hooks.rebind.test"]
    [request] = receiver.requests
    assert request["headers"]["Host"] == f"hooks.rebind.test:{port}"


@pytest.mark.parametrize("url", [
    "https://user:pass@example.com/hook", "https://example.com\\@127.0.0.1/hook",
    "https://evil@example.com/", "https://example.com /hook",
])
def test_urls_with_user_info_or_odd_characters_are_refused(
    db: None, url: str, settings
) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True  # refused even where private addresses pass
    with pytest.raises(UnsafeUrl):
        check_webhook_url(url)
