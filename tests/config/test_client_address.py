"""``config.clientaddr.client_address``: X-Forwarded-For is believed only from our proxies."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from audit.services import client_ip
from config.clientaddr import client_address


@pytest.mark.parametrize(("trusted", "peer", "forwarded", "expected"), [
    ([], "192.0.2.10", "203.0.113.5", "192.0.2.10"),
    (["10.0.0.0/8"], "192.0.2.10", "203.0.113.5", "192.0.2.10"),  # peer is not our proxy
    (["10.0.0.0/8"], "10.1.1.1", "203.0.113.5", "203.0.113.5"),
    (["10.0.0.0/8"], "10.1.1.1", "6.6.6.6, 203.0.113.5, 10.2.2.2", "203.0.113.5"),
    (["10.0.0.0/8"], "10.1.1.1", "", "10.1.1.1"),
    (["10.0.0.0/8"], "10.1.1.1", "not-an-address", "10.1.1.1"),
    (["10.0.0.0/8", "2001:db8::/32"], "2001:db8::1", "2001:db8::2, 198.51.100.4",
     "198.51.100.4"),
])
def test_client_address(settings, trusted: list[str], peer: str, forwarded: str,
                        expected: str) -> None:
    settings.TRUSTED_PROXIES = trusted
    request = RequestFactory().get("/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected
    assert client_ip(request) == expected
