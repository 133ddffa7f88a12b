"""The shell's small accessibility and polish fixes (issue #20, item 6.8): a favicon, sidebar
headings that meet WCAG AA contrast, and "Skip to content" as the first focusable element."""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree

from django.conf import settings
from django.contrib.staticfiles import finders
from django.urls import reverse

from tests.conftest import TenantSetup

STATIC = Path(settings.BASE_DIR) / "static"


def test_every_page_links_a_favicon_that_exists(acme: TenantSetup, client) -> None:
    for html in (acme.browser().get(reverse("dashboard:home")).content.decode(),
                 client.get(reverse("accounts:login")).content.decode()):
        link = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', html)
        assert link
        assert link.group(1) == f"{settings.STATIC_URL}favicon.svg"
    found = finders.find("favicon.svg")
    assert found
    # Well-formed SVG (the repository's own file, not untrusted input).
    assert ElementTree.parse(found).getroot().tag.endswith("svg")  # noqa: S314
