"""Small fixes of the finance pages (issue #20, item 6.8): try-it states its length limit and
refuses a longer text instead of the browser cutting it; the alerts page says when the rules
were last evaluated."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.conftest import TenantSetup

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
