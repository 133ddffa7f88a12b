"""Alert rules tried before they are saved (the dry run replays the live evaluation's own code
over the tenant's history), news volume ("buzz") rules and topic-scoped rules; their
endpoint, page and cross-tenant cases."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from apps.finance_sentiment.models import Alert, AlertRule, Document
from apps.finance_sentiment.services import (
    alert_message,
    alert_rule_dry_run,
    alert_rules_evaluate,
    window_start_for,
)
from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from tests.finance.conftest import doc, ingest, score, watch
from tests.finance.test_alerts import rule

NOW = datetime(2024, 5, 15, 10, 30, tzinfo=UTC)
TODAY = datetime(2024, 5, 15, tzinfo=UTC)
DRY_RUN = "/api/v1/finance/rules/dry-run"


def add(setup: TenantSetup, ticker: str, when: datetime, labels: list[str],
        topic: str | None = None) -> list[int]:
    ids = ingest(setup, [doc(ticker, when + timedelta(minutes=i % 50))
                         for i in range(len(labels))])
    score(setup, dict(zip(ids, labels, strict=True)))
    if topic is not None:
        with tenant_context(setup.tenant.pk):
            Document.objects.filter(pk__in=ids).update(topic=topic, topic_probability=0.9)
    return ids


def seed_history(setup: TenantSetup, days: int = 40) -> None:
    """Ordinary days of ACME and GLBX news with a few negative and loud days among them."""
    rng = random.Random(7)
    for day in range(days, 0, -1):
        for ticker in ("ACME", "GLBX"):
            when = TODAY - timedelta(days=day, hours=-rng.randrange(0, 20))
            volume = rng.randint(4, 8)
            negative = rng.randint(0, 2)
            if day in (25, 9) and ticker == "ACME":
                volume, negative = 30, 22  # a bad, loud day
            if day == 16 and ticker == "GLBX":
                volume, negative = 12, 9
            add(setup, ticker, when, ["negative"] * negative + ["positive"] * (volume - negative),
                topic="Earnings" if day % 3 else "Macro")
    watch(setup, "ACME")
    watch(setup, "GLBX")


def live_alerts(setup: TenantSetup, start: datetime, hours: int) -> set[tuple]:
    """Evaluate live at every window from ``start`` to NOW, as the beat would have."""
    moment = start
    while moment <= NOW:
        with tenant_context(setup.tenant.pk):
            alert_rules_evaluate(now=moment)
        moment += timedelta(hours=hours)
    with tenant_context(setup.tenant.pk):
        return {(a.ticker, a.window_start, round(a.value, 4), a.volume)
                for a in Alert.objects.all()}


RULES = {
    "negative_share": {"kind": "negative_share", "threshold": 0.5},
    "zscore": {"kind": "zscore", "threshold": None, "k": 2, "baseline_days": 7},
    "buzz": {"kind": "buzz", "threshold": 2.5, "baseline_days": 7},
    "topic zscore": {"kind": "zscore", "threshold": None, "k": 2, "baseline_days": 7,
                     "topic": "Earnings"},
}


@pytest.mark.parametrize("name", list(RULES))
def test_the_dry_run_fires_where_the_live_evaluation_fires(acme: TenantSetup, name: str) -> None:
    seed_history(acme)
    fields = {"name": "r", "ticker": None, "window_hours": 6, "min_volume": 3,
              "notify_webhook": False, **RULES[name]}
    with tenant_context(acme.tenant.pk):
        dry = alert_rule_dry_run(fields=fields, days=30, now=NOW)
    assert dry.start == window_start_for(NOW - timedelta(days=30), 6)
    dry_firings = {(f.ticker, f.window_start, round(f.value, 4), f.volume) for f in dry.firings}
    assert dry_firings, "the seeded history should make the rule fire"
    with tenant_context(acme.tenant.pk):
        assert not AlertRule.objects.exists()
        assert not Alert.objects.exists()
    rule(acme, **fields)
    live = {firing for firing in live_alerts(acme, dry.start, 6) if firing[1] >= dry.start}
    assert live == dry_firings
    assert [f.window_start for f in dry.firings] == sorted(f.window_start for f in dry.firings)


def test_buzz_fires_on_a_volume_spike_counting_each_story_once(acme: TenantSetup) -> None:
    for day in range(1, 8):
        add(acme, "ACME", TODAY - timedelta(days=day, hours=-3), ["neutral"] * 4)
    rule(acme, kind="buzz", threshold=3, baseline_days=7, window_hours=24, min_volume=5)
    add(acme, "ACME", TODAY + timedelta(hours=1), ["neutral"] * 10)
    # The same story from twenty feeds: one story, not twenty.
    copies = [doc("ACME", TODAY + timedelta(hours=2), title="ACME recalls every widget today")
              | {"external_id": f"copy-{i}"} for i in range(20)]
    score(acme, dict.fromkeys(ingest(acme, copies), "negative"))
    with tenant_context(acme.tenant.pk):
        assert alert_rules_evaluate(now=NOW) == []  # 11 stories vs 4 a day: 2.75×
    add(acme, "ACME", TODAY + timedelta(hours=3), ["neutral"] * 2)
    with tenant_context(acme.tenant.pk):
        [alert] = alert_rules_evaluate(now=NOW)
        message = alert_message(alert)
    assert (alert.volume, alert.value) == (13, pytest.approx(13 / 4))
    assert alert.details["baseline_mean"] == pytest.approx(4.0)
    assert "13 stories" in alert.message
    assert "3.2× the 7-day baseline" in alert.message
    figures = dict(message.figures)
    assert figures["News volume"] == "3.2× (> 3×)"
    assert message.data["figures"]["buzz_ratio"] == pytest.approx(3.25)


def test_a_topic_rule_fires_on_its_topics_spike_and_not_on_another(acme: TenantSetup) -> None:
    for day in range(1, 8):
        add(acme, "ACME", TODAY - timedelta(days=day, hours=-3),
            ["negative"] + ["positive"] * 9, topic="Earnings")
        add(acme, "ACME", TODAY - timedelta(days=day, hours=-4),
            ["negative"] + ["positive"] * 9, topic="Legal | Regulation")
    earnings = rule(acme, name="Earnings", kind="zscore", threshold=None, k=3, baseline_days=7,
                    topic="Earnings")
    legal = rule(acme, name="Legal", kind="zscore", threshold=None, k=3, baseline_days=7,
                 topic="Legal | Regulation")
    add(acme, "ACME", TODAY + timedelta(hours=1), ["negative"] * 10, topic="Legal | Regulation")
    add(acme, "ACME", TODAY + timedelta(hours=2), ["positive"] * 10, topic="Earnings")
    add(acme, "ACME", TODAY + timedelta(hours=2), ["negative"] * 10)  # no topic yet
    with tenant_context(acme.tenant.pk):
        [alert] = alert_rules_evaluate(now=NOW)
        assert alert_message(alert).topic == "Legal | Regulation"
    assert alert.rule_id == legal.pk != earnings.pk
    assert alert.volume == 10
    assert "ACME (Legal | Regulation)" in alert.message


def dry_run_payload(**changes: object) -> dict[str, object]:
    return {"ticker": "ACME", "kind": "negative_share", "threshold": 0.5, "window_hours": 24,
            "min_volume": 3, "days": 30, **changes}


def test_dry_run_endpoint_answers_firings_and_saves_nothing(acme: TenantSetup) -> None:
    add(acme, "ACME", datetime.now(UTC) - timedelta(days=3), ["negative"] * 5)
    add(acme, "ACME", datetime.now(UTC) - timedelta(days=60), ["negative"] * 5)
    api = acme.api()
    response = api.post(DRY_RUN, dry_run_payload(), format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["days"], body["count"], body["tickers"]) == (30, 1, ["ACME"])
    [firing] = body["firings"]
    assert (firing["ticker"], firing["value"], firing["volume"]) == ("ACME", 1.0, 5)
    assert api.post(DRY_RUN, dry_run_payload(days=90), format="json").json()["count"] == 2
    with tenant_context(acme.tenant.pk):
        assert not AlertRule.objects.exists()
        assert not Alert.objects.exists()


@pytest.mark.parametrize(("payload", "field"), [
    ({"days": 7}, "days"),
    ({"days": "all"}, "days"),
    ({"topic": "Sports"}, "topic"),
    ({"kind": "buzz", "threshold": 0.5}, "threshold"),
    ({"kind": "buzz", "threshold": 1000}, "threshold"),
    ({"kind": "buzz", "threshold": None}, "threshold"),
    ({"window_hours": 0}, "window_hours"),
])
def test_bad_dry_runs_name_the_field(acme: TenantSetup, payload: dict, field: str) -> None:
    response = acme.api().post(DRY_RUN, dry_run_payload(**payload), format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


@pytest.mark.parametrize(("payload", "field"), [
    ({"kind": "negative_share", "threshold": 0.5, "topic": "Sports"}, "topic"),
    ({"kind": "buzz", "threshold": 0.9}, "threshold"),
    ({"kind": "buzz", "threshold": 3, "window_hours": 48, "baseline_days": 2}, "baseline_days"),
])
def test_invalid_topic_and_buzz_rules_name_the_field(acme: TenantSetup, payload: dict,
                                                     field: str) -> None:
    response = acme.api().post("/api/v1/finance/rules", {"name": "r", **payload}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    with tenant_context(acme.tenant.pk):
        assert not AlertRule.objects.exists()


def test_topic_and_buzz_rules_through_the_api(acme: TenantSetup) -> None:
    api = acme.api()
    created = api.post("/api/v1/finance/rules", {
        "name": "Loud", "kind": "buzz", "threshold": 4, "topic": "M&A | Investments"},
        format="json")
    assert created.status_code == 201, created.content
    assert (created.json()["kind"], created.json()["topic"]) == ("buzz", "M&A | Investments")
    url = f"/api/v1/finance/rules/{created.json()['id']}"
    assert api.patch(url, {"topic": ""}, format="json").json()["topic"] == ""


def test_another_tenant_cannot_dry_run_on_or_touch_a_tenants_rules(
    acme: TenantSetup, globex: TenantSetup
) -> None:
    add(acme, "ACME", datetime.now(UTC) - timedelta(days=3), ["negative"] * 5)
    the_rule = rule(acme, kind="buzz", threshold=3, topic="Earnings")
    intruder = globex.api()
    response = intruder.post(DRY_RUN, dry_run_payload(), format="json")
    assert response.status_code == 200
    assert response.json()["count"] == 0  # acme's history is not globex's
    url = f"/api/v1/finance/rules/{the_rule.pk}"
    assert intruder.get(url).status_code == 404
    assert intruder.patch(url, {"topic": "Macro"}, format="json").status_code == 404
    assert intruder.delete(url).status_code == 404
    page = globex.browser()
    assert page.get(reverse("finance:rule_edit", args=[the_rule.pk])).status_code == 404
    assert page.post(reverse("finance:rule_edit", args=[the_rule.pk]),
                     {"name": "x"}).status_code == 404
    tried = page.post(reverse("finance:rule_dry_run"), rule_page_form())
    assert tried.status_code == 200
    assert 'data-testid="dry-run-count">0<' in tried.content.decode()
    with tenant_context(acme.tenant.pk):
        kept = AlertRule.objects.get()
    assert (kept.topic, kept.threshold, kept.name) == ("Earnings", 3.0, the_rule.name)


def rule_page_form(**changes: object) -> dict[str, object]:
    return {"name": "Spike", "ticker": "ACME", "topic": "", "kind": "negative_share",
            "threshold": "0.5", "k": "", "window_hours": "24", "baseline_days": "14",
            "min_volume": "3", "notify_email": "", "notify_webhook": "on", "is_active": "on",
            "dry_run_days": "30", **changes}


def test_the_rule_pages_try_a_rule_and_show_its_firings(acme: TenantSetup) -> None:
    add(acme, "ACME", datetime.now(UTC) - timedelta(days=3), ["negative"] * 5)
    the_rule = rule(acme, threshold=0.9)
    member = acme.browser()
    edit = member.get(reverse("finance:rule_edit", args=[the_rule.pk])).content.decode()
    assert 'data-testid="dry-run-button"' in edit
    assert 'name="topic"' in edit
    assert 'data-testid="dry-run-button"' in member.get(reverse("finance:rules")).content.decode()
    tried = member.post(reverse("finance:rule_dry_run"), rule_page_form())
    assert tried.status_code == 200
    html = tried.content.decode()
    assert 'data-testid="dry-run-count">1<' in html
    assert 'data-testid="dry-run-chart" data-firings="1"' in html
    for changes, field in (({"dry_run_days": "7"}, "dry_run_days"), ({"topic": "Sports"}, "topic"),
                           ({"kind": "buzz", "threshold": "0.5"}, "threshold")):
        refused = member.post(reverse("finance:rule_dry_run"), rule_page_form(**changes))
        assert refused.status_code == 400
        assert f"<code>{field}</code>" in refused.content.decode()
    with tenant_context(acme.tenant.pk):
        assert AlertRule.objects.get().threshold == 0.9  # the saved rule is untouched
        assert not Alert.objects.exists()


def test_a_documents_topic_shows_in_the_documents_api_and_the_stream(acme: TenantSetup) -> None:
    [document_id] = add(acme, "ACME", datetime.now(UTC) - timedelta(hours=1), ["negative"],
                        topic="Earnings")
    api = acme.api()
    detail = api.get(f"/api/v1/finance/documents/{document_id}").json()
    assert (detail["topic"], detail["topic_probability"]) == ("Earnings", 0.9)
    [story] = api.get("/api/v1/finance/stream").json()["results"]
    assert story["topic"] == "Earnings"
