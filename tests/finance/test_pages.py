"""Dashboard pages of the finance sentiment monitor: the watchlist overview, the ticker page
(chart, documents, filters), alerts, the rule editor, the try-it box and the console; roles;
cross-tenant 404s with nothing changed."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from apps.finance_sentiment.models import Alert, AlertRule, WatchlistEntry
from apps.finance_sentiment.services import alert_rule_create, alert_rules_evaluate
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.conftest import TenantSetup
from tests.finance.conftest import doc, ingest, score, story_words, watch

OVERVIEW = reverse("finance:overview")
ALERTS = reverse("finance:alerts")
RULES = reverse("finance:rules")
TRY = reverse("finance:try")


def ticker_url(ticker: str) -> str:
    return reverse("finance:ticker", args=[ticker])


def browser_for(setup: TenantSetup, role: str) -> Client:
    client = Client()
    client.force_login(setup.add_member(role).user)
    return client


def seed(setup: TenantSetup, now: datetime | None = None) -> dict[str, int]:
    """ACME on the watchlist with three scored documents in the last hours (2 negative, 1
    positive) and one five days ago; BETA watched with no news. Returns ids by title."""
    now = now or timezone.now()
    watch(setup, "ACME", "Acme Corp")
    watch(setup, "BETA")
    rows = [
        doc("ACME", now - timedelta(minutes=30), "Acme plunges after fraud probe",
            url="https://news.example.com/acme-fraud"),
        doc("ACME", now - timedelta(minutes=40), "Acme misses estimates"),
        doc("ACME", now - timedelta(hours=2), "Acme beats estimates on record sales"),
        doc("ACME", now - timedelta(days=5), "Acme names director"),
    ]
    ids = ingest(setup, rows)
    score(setup, {ids[0]: "negative", ids[1]: "negative", ids[2]: "positive",
                  ids[3]: "neutral"})
    return {row["title"]: document_id for row, document_id in zip(rows, ids, strict=True)}


def raise_alert(setup: TenantSetup) -> Alert:
    """A negative-share rule that fires on the seeded documents, evaluated by the service."""
    with tenant_context(setup.tenant.pk):
        alert_rule_create(name="Negative news", ticker="ACME", kind="negative_share",
                          threshold=0.5, window_hours=24, min_volume=1, notify_webhook=False)
        [alert] = alert_rules_evaluate(tickers=["ACME"])
        return alert


def alert_status(setup: TenantSetup, alert: Alert) -> str:
    with tenant_context(setup.tenant.pk):
        return Alert.objects.get(pk=alert.pk).status


# --- Overview --------------------------------------------------------------------------------


def test_overview_shows_index_sparkline_volume_and_open_alerts(acme: TenantSetup) -> None:
    seed(acme)
    raise_alert(acme)
    response = acme.browser().get(OVERVIEW)
    assert response.status_code == 200
    html = response.content.decode()
    row = html[html.index('id="ticker-ACME"'):html.index('id="ticker-BETA"')]
    # 24 h: 1 positive, 2 negative → (1 − 2) / 3.
    assert "-0.33" in row
    assert 'class="sparkline"' in row
    assert re.search(r'data-points="[1-7]"', row)
    assert '<td class="num">3</td>' in row
    assert 'badge-danger">1</span>' in row
    assert ticker_url("ACME") in row
    beta = html[html.index('id="ticker-BETA"'):]
    assert 'data-points="0"' in beta
    assert 'is-empty' in beta
    # The sidebar links here now.
    assert f'href="{OVERVIEW}">Finance sentiment</a>' in html


def test_member_adds_and_removes_tickers_and_sees_errors_inline(acme: TenantSetup) -> None:
    member = browser_for(acme, Role.MEMBER)
    response = member.post(OVERVIEW, {"ticker": "$msft", "company_name": "Microsoft",
                                      "aliases": "Microsoft, Redmond"})
    assert response.status_code == 302
    with tenant_context(acme.tenant.pk):
        entry = WatchlistEntry.objects.get(ticker="MSFT")
    assert entry.aliases == ["Microsoft", "Redmond"]

    duplicate = member.post(OVERVIEW, {"ticker": "MSFT"})
    assert duplicate.status_code == 400
    assert "already on the watchlist" in duplicate.content.decode()
    invalid = member.post(OVERVIEW, {"ticker": "not a ticker!"})
    assert invalid.status_code == 400
    assert 'class="field-error"' in invalid.content.decode()

    removed = member.post(reverse("finance:watchlist_remove", args=[entry.pk]))
    assert removed.status_code == 302
    with tenant_context(acme.tenant.pk):
        assert not WatchlistEntry.objects.filter(ticker="MSFT").exists()


def test_viewer_reads_but_cannot_change_the_watchlist(acme: TenantSetup) -> None:
    seed(acme)
    viewer = browser_for(acme, Role.VIEWER)
    page = viewer.get(OVERVIEW)
    assert page.status_code == 200
    html = page.content.decode()
    assert "ACME" in html
    assert "Add a ticker" not in html
    assert "Remove" not in html
    assert viewer.post(OVERVIEW, {"ticker": "MSFT"}).status_code == 403
    with tenant_context(acme.tenant.pk):
        entry = WatchlistEntry.objects.get(ticker="ACME")
    assert viewer.post(reverse("finance:watchlist_remove", args=[entry.pk])).status_code == 403
    with tenant_context(acme.tenant.pk):
        assert WatchlistEntry.objects.count() == 2


# --- Ticker page -----------------------------------------------------------------------------


def test_ticker_page_shows_the_chart_and_documents(acme: TenantSetup) -> None:
    # Yesterday noon: three documents that morning and one five days earlier, whatever the
    # time of day the test runs (documents at "now" minus two hours spanned three days
    # between midnight and 2 a.m.).
    seed(acme, now=(timezone.now() - timedelta(days=1)).replace(hour=12, minute=0))
    client = acme.browser()
    response = client.get(ticker_url("ACME"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="trend-chart"' in html
    # Default: 30 days by day; the seeded documents fall on two days.
    assert 'data-testid="trend-chart" data-points="2"' in html
    assert 'class="trend-line"' in html
    assert 'class="volume-bars"' in html
    for title in ("Acme plunges after fraud probe", "Acme misses estimates",
                  "Acme beats estimates on record sales", "Acme names director"):
        assert title in html
    assert 'href="https://news.example.com/acme-fraud"' in html
    assert "badge-danger" in html
    assert "badge-success" in html

    hourly = client.get(ticker_url("ACME"), {"range": "7", "granularity": "hour"})
    assert hourly.status_code == 200
    chart = re.search(r'data-testid="trend-chart" data-points="(\d+)"',
                      hourly.content.decode())
    assert chart is not None
    assert int(chart.group(1)) >= 2
    ninety = client.get(ticker_url("ACME"), {"range": "90"})
    assert ninety.status_code == 200
    # Lower case and a cashtag lead to the canonical page; nonsense is not found.
    assert client.get(ticker_url("acme")).url == ticker_url("ACME")
    assert client.get("/finance/tickers/no%20such/").status_code == 404
    # An unknown or bad parameter narrows nothing instead of failing.
    assert client.get(ticker_url("ACME"), {"range": "5", "label": "x"}).status_code == 200


def test_ticker_documents_filter_by_label_and_date_and_paginate(acme: TenantSetup) -> None:
    now = timezone.now()
    seed(acme, now)
    client = acme.browser()
    negative = client.get(ticker_url("ACME"), {"label": "negative"}).content.decode()
    assert "Acme plunges after fraud probe" in negative
    assert "Acme misses estimates" in negative
    assert "Acme beats estimates on record sales" not in negative
    assert "Acme names director" not in negative

    five_days_ago = (now - timedelta(days=5)).date().isoformat()
    dated = client.get(ticker_url("ACME"), {"start": five_days_ago, "end": five_days_ago})
    html = dated.content.decode()
    assert "Acme names director" in html
    assert "Acme plunges after fraud probe" not in html

    backwards = client.get(ticker_url("ACME"), {"start": "2024-05-02", "end": "2024-05-01"})
    assert "must not be before" in backwards.content.decode()

    ingest(acme, [doc("ACME", now - timedelta(days=1, minutes=minute),
                      f"Filler {minute} {story_words(f'filler{minute}')}")
                  for minute in range(30)])
    first = client.get(ticker_url("ACME")).content.decode()
    assert "Page 1 of 2" in first
    second = client.get(ticker_url("ACME"), {"page": 2}).content.decode()
    assert "Page 2 of 2" in second
    assert "Acme names director" in second  # the oldest, last


# --- Alerts ----------------------------------------------------------------------------------


def test_alerts_page_filters_and_members_acknowledge_and_resolve(acme: TenantSetup) -> None:
    seed(acme)
    alert = raise_alert(acme)
    member = browser_for(acme, Role.MEMBER)
    listing = member.get(ALERTS).content.decode()
    assert alert.message in listing
    assert ">Acknowledge</button>" in listing
    assert alert.message not in member.get(ALERTS, {"status": "resolved"}).content.decode()

    response = member.post(reverse("finance:alert_acknowledge", args=[alert.pk]),
                           {"status": "open"})
    assert response.status_code == 302
    assert response.url == f"{ALERTS}?status=open"
    assert alert_status(acme, alert) == "acknowledged"
    assert alert.message in member.get(ALERTS, {"status": "acknowledged"}).content.decode()
    assert alert.message not in member.get(ALERTS, {"status": "open"}).content.decode()

    member.post(reverse("finance:alert_resolve", args=[alert.pk]))
    assert alert_status(acme, alert) == "resolved"
    # Acknowledging a resolved alert is refused with a message, not an error page.
    refused = member.post(reverse("finance:alert_acknowledge", args=[alert.pk]), follow=True)
    assert "already resolved" in refused.content.decode()
    assert alert_status(acme, alert) == "resolved"


def test_viewer_cannot_acknowledge_or_resolve(acme: TenantSetup) -> None:
    seed(acme)
    alert = raise_alert(acme)
    viewer = browser_for(acme, Role.VIEWER)
    assert ">Acknowledge</button>" not in viewer.get(ALERTS).content.decode()
    assert viewer.post(reverse("finance:alert_acknowledge", args=[alert.pk])).status_code == 403
    assert viewer.post(reverse("finance:alert_resolve", args=[alert.pk])).status_code == 403
    assert alert_status(acme, alert) == "open"


# --- Rules -----------------------------------------------------------------------------------


def rule_form(**changes: object) -> dict[str, object]:
    return {"name": "Spike", "ticker": "", "kind": "zscore", "threshold": "", "k": "3",
            "window_hours": "6", "baseline_days": "14", "min_volume": "5",
            "notify_email": "risk@acme.example.com", "notify_webhook": "on", "is_active": "on",
            **changes}


def test_rule_editor_creates_edits_and_deletes_with_inline_errors(acme: TenantSetup) -> None:
    member = browser_for(acme, Role.MEMBER)
    assert member.get(RULES).status_code == 200

    missing = member.post(RULES, rule_form(kind="negative_share", threshold=""))
    assert missing.status_code == 400
    html = missing.content.decode()
    assert "between 0 and 1" in html
    assert re.search(r'has-error">\s*<label for="id_threshold"', html)
    bad_email = member.post(RULES, rule_form(notify_email="nobody"))
    assert bad_email.status_code == 400
    assert "is not an e-mail address" in bad_email.content.decode()

    assert member.post(RULES, rule_form()).status_code == 302
    with tenant_context(acme.tenant.pk):
        rule = AlertRule.objects.get(name="Spike")
    assert (rule.kind, rule.k, rule.ticker, rule.notify_email) == (
        "zscore", 3.0, None, ["risk@acme.example.com"])
    listing = member.get(RULES).content.decode()
    assert "Spike" in listing
    assert "z &gt; 3" in listing

    edit_url = reverse("finance:rule_edit", args=[rule.pk])
    form_page = member.get(edit_url).content.decode()
    assert 'value="Spike"' in form_page
    assert "risk@acme.example.com" in form_page
    invalid = member.post(edit_url, rule_form(k="50"))
    assert invalid.status_code == 400
    assert "between 0 and 20" in invalid.content.decode()
    assert member.post(edit_url, rule_form(name="Spike 2", ticker="acme",
                                           is_active="")).status_code == 302
    with tenant_context(acme.tenant.pk):
        rule.refresh_from_db()
    assert (rule.name, rule.ticker, rule.is_active) == ("Spike 2", "ACME", False)

    assert member.post(reverse("finance:rule_delete", args=[rule.pk])).status_code == 302
    with tenant_context(acme.tenant.pk):
        assert not AlertRule.objects.exists()


def test_viewer_cannot_change_rules(acme: TenantSetup) -> None:
    with tenant_context(acme.tenant.pk):
        rule = alert_rule_create(name="Spike", kind="zscore", k=3)
    viewer = browser_for(acme, Role.VIEWER)
    listing = viewer.get(RULES).content.decode()
    assert "Spike" in listing
    assert "New rule" not in listing
    assert "Delete" not in listing
    assert viewer.post(RULES, rule_form(name="Other")).status_code == 403
    assert viewer.post(reverse("finance:rule_edit", args=[rule.pk]),
                       rule_form(name="Changed")).status_code == 403
    assert viewer.post(reverse("finance:rule_delete", args=[rule.pk])).status_code == 403
    with tenant_context(acme.tenant.pk):
        assert list(AlertRule.objects.values_list("name", flat=True)) == ["Spike"]


# --- Try it ----------------------------------------------------------------------------------


def test_try_it_without_a_worker_answers_503_with_a_clear_message_quickly(
    acme: TenantSetup, settings
) -> None:
    settings.ONLINE_TIMEOUT_SECONDS = 1
    client = browser_for(acme, Role.VIEWER)  # scoring writes nothing: viewers may try
    assert client.get(TRY).status_code == 200
    started = time.monotonic()
    response = client.post(TRY, {"text": "$ACME soars"}, HTTP_HX_REQUEST="true")
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    html = response.content.decode()
    assert "not available right now" in html
    assert "No inference worker answered" in html
    assert "<html" not in html  # the partial only
    # Without htmx the whole page comes back, with the message and the text kept.
    page = client.post(TRY, {"text": "$ACME soars"})
    assert page.status_code == 503
    assert "not available right now" in page.content.decode()
    assert "$ACME soars</textarea>" in page.content.decode()


def test_try_it_refuses_empty_and_long_texts(acme: TenantSetup) -> None:
    client = acme.browser()
    empty = client.post(TRY, {"text": "  "}, HTTP_HX_REQUEST="true")
    assert empty.status_code == 400
    assert "This field is required" in empty.content.decode()
    long = client.post(TRY, {"text": "x" * 5_001}, HTTP_HX_REQUEST="true")
    assert long.status_code == 400
    assert "up to 5,000 can be scored here" in long.content.decode()


# --- Cross-tenant ----------------------------------------------------------------------------


def test_another_tenant_sees_nothing_and_changes_nothing(
    acme: TenantSetup, globex: TenantSetup
) -> None:
    titles = seed(acme)
    alert = raise_alert(acme)
    with tenant_context(acme.tenant.pk):
        rule = AlertRule.objects.get()
    intruder = globex.browser()

    page = intruder.get(ticker_url("ACME"))
    assert page.status_code == 200
    html = page.content.decode()
    for title in titles:
        assert title not in html
    assert 'data-testid="trend-chart" data-points="0"' in html
    assert "No documents about ACME yet" in html
    overview = intruder.get(OVERVIEW).content.decode()
    assert "ACME" not in overview
    assert alert.message not in intruder.get(ALERTS).content.decode()
    assert "Negative news" not in intruder.get(RULES).content.decode()

    edit_url = reverse("finance:rule_edit", args=[rule.pk])
    assert intruder.get(edit_url).status_code == 404
    assert intruder.post(edit_url, rule_form(name="Hijacked")).status_code == 404
    assert intruder.post(reverse("finance:rule_delete", args=[rule.pk])).status_code == 404
    assert intruder.post(reverse("finance:alert_acknowledge", args=[alert.pk])).status_code == 404
    assert intruder.post(reverse("finance:alert_resolve", args=[alert.pk])).status_code == 404
    with tenant_context(acme.tenant.pk):
        entry = WatchlistEntry.objects.get(ticker="ACME")
    assert intruder.post(reverse("finance:watchlist_remove", args=[entry.pk])).status_code == 404

    with tenant_context(acme.tenant.pk):
        assert list(AlertRule.objects.values_list("name", flat=True)) == ["Negative news"]
        assert WatchlistEntry.objects.filter(ticker="ACME").exists()
    assert alert_status(acme, alert) == "open"


# --- Console ---------------------------------------------------------------------------------


@pytest.fixture
def staff(db: None) -> Client:
    user = User.objects.create_superuser("root@example.com", "pw-for-staff-123")
    client = Client()
    client.force_login(user)
    return client


def test_console_lists_every_tenants_finance_rows_read_only(
    staff: Client, acme: TenantSetup, globex: TenantSetup
) -> None:
    seed(acme)
    alert = raise_alert(acme)
    watch(globex, "GLBX")
    for model in ("watchlistentry", "feed", "document", "alertrule", "alert"):
        response = staff.get(f"/console/finance_sentiment/{model}/")
        assert response.status_code == 200, model
    assert "GLBX" in staff.get("/console/finance_sentiment/watchlistentry/").content.decode()
    found = staff.get("/console/finance_sentiment/document/", {"q": "fraud probe"})
    assert "Acme plunges after fraud probe" in found.content.decode()
    assert "Acme names director" not in found.content.decode()
    negative = staff.get("/console/finance_sentiment/document/", {"label__exact": "negative"})
    assert "Acme misses estimates" in negative.content.decode()
    assert "Acme names director" not in negative.content.decode()
    assert staff.get("/console/finance_sentiment/alertrule/add/").status_code == 403

    staff.post("/console/finance_sentiment/alert/", {
        "action": "resolve", "_selected_action": [alert.pk]})
    assert alert_status(acme, alert) == "resolved"


def test_chart_breaks_the_line_at_empty_buckets() -> None:
    from apps.finance_sentiment.charts import sparkline, trend_chart
    from apps.finance_sentiment.selectors import TrendPoint

    start = datetime(2024, 5, 1, tzinfo=UTC)
    points = [TrendPoint(start + timedelta(days=day), *counts, 0.0) for day, counts in
              enumerate([(2, 0, 1), (0, 0, 0), (1, 1, 3), (4, 0, 0)])]
    svg = str(trend_chart(points, granularity="day"))
    assert 'data-points="3"' in svg
    line = re.search(r'class="trend-line" d="([^"]+)"', svg)
    assert line is not None
    assert line.group(1).count("M") == 2
    assert svg.count('class="trend-point') == 3
    assert "1 May 2024: index +0.33 (2 positive, 0 neutral, 1 negative)" in svg
    assert 'data-points="0"' in str(sparkline([None] * 7))
