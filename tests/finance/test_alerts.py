"""Alert rules: negative share and z-score over aligned windows, minimum volume, one alert per
rule and window however often they run, notifications by webhook and e-mail, acknowledge and
resolve; the rules and alerts endpoints."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from api.errors import service_error_status
from apps.finance_sentiment.models import Alert, AlertRule
from apps.finance_sentiment.services import (
    alert_acknowledge,
    alert_resolve,
    alert_rule_create,
    alert_rules_evaluate,
    alerts_evaluate_all,
    window_start_for,
)
from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from tests.finance.conftest import Receiver, doc, ingest, score, watch
from webhooks.models import WebhookDelivery
from webhooks.services import webhook_endpoint_create

NOW = datetime(2024, 5, 15, 10, 30, tzinfo=UTC)
TODAY = datetime(2024, 5, 15, tzinfo=UTC)


def add(setup: TenantSetup, ticker: str, when: datetime, labels: list[str]) -> None:
    ids = ingest(setup, [doc(ticker, when + timedelta(minutes=i % 50)) for i in range(len(labels))])
    score(setup, dict(zip(ids, labels, strict=True)))


def rule(setup: TenantSetup, **fields) -> AlertRule:
    defaults = {"name": "Negative spike", "ticker": "ACME", "kind": "negative_share",
                "threshold": 0.5, "window_hours": 24, "min_volume": 5, "notify_webhook": False}
    with tenant_context(setup.tenant.pk):
        return alert_rule_create(**(defaults | fields))


def evaluate(setup: TenantSetup, tickers=None, now: datetime = NOW) -> list[Alert]:
    with tenant_context(setup.tenant.pk):
        return alert_rules_evaluate(tickers=tickers, now=now)


def alerts(setup: TenantSetup) -> list[Alert]:
    with tenant_context(setup.tenant.pk):
        return list(Alert.objects.order_by("id"))


def test_windows_are_aligned_to_multiples_of_their_size_since_the_epoch() -> None:
    assert window_start_for(NOW, 24) == TODAY
    assert window_start_for(NOW, 6) == TODAY + timedelta(hours=6)
    assert window_start_for(NOW, 1) == TODAY + timedelta(hours=10)
    assert window_start_for(TODAY, 24) == TODAY
    # 5-hour windows do not divide a day; still the same answer anywhere inside the window.
    start = window_start_for(NOW, 5)
    assert int(start.timestamp()) % (5 * 3600) == 0
    assert window_start_for(start + timedelta(hours=4, minutes=59), 5) == start


def test_negative_share_above_threshold_raises_one_alert_per_window(acme: TenantSetup) -> None:
    add(acme, "ACME", TODAY + timedelta(hours=1), ["negative"] * 4 + ["positive", "neutral"])
    the_rule = rule(acme)
    [alert] = evaluate(acme, ["ACME"])
    assert (alert.rule_id, alert.ticker, alert.status) == (the_rule.pk, "ACME", "open")
    assert (alert.window_start, alert.window_end) == (TODAY, TODAY + timedelta(days=1))
    assert (alert.value, alert.volume) == (pytest.approx(4 / 6), 6)
    assert "67% of 6 documents negative" in alert.message
    # Evaluating again, later in the same window and with more negative news: no new alert.
    add(acme, "ACME", TODAY + timedelta(hours=5), ["negative"] * 3)
    assert evaluate(acme, ["ACME"], now=NOW + timedelta(hours=3)) == []
    assert evaluate(acme, None, now=NOW + timedelta(hours=3)) == []
    assert len(alerts(acme)) == 1
    # The next day is another window.
    add(acme, "ACME", TODAY + timedelta(days=1, hours=2), ["negative"] * 5)
    [tomorrow] = evaluate(acme, ["ACME"], now=NOW + timedelta(days=1))
    assert tomorrow.window_start == TODAY + timedelta(days=1)


def test_no_alert_below_threshold_or_minimum_volume(acme: TenantSetup) -> None:
    add(acme, "ACME", TODAY + timedelta(hours=1), ["negative"] * 4)  # 100% but only 4
    add(acme, "GLBX", TODAY + timedelta(hours=1), ["negative"] * 5 + ["positive"] * 5)  # 50%
    rule(acme)
    rule(acme, ticker="GLBX")
    assert evaluate(acme) == []
    add(acme, "ACME", TODAY + timedelta(hours=2), ["negative"])  # now 5 of 5
    [alert] = evaluate(acme)
    assert alert.ticker == "ACME"


def test_documents_scored_after_their_window_closed_still_count(acme: TenantSetup) -> None:
    rule(acme)
    yesterday = TODAY - timedelta(days=1)
    add(acme, "ACME", yesterday + timedelta(hours=20), ["negative"] * 6)
    [alert] = evaluate(acme, ["ACME"])  # evaluated today
    assert alert.window_start == yesterday
    assert evaluate(acme, ["ACME"], now=NOW + timedelta(days=2)) == []  # too old now


def test_rule_without_ticker_covers_the_watchlist(acme: TenantSetup) -> None:
    watch(acme, "ACME")
    watch(acme, "GLBX")
    for ticker in ("ACME", "GLBX", "UNWATCHED"):
        add(acme, ticker, TODAY + timedelta(hours=1), ["negative"] * 5)
    rule(acme, ticker=None)
    rule(acme, name="inactive", ticker=None, is_active=False)
    assert {a.ticker for a in evaluate(acme, ["GLBX", "UNWATCHED"])} == {"GLBX"}
    assert {a.ticker for a in evaluate(acme)} == {"ACME"}


def _baseline(setup: TenantSetup, ticker: str, days: int, rng: random.Random) -> None:
    for day in range(1, days + 1):
        negatives = rng.choice([1, 2, 2, 3])
        labels = ["negative"] * negatives + ["positive"] * (20 - negatives)
        add(setup, ticker, TODAY - timedelta(days=day, hours=-3), labels)


def test_zscore_against_the_trailing_baseline(acme: TenantSetup) -> None:
    rng = random.Random(1)
    _baseline(acme, "ACME", 14, rng)
    rule(acme, kind="zscore", threshold=None, k=3, baseline_days=14)
    add(acme, "ACME", TODAY + timedelta(hours=1), ["negative"] * 3 + ["positive"] * 17)
    assert evaluate(acme) == []  # an ordinary day
    add(acme, "ACME", TODAY + timedelta(hours=2), ["negative"] * 20)
    [alert] = evaluate(acme)
    assert alert.value > 3
    assert alert.volume == 40
    details = alert.details
    assert details["baseline_windows"] == 14
    assert 0.05 < details["baseline_mean"] < 0.15
    assert details["share"] == pytest.approx(23 / 40)
    assert "above the 14-day baseline" in alert.message
    assert evaluate(acme) == []


def test_zscore_needs_history_and_volume(acme: TenantSetup) -> None:
    rng = random.Random(2)
    _baseline(acme, "ACME", 2, rng)  # two windows of history: not enough
    rule(acme, kind="zscore", threshold=None, k=2, min_volume=30)
    add(acme, "ACME", TODAY + timedelta(hours=1), ["negative"] * 40)
    assert evaluate(acme) == []
    _baseline(acme, "GLBX", 10, rng)
    rule(acme, kind="zscore", threshold=None, k=2, min_volume=30, ticker="GLBX")
    add(acme, "GLBX", TODAY + timedelta(hours=1), ["negative"] * 29)  # below min volume
    assert evaluate(acme) == []
    add(acme, "GLBX", TODAY + timedelta(hours=1), ["negative"])
    assert [a.ticker for a in evaluate(acme)] == ["GLBX"]


def test_a_flat_baseline_does_not_make_every_wobble_infinite(acme: TenantSetup) -> None:
    for day in range(1, 8):
        add(acme, "ACME", TODAY - timedelta(days=day, hours=-3), ["negative"] + ["positive"] * 9)
    rule(acme, kind="zscore", threshold=None, k=3, baseline_days=7)
    add(acme, "ACME", TODAY + timedelta(hours=1), ["negative"] * 2 + ["positive"] * 8)
    assert evaluate(acme) == []  # 20% vs a flat 10%: 2 σ with the 0.05 floor
    add(acme, "ACME", TODAY + timedelta(hours=1), ["negative"] * 10)
    [alert] = evaluate(acme)
    assert alert.value == pytest.approx((0.6 - 0.1) / 0.05)


def test_new_alerts_notify_by_signed_webhook_and_email(
    acme: TenantSetup, allow_loopback: None, receiver: Receiver,
    django_capture_on_commit_callbacks
) -> None:
    with tenant_context(acme.tenant.pk):
        webhook_endpoint_create(url=receiver.url, events=["alert.triggered"])
    rule(acme, notify_webhook=True, notify_email=["risk@acme.example.com", "cfo@acme.example.com"])
    add(acme, "ACME", TODAY + timedelta(hours=1), ["negative"] * 6)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        [alert] = evaluate(acme)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert sorted(message.to) == ["cfo@acme.example.com", "risk@acme.example.com"]
    assert "ACME" in message.subject
    assert alert.message in message.body
    with tenant_context(acme.tenant.pk):
        [delivery] = WebhookDelivery.objects.all()
    assert delivery.event == "alert.triggered"
    assert delivery.payload["id"] == alert.pk
    assert delivery.payload["ticker"] == "ACME"
    assert delivery.payload["rule"]["name"] == "Negative spike"
    assert callbacks  # the webhook is sent after commit too
    with django_capture_on_commit_callbacks(execute=True):
        assert evaluate(acme) == []
    assert len(mail.outbox) == 1  # no second notification for the same window


def test_acknowledge_then_resolve(acme: TenantSetup) -> None:
    add(acme, "ACME", TODAY + timedelta(hours=1), ["negative"] * 6)
    rule(acme)
    [alert] = evaluate(acme)
    with tenant_context(acme.tenant.pk):
        alert = alert_acknowledge(alert=alert, by_user_id=acme.owner.pk, by_name="owner")
        assert (alert.status, alert.acknowledged_by_id) == ("acknowledged", acme.owner.pk)
        first_ack = alert.acknowledged_at
        again = alert_acknowledge(alert=alert, by_user_id=None, by_name="someone else")
        assert (again.acknowledged_at, again.acknowledged_by_name) == (first_ack, "owner")
        resolved = alert_resolve(alert=alert, by_name="owner")
        assert resolved.status == "resolved"
        assert resolved.resolved_at is not None
        from apps.finance_sentiment.services import FinanceError

        with pytest.raises(FinanceError) as refused:
            alert_acknowledge(alert=alert, by_user_id=None, by_name="late")
        assert service_error_status(refused.value) == 409  # the API's mapping of its code


def test_beat_evaluates_every_tenant_in_its_own_context(acme: TenantSetup,
                                                        globex: TenantSetup) -> None:
    for setup in (acme, globex):
        add(setup, "ACME", TODAY + timedelta(hours=1), ["negative"] * 6)
        rule(setup)
    assert alerts_evaluate_all(now=NOW) == 2
    assert alerts_evaluate_all(now=NOW) == 0
    assert [a.ticker for a in alerts(acme)] == ["ACME"]
    assert [a.ticker for a in alerts(globex)] == ["ACME"]


# --- API ---------------------------------------------------------------------------------------


def test_rules_crud_and_validation(acme: TenantSetup) -> None:
    api = acme.api()
    created = api.post("/api/v1/finance/rules", {
        "name": "Spike", "ticker": "$acme", "kind": "negative_share", "threshold": 0.4,
        "window_hours": 6, "min_volume": 3, "notify_email": ["risk@acme.example.com"]},
        format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["ticker"], body["kind"], body["baseline_days"]) == ("ACME", "negative_share", 14)
    url = f"/api/v1/finance/rules/{body['id']}"
    changed = api.patch(url, {"kind": "zscore", "k": 2.5}, format="json")
    assert changed.status_code == 200, changed.content
    assert (changed.json()["kind"], changed.json()["k"]) == ("zscore", 2.5)
    assert api.patch(url, {"ticker": None}, format="json").json()["ticker"] is None
    assert [r["id"] for r in api.get("/api/v1/finance/rules").json()["results"]] == [body["id"]]
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404


@pytest.mark.parametrize(("payload", "field"), [
    ({"kind": "negative_share"}, "threshold"),
    ({"kind": "negative_share", "threshold": 1.5}, "threshold"),
    ({"kind": "zscore"}, "k"),
    ({"kind": "zscore", "k": 2, "window_hours": 48, "baseline_days": 2}, "baseline_days"),
    ({"kind": "other", "threshold": 0.5}, "kind"),
    ({"kind": "negative_share", "threshold": 0.5, "window_hours": 0}, "window_hours"),
    ({"kind": "negative_share", "threshold": 0.5, "notify_email": ["nope"]}, "notify_email"),
    ({"kind": "negative_share", "threshold": 0.5, "ticker": "no way"}, "ticker"),
])
def test_invalid_rules_name_the_field(acme: TenantSetup, payload: dict, field: str) -> None:
    response = acme.api().post("/api/v1/finance/rules", {"name": "r", **payload}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    with tenant_context(acme.tenant.pk):
        assert not AlertRule.objects.exists()


def test_alerts_list_filter_acknowledge_resolve(acme: TenantSetup) -> None:
    add(acme, "ACME", TODAY + timedelta(hours=1), ["negative"] * 6)
    add(acme, "GLBX", TODAY + timedelta(hours=1), ["negative"] * 6)
    rule(acme)
    rule(acme, ticker="GLBX")
    evaluate(acme)
    api = acme.api()
    listed = api.get("/api/v1/finance/alerts").json()["results"]
    assert {a["ticker"] for a in listed} == {"ACME", "GLBX"}
    [acme_alert] = api.get("/api/v1/finance/alerts", {"ticker": "acme"}).json()["results"]
    assert acme_alert["rule_name"] == "Negative spike"
    url = f"/api/v1/finance/alerts/{acme_alert['id']}"
    acknowledged = api.post(f"{url}/acknowledge")
    assert acknowledged.status_code == 200
    assert acknowledged.json()["status"] == "acknowledged"
    assert acknowledged.json()["acknowledged_by_name"].startswith("API key acme key")
    assert [a["ticker"] for a in api.get("/api/v1/finance/alerts",
                                         {"status": "open"}).json()["results"]] == ["GLBX"]
    assert api.post(f"{url}/resolve").json()["status"] == "resolved"
    assert api.post(f"{url}/resolve").status_code == 200
    conflict = api.post(f"{url}/acknowledge")
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "conflict"
    assert api.get("/api/v1/finance/alerts", {"status": "bogus"}).status_code == 400
    # A signed-in member acknowledges as themselves.
    [other] = api.get("/api/v1/finance/alerts", {"ticker": "GLBX"}).json()["results"]
    browser = acme.browser()
    response = browser.post(f"/api/v1/finance/alerts/{other['id']}/acknowledge")
    assert response.status_code == 200, response.content
    assert response.json()["acknowledged_by"] == acme.owner.pk
