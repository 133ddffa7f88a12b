"""Sign-in and password-reset throttles: per account and per address, with a clear message,
a reset path that unlocks, and an audit record of each."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user
from django.core import mail
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from tests.conftest import TenantSetup

LOGIN = reverse("accounts:login")


@pytest.fixture
def limits(settings) -> None:
    settings.SIGN_IN_MAX_FAILURES_PER_ACCOUNT = 3
    settings.SIGN_IN_MAX_FAILURES_PER_ADDRESS = 5
    settings.PASSWORD_RESET_MAX_PER_EMAIL = 2
    settings.PASSWORD_RESET_MAX_PER_ADDRESS = 4


def _sign_in(email: str, password: str, address: str = "192.0.2.1") -> tuple[Client, str]:
    client = Client(REMOTE_ADDR=address)
    response = client.post(LOGIN, {"username": email, "password": password})
    return client, response.content.decode() if response.status_code == 200 else ""


def test_an_account_is_locked_after_repeated_failures_even_for_the_right_password(
    acme: TenantSetup, password: str, limits: None
) -> None:
    for _ in range(3):
        _, page = _sign_in(acme.owner.email, "wrong")
        assert "match an account" in page
    client, page = _sign_in(acme.owner.email, password)
    assert not get_user(client).is_authenticated
    assert "Too many failed attempts for this account" in page
    assert "reset your password" in page
    assert reverse("accounts:password_reset") in page  # the way out is on the page
    locked = AuditEvent.objects.filter(action=AuditEvent.Action.SIGN_IN_LOCKED)
    assert locked.get().target == acme.owner.email
    # Another account signs in from elsewhere as usual.
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SIGN_IN_FAILED).count() == 3


def test_a_success_before_the_limit_clears_the_count(
    acme: TenantSetup, password: str, limits: None
) -> None:
    for _ in range(2):
        _sign_in(acme.owner.email, "wrong")
    client, _ = _sign_in(acme.owner.email, password)
    assert get_user(client).is_authenticated
    for _ in range(2):
        _sign_in(acme.owner.email, "wrong")
    client, _ = _sign_in(acme.owner.email, password)
    assert get_user(client).is_authenticated


def test_one_address_trying_many_accounts_is_refused(
    acme: TenantSetup, globex: TenantSetup, password: str, limits: None
) -> None:
    for n in range(5):
        _sign_in(f"guess{n}@example.com", "wrong", address="198.51.100.9")
    client, page = _sign_in(globex.owner.email, password, address="198.51.100.9")
    assert not get_user(client).is_authenticated
    assert "from your network" in page
    # The same account from another address is not affected.
    client, _ = _sign_in(globex.owner.email, password, address="203.0.113.3")
    assert get_user(client).is_authenticated


def test_a_password_reset_unlocks_the_account(
    acme: TenantSetup, password: str, limits: None
) -> None:
    for _ in range(3):
        _sign_in(acme.owner.email, "wrong")
    client = Client()
    client.post(reverse("accounts:password_reset"), {"email": acme.owner.email})
    link = re.search(r"http://testserver(/accounts/password-reset/\S+/)", mail.outbox[0].body)
    assert link is not None
    form_page = client.get(link.group(1), follow=True)
    client.post(form_page.redirect_chain[-1][0], {"new_password1": "a-brand-new-secret-42",
                                                 "new_password2": "a-brand-new-secret-42"})
    signed_in, _ = _sign_in(acme.owner.email, "a-brand-new-secret-42")
    assert get_user(signed_in).is_authenticated


def test_password_reset_emails_are_throttled_per_email_and_per_address(
    acme: TenantSetup, globex: TenantSetup, limits: None
) -> None:
    url = reverse("accounts:password_reset")
    responses = [Client(REMOTE_ADDR="192.0.2.7").post(url, {"email": acme.owner.email})
                 for _ in range(4)]
    # Every answer is the same "check your email" page; only two emails went out.
    assert {r["Location"] for r in responses} == {reverse("accounts:password_reset_done")}
    assert len(mail.outbox) == 2
    # The address is now at its limit (4): another account's reset sends nothing either.
    Client(REMOTE_ADDR="192.0.2.7").post(url, {"email": globex.owner.email})
    assert len(mail.outbox) == 2
    Client(REMOTE_ADDR="203.0.113.8").post(url, {"email": globex.owner.email})
    assert len(mail.outbox) == 3
    requested = AuditEvent.objects.filter(action=AuditEvent.Action.PASSWORD_RESET_REQUESTED)
    assert requested.count() == 6
    assert sorted(event.details["sent"] for event in requested) == [False] * 3 + [True] * 3
