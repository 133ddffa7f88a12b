"""Small fixes of the bot's pages (issue #20, item 6.8), each checked on the page itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from tests.conftest import TenantSetup

pytestmark = pytest.mark.django_db

CSS = (Path(settings.BASE_DIR) / "static" / "css" / "app.css").read_text()


def _css_rule(selector: str) -> str:
    match = re.search(rf"(?m)^{re.escape(selector)} \{{([^}}]*)\}}", CSS)
    assert match, selector
    return match.group(1)


def test_the_widget_snippet_wraps_in_its_card_and_has_a_copy_button(acme: TenantSetup) -> None:
    html = acme.browser().get(reverse("bot:settings")).content.decode()
    assert '<code id="widget-snippet-code">&lt;script src=' in html
    assert 'data-copy="#widget-snippet-code"' in html
    rule = _css_rule(".snippet-code")
    assert "overflow-wrap: anywhere" in rule
    assert "min-width: 0" in rule


def test_always_hand_over_sits_beside_its_label(acme: TenantSetup) -> None:
    html = acme.browser().get(reverse("bot:intents")).content.decode()
    assert re.search(r'<label class="checkbox" for="id_handoff"><input type="checkbox" '
                     r'name="handoff"[^>]*> <span>Always hand over to a person</span></label>',
                     html)
    assert "align-self: flex-start" in _css_rule(".field .checkbox")
