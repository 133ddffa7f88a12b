"""Small fixes of the finance pages (issue #20, item 6.8): try-it states its length limit and
refuses a longer text instead of the browser cutting it; the alerts page says when the rules
were last evaluated."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from tests.conftest import TenantSetup
from tests.finance.test_alerts import evaluate, rule

pytestmark = pytest.mark.django_db


def test_try_it_says_its_limit_and_never_cuts_silently(acme: TenantSetup) -> None:
    browser = acme.browser()
    page = browser.get(reverse("finance:try")).content.decode()
    textarea = re.search(r"<textarea[^>]*name=\"text\"[^>]*>", page)
    assert textarea
    assert "maxlength" not in textarea.group(0)  # the browser no longer truncates a paste
    assert "Up to 5,000 characters." in page
    refused = browser.post(reverse("finance:try"), {"text": "x" * 6_200},
                           HTTP_HX_REQUEST="true")
    assert refused.status_code == 400
    assert ("The text is 6200 characters long; up to 5,000 can be scored here."
            in refused.content.decode())


def _evaluation_line(setup: TenantSetup) -> str:
    html = setup.browser().get(reverse("finance:alerts")).content.decode()
    match = re.search(r'data-testid="alert-evaluation">(.*?)</p>', html, re.S)
    assert match
    return re.sub(r"<[^>]+>", "", match.group(1))


def test_the_alerts_page_says_whether_and_when_rules_ran(acme: TenantSetup,
                                                        globex: TenantSetup) -> None:
    assert _evaluation_line(acme).startswith("No active rule")
    rule(acme)
    assert "1 active rule, not evaluated yet" in _evaluation_line(acme)
    when = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert evaluate(acme, now=when) == []  # ran, raised nothing
    line = _evaluation_line(acme)
    assert "1 active rule, last evaluated 1 Dec 2026 09:30 UTC" in line
    # Scoring that evaluates other tickers does not claim this rule was checked.
    evaluate(acme, tickers=["OTHER"], now=when + timedelta(hours=1))
    assert "09:30 UTC" in _evaluation_line(acme)
    evaluate(acme, tickers=["ACME"], now=when + timedelta(hours=2))
    assert "11:30 UTC" in _evaluation_line(acme)
    # Another tenant's evaluations are its own.
    assert _evaluation_line(globex).startswith("No active rule")
