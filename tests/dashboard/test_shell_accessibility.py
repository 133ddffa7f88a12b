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


def _css() -> str:
    return (STATIC / "css" / "app.css").read_text()


def _variable(name: str) -> str:
    match = re.search(rf"{re.escape(name)}:\s*(#[0-9a-fA-F]{{6}});", _css())
    assert match, name
    return match.group(1)


def _declaration(selector: str, prop: str) -> str:
    rule = re.search(rf"(?m)^{re.escape(selector)} \{{([^}}]*)\}}", _css())
    assert rule, selector
    value = re.search(rf"(?:^|[;\s]){prop}:\s*([^;]+);", rule.group(1))
    assert value, (selector, prop)
    text = value.group(1).strip()
    # "var(--x)" or a shorthand like "var(--surface)" as the first value.
    var = re.search(r"var\((--[\w-]+)\)", text)
    return _variable(var.group(1)) if var else text


def _luminance(hex_colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(foreground: str, background: str) -> float:
    lighter, darker = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_sidebar_headings_meet_aa_contrast() -> None:
    assert round(contrast("#98a2b3", "#ffffff"), 1) == 2.6  # the old colour, as reported
    heading = _declaration(".nav-group", "color")
    sidebar = _declaration(".sidebar", "background")
    assert contrast(heading, sidebar) >= 4.5


FOCUSABLE = re.compile(r"<(?:a\s[^>]*\bhref=|(?:button|select|textarea|summary)[\s>]"
                       r"|input(?![^>]*type=\"hidden\")[\s>])")


def test_skip_to_content_is_the_first_focusable_element(acme: TenantSetup, client) -> None:
    for html in (acme.browser().get(reverse("dashboard:home")).content.decode(),
                 acme.browser().get(reverse("jobs:job_list")).content.decode(),
                 client.get(reverse("accounts:login")).content.decode()):
        body = html[html.index("<body"):]
        first = FOCUSABLE.search(body)
        assert first
        assert body[first.start():].startswith('<a class="skip-link" href="#content">'
                                               "Skip to content</a>")
        assert re.search(r'<main class="[^"]*" id="content" tabindex="-1">', html)
    rule = re.search(r"(?m)^\.skip-link:focus \{([^}]*)\}", _css())
    assert rule
    assert "transform: none" in rule.group(1)  # visible when focused
