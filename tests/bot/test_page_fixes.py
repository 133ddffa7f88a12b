"""Small fixes of the bot's pages (issue #20, item 6.8), each checked on the page itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from apps.support_bot import services
from apps.support_bot.models import Article, Utterance
from tenancy.context import tenant_context
from tests.bot.conftest import add_intent, answer, start
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


def _intent_names(html: str) -> list[str]:
    return re.findall(r"<code>(\w+)</code></a></td>", html)


def test_the_intents_list_is_searchable(acme: TenantSetup, globex: TenantSetup) -> None:
    card = add_intent(acme, "card_arrival", "Cards arrive within 5 days.")
    add_intent(acme, "exchange_rate", "Rates are updated hourly.")
    add_intent(acme, "lost_card")
    add_intent(globex, "card_secret")
    with tenant_context(acme.tenant.pk):
        services.utterance_create(intent=card, text="where is my parcel")
    browser = acme.browser()
    url = reverse("bot:intents")
    assert _intent_names(browser.get(url).content.decode()) == [
        "card_arrival", "exchange_rate", "lost_card"]
    assert _intent_names(browser.get(url, {"q": "CARD"}).content.decode()) == [
        "card_arrival", "lost_card"]  # names, case-insensitive; never another tenant's
    assert _intent_names(browser.get(url, {"q": "hourly"}).content.decode()) == [
        "exchange_rate"]  # the answer template
    assert _intent_names(browser.get(url, {"q": "parcel"}).content.decode()) == [
        "card_arrival"]  # an utterance
    nothing = browser.get(url, {"q": "zzz"}).content.decode()
    assert "No intent matches “zzz”" in nothing
    assert 'value="zzz"' in nothing


def test_analytics_bars_have_an_axis_and_dates(acme: TenantSetup) -> None:
    for _ in range(3):
        answer(acme, start(acme), "where is my card?", confidence=0.9)
    html = acme.browser().get(reverse("bot:overview")).content.decode()
    axis = re.search(r'data-testid="day-axis"><span>(\d+)</span><span>(\d+)</span>'
                     r"<span>0</span>", html)
    assert axis
    assert axis.groups() == ("4", "2")  # 3 conversations today: the axis tops at 4
    dates = re.search(r'data-testid="day-dates"><span>([^<]+)</span><span>([^<]+)</span>'
                      r"<span>([^<]+)</span>", html)
    assert dates
    assert dates.group(3) == f"{timezone.now():%-d %b}"
    assert 'style="height: 75%"' in html  # 3 of 4
    assert "at most 3 a day" in html


def test_a_refused_import_lists_its_problems_in_the_table(acme: TenantSetup) -> None:
    browser = acme.browser()
    refused = browser.post(reverse("bot:utterances_import"), {
        "file": SimpleUploadedFile("u.csv", b"text\nwhere is my card\n")})
    assert refused.status_code == 400
    html = refused.content.decode()
    assert 'data-testid="refusal"' in html
    problems = html.split('data-testid="problems"')[1].split("</table>")[0]
    # The header problem is "header", never "row 0", and it is not a banner.
    assert '<td class="nowrap">header</td>' in problems
    assert "<code>intent</code>" in problems
    assert "row 0" not in html
    assert "Nothing was imported" not in html
    with tenant_context(acme.tenant.pk):
        assert not Utterance.objects.exists()
    articles = browser.post(reverse("bot:articles_import"), {
        "file": SimpleUploadedFile("kb.csv", b"question,answer\nHours?,\nFees?,\n")})
    rows = re.findall(r'<td class="nowrap">(\d+)</td>',
                      articles.content.decode().split('data-testid="problems"')[1])
    assert rows == ["1", "2"]


@pytest.mark.parametrize("typed", ["Billing, Fees", "billing; fees", "billing;fees, ,"])
def test_article_tags_take_commas_or_semicolons_in_the_form(acme: TenantSetup,
                                                           typed: str) -> None:
    page = acme.browser().get(reverse("bot:articles")).content.decode()
    assert "Separated by commas or semicolons" in page
    acme.browser().post(reverse("bot:articles"), {"question": "Fees?", "answer": "None.",
                                                  "tags": typed})
    with tenant_context(acme.tenant.pk):
        assert Article.objects.get().tags == ["billing", "fees"]


def test_article_tags_take_commas_or_semicolons_in_the_import(acme: TenantSetup) -> None:
    acme.browser().post(reverse("bot:articles_import"), {"file": SimpleUploadedFile(
        "kb.csv", b'question,answer,tags\nFees?,None.,billing;fees\n'
                  b'Hours?,9 to 5,"opening, hours"\nCards?,5 days,"cards; delivery, post"\n')})
    with tenant_context(acme.tenant.pk):
        tags = dict(Article.objects.values_list("question", "tags"))
    assert tags == {"Fees?": ["billing", "fees"], "Hours?": ["hours", "opening"],
                    "Cards?": ["cards", "delivery", "post"]}


def test_the_chat_input_is_focused_again_after_each_send(acme: TenantSetup) -> None:
    """htmx swaps the whole chat in after a send and focuses its [autofocus] element: the
    message box keeps the focus for the next message."""
    browser = acme.browser()
    swapped = browser.post(reverse("bot:try"), {"text": ""}, HTTP_HX_REQUEST="true")
    html = swapped.content.decode()
    assert html.lstrip().startswith('<div id="chat">')  # the partial htmx swaps in
    assert re.search(r'<input type="text" name="text"[^>]* autofocus[ >]', html)
    assert re.search(r'<input type="text" name="text"[^>]* autofocus[ >]',
                     browser.get(reverse("bot:try")).content.decode())
