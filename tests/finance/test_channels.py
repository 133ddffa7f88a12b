"""Alert channels: each kind's message reaches a real local HTTP server in its own format
(Slack blocks, a Feishu card, DingTalk markdown, the signed webhook envelope) or the mail
outbox, with the ticker, the topic, the figures and an absolute link; signatures verify;
failures are retried and recorded on the channel; the evaluation only enqueues. The
channels API and pages: validation (400 naming the field), "send test", and cross-tenant
reads, changes, deletes and tests that find nothing (404) and change nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail
from django.test import Client

from apps.finance_sentiment.models import Alert, AlertChannel
from apps.finance_sentiment.services import (
    DELIVERY_ATTEMPTS,
    alert_channel_create,
    alert_channel_deliver,
    alert_rule_create,
    alert_rules_evaluate,
)
from apps.finance_sentiment.tasks import deliver_alert
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.conftest import TenantSetup, WorkerFactory, error_of, wait_until
from tests.finance.conftest import HookServer, doc, ingest, score, watch
from webhooks.signing import SIGNATURE_HEADER, verify

BASE = "/api/v1/finance/channels"
SITE = "https://sentiment.example.com"


@pytest.fixture(autouse=True)
def _site(settings: Any) -> None:
    settings.SITE_BASE_URL = SITE
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True


def channel(setup: TenantSetup, **fields: Any) -> AlertChannel:
    with tenant_context(setup.tenant.pk):
        return alert_channel_create(**{"name": "Desk", **fields})


def fire(setup: TenantSetup, captured: Any) -> tuple[Alert, list[Any]]:
    """Ten negative ACME stories in the last hour and a rule that fires on them; returns the
    alert and the after-commit callbacks the evaluation left (nothing sent yet)."""
    watch(setup, "ACME", "Acme Corp")
    now = datetime.now(UTC)
    ids = ingest(setup, [doc("ACME", now - timedelta(minutes=5 + i)) for i in range(10)])
    score(setup, dict.fromkeys(ids[:8], "negative") | dict.fromkeys(ids[8:], "positive"))
    with tenant_context(setup.tenant.pk):
        alert_rule_create(name="Negative spike", ticker="ACME", kind="negative_share",
                          threshold=0.5, window_hours=24, min_volume=5, notify_webhook=False)
        with captured(execute=False) as callbacks:
            [alert] = alert_rules_evaluate(tickers=["ACME"], now=now)
    return alert, callbacks


def deliver(channel_id: int, alert_id: int, retries: int = 0) -> Any:
    """Run the delivery task eagerly (its retries too, at once)."""
    return deliver_alert.apply(args=[channel_id, alert_id], retries=retries)


def refreshed(setup: TenantSetup, row: AlertChannel) -> AlertChannel:
    with tenant_context(setup.tenant.pk):
        return AlertChannel.objects.get(pk=row.pk)


# --- Formats and signatures ------------------------------------------------------------------


def test_slack_gets_text_and_blocks_with_the_figures_and_link(
        acme: TenantSetup, hook: HookServer, django_capture_on_commit_callbacks: Any) -> None:
    slack = channel(acme, kind="slack", url=hook.url)
    channel(acme, kind="slack", url=hook.url, name="Paused", is_active=False)
    alert, callbacks = fire(acme, django_capture_on_commit_callbacks)
    # One delivery task per active channel, sent after commit.
    assert [(callback.args, callback.keywords) for callback in callbacks] == [
        (("finance.deliver_alert", slack.pk, alert.pk), {"queue": "default"})]
    assert hook.requests == []  # the evaluation only enqueued
    assert deliver(slack.pk, alert.pk).get() == "delivered"
    body = hook.json()
    assert set(body) == {"text", "blocks"}
    assert "ACME" in body["text"]
    assert [block["type"] for block in body["blocks"]] == ["header", "section", "section",
                                                           "actions"]
    fields = "\n".join(item["text"] for item in body["blocks"][2]["fields"])
    for expected in ("*Ticker*\nACME", "*Topic*\nAll topics", "*Negative share*\n80%",
                     "*Threshold*\n50%", "*Sample size*\n10 stories", "*Sentiment index*\n-0.60"):
        assert expected in fields
    button = body["blocks"][3]["elements"][0]
    assert button["url"] == f"{SITE}/finance/tickers/ACME/"
    row = refreshed(acme, slack)
    assert (row.last_status, row.last_error) == ("delivered", "")
    assert row.last_delivered_at is not None


def test_feishu_gets_a_signed_interactive_card(
        acme: TenantSetup, hook: HookServer, django_capture_on_commit_callbacks: Any) -> None:
    feishu = channel(acme, kind="feishu", url=hook.url, secret="feishu-secret")
    alert, _ = fire(acme, django_capture_on_commit_callbacks)
    assert deliver(feishu.pk, alert.pk).get() == "delivered"
    body = hook.json()
    assert body["msg_type"] == "interactive"
    card = body["card"]
    assert "ACME" in card["header"]["title"]["content"]
    contents = "\n".join(item["text"]["content"] for item in card["elements"][1]["fields"])
    assert "**Sample size**\n10 stories" in contents
    assert "**Topic**\nAll topics" in contents
    assert card["elements"][2]["actions"][0]["url"] == f"{SITE}/finance/tickers/ACME/"
    # Feishu's check: base64(HMAC-SHA256(key="<timestamp>\n<secret>", message="")).
    key = f"{body['timestamp']}\nfeishu-secret".encode()
    expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    assert body["sign"] == expected
    # A refusal in the body (Feishu answers 200 with a code) is a failed delivery.
    hook.body = json.dumps({"code": 19021, "msg": "sign match fail"}).encode()
    assert deliver(feishu.pk, alert.pk).get() == "failed"
    row = refreshed(acme, feishu)
    assert row.last_status == "failed"
    assert "19021" in row.last_error
    assert "sign match fail" in row.last_error


def test_dingtalk_gets_markdown_at_a_signed_url(
        acme: TenantSetup, hook: HookServer, django_capture_on_commit_callbacks: Any) -> None:
    dingtalk = channel(acme, kind="dingtalk", url=f"{hook.url}?access_token=abc",
                       secret="SECdingtalk")
    alert, _ = fire(acme, django_capture_on_commit_callbacks)
    assert deliver(dingtalk.pk, alert.pk).get() == "delivered"
    body = hook.json()
    assert body["msgtype"] == "markdown"
    assert "ACME" in body["markdown"]["title"]
    text = body["markdown"]["text"]
    assert "- **Negative share**: 80%" in text
    assert "- **Topic**: All topics" in text
    assert f"({SITE}/finance/tickers/ACME/)" in text
    query = parse_qs(urlsplit(hook.requests[-1]["path"]).query)
    assert query["access_token"] == ["abc"]
    # DingTalk's check: base64(HMAC-SHA256(key=secret, message="<timestamp>\n<secret>")).
    timestamp = query["timestamp"][0]
    mac = hmac.new(b"SECdingtalk", f"{timestamp}\nSECdingtalk".encode(), hashlib.sha256)
    assert query["sign"] == [base64.b64encode(mac.digest()).decode()]


def test_webhook_is_signed_like_the_platform_webhooks(
        acme: TenantSetup, hook: HookServer, django_capture_on_commit_callbacks: Any) -> None:
    webhook = channel(acme, kind="webhook", url=hook.url, secret="whsec_channel")
    alert, _ = fire(acme, django_capture_on_commit_callbacks)
    assert deliver(webhook.pk, alert.pk).get() == "delivered"
    [request] = hook.requests
    raw, headers = request["body"], request["headers"]
    assert verify(secret="whsec_channel", header=headers[SIGNATURE_HEADER], body=raw)
    assert not verify(secret="whsec_other", header=headers[SIGNATURE_HEADER], body=raw)
    assert headers["Webhook-Event"] == "alert.triggered"
    body = json.loads(raw)
    assert body["event"] == "alert.triggered"
    assert body["id"] == f"alert-{alert.pk}"
    data = body["data"]
    assert data["ticker"] == "ACME"
    assert data["id"] == alert.pk
    assert "topic" not in data  # the rule has no topic
    assert data["figures"] == {"index": -0.6, "value": 0.8, "sample_size": 10,
                               "negative_share": 0.8, "threshold": 0.5}
    assert data["url"] == f"{SITE}/finance/tickers/ACME/"
    # Unsigned without a secret.
    plain = channel(acme, kind="webhook", url=hook.url, name="Plain")
    assert deliver(plain.pk, alert.pk).get() == "delivered"
    assert SIGNATURE_HEADER not in hook.requests[-1]["headers"]


def test_email_channel_sends_the_message(
        acme: TenantSetup, django_capture_on_commit_callbacks: Any) -> None:
    email = channel(acme, kind="email", emails=["desk@example.com", "pm@example.com"])
    alert, _ = fire(acme, django_capture_on_commit_callbacks)
    mail.outbox.clear()
    assert deliver(email.pk, alert.pk).get() == "delivered"
    [message] = mail.outbox
    assert sorted(message.to) == ["desk@example.com", "pm@example.com"]
    assert "ACME" in message.subject
    assert "Sample size: 10 stories" in message.body
    assert f"{SITE}/finance/tickers/ACME/" in message.body


def test_failures_are_retried_then_recorded_and_never_block_the_evaluation(
        acme: TenantSetup, hook: HookServer, django_capture_on_commit_callbacks: Any) -> None:
    hook.status = 500
    failing = channel(acme, kind="slack", url=hook.url)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{probe.getsockname()[1]}/hook"
    dead = channel(acme, kind="webhook", url=dead_url, name="Dead")
    alert, callbacks = fire(acme, django_capture_on_commit_callbacks)
    assert len(callbacks) == 2  # enqueued only: the evaluation returned without sending
    assert hook.requests == []
    # Run eagerly, the task's retries run at once: every attempt, then "failed".
    assert deliver(failing.pk, alert.pk).get() == "failed"
    assert len(hook.requests) == DELIVERY_ATTEMPTS
    row = refreshed(acme, failing)
    assert (row.last_status, row.last_error) == ("failed", "HTTP 500: ok")
    assert row.last_delivered_at is None
    # An attempt before the last says that it will be retried.
    with tenant_context(acme.tenant.pk):
        outcome = alert_channel_deliver(channel_id=failing.pk, alert_id=alert.pk, attempt=2)
    assert outcome is not None
    assert not outcome.ok
    assert refreshed(acme, failing).last_error == (
        f"HTTP 500: ok (attempt 2 of {DELIVERY_ATTEMPTS}; retrying)")
    assert deliver(dead.pk, alert.pk).get() == "failed"
    assert refreshed(acme, dead).last_status == "failed"
    assert refreshed(acme, dead).last_error
    requests_before = len(hook.requests)
    # A channel switched off meanwhile stops the retries.
    with tenant_context(acme.tenant.pk):
        AlertChannel.objects.filter(pk=failing.pk).update(is_active=False)
    assert deliver(failing.pk, alert.pk, retries=2).get() == "gone"
    assert len(hook.requests) == requests_before


@pytest.mark.slow
def test_a_real_worker_delivers_and_retries(
        transactional_db: None, acme: TenantSetup, hook: HookServer,
        workers: WorkerFactory) -> None:
    """Through the queue: the evaluation's commit enqueues, a worker sends, the receiver's
    first refusal is recorded on the channel and the retry (10 s later) delivers."""
    workers.start(queues="default", WEBHOOKS_ALLOW_PRIVATE_URLS="1", SITE_BASE_URL=SITE)
    hook.fail_first = 1
    slack = channel(acme, kind="slack", url=hook.url)
    watch(acme, "ACME", "Acme Corp")
    now = datetime.now(UTC)
    ids = ingest(acme, [doc("ACME", now - timedelta(minutes=5 + i)) for i in range(6)])
    score(acme, dict.fromkeys(ids, "negative"))
    with tenant_context(acme.tenant.pk):
        alert_rule_create(name="Negative spike", ticker="ACME", kind="negative_share",
                          threshold=0.5, window_hours=24, min_volume=5, notify_webhook=False)
        [alert] = alert_rules_evaluate(tickers=["ACME"], now=now)
    wait_until("the first attempt", lambda: refreshed(acme, slack).last_status == "failed",
               timeout=60)
    assert refreshed(acme, slack).last_error.startswith("HTTP 503")
    wait_until("the retry", lambda: refreshed(acme, slack).last_status == "delivered",
               timeout=60)
    assert len(hook.requests) == 2
    assert "ACME" in hook.json()["text"]
    assert alert.ticker == "ACME"


# --- API -------------------------------------------------------------------------------------


def test_channels_api_crud_and_send_test(acme: TenantSetup, hook: HookServer) -> None:
    api = acme.api()
    created = api.post(BASE, {"name": "Slack desk", "kind": "slack", "url": hook.url,
                              "secret": "s3cret"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["has_secret"] is True
    assert "secret" not in body
    url = f"{BASE}/{body['id']}"
    assert api.get(BASE).json()[0]["name"] == "Slack desk"
    changed = api.patch(url, {"name": "Slack room", "is_active": False}, format="json")
    assert changed.status_code == 200
    assert changed.json()["has_secret"] is True  # a secret left out is kept
    tested = api.post(f"{url}/test").json()
    assert tested["ok"] is True
    assert tested["status_code"] == 200
    assert tested["channel"]["last_status"] == "delivered"
    assert "[Test]" in hook.json()["text"]
    hook.status = 403
    failed = api.post(f"{url}/test").json()
    assert failed["ok"] is False
    assert failed["error"].startswith("HTTP 403")
    assert api.get(url).json()["last_status"] == "failed"
    assert api.delete(url).status_code == 204
    assert api.get(url).status_code == 404


@pytest.mark.parametrize(("payload", "field"), [
    ({"name": "x", "kind": "sms", "url": "https://example.com/hook"}, "kind"),
    ({"name": "x", "kind": "slack", "url": "ftp://example.com/hook"}, "url"),
    ({"name": "x", "kind": "slack", "url": "https://user:pw@example.com/hook"}, "url"),
    ({"name": "x", "kind": "slack"}, "url"),
    ({"name": "x", "kind": "email", "emails": ["desk@example.com", "not-an-address"]},
     "emails"),
    ({"name": "x", "kind": "email", "emails": []}, "emails"),
    ({"name": "x", "kind": "email", "emails": "desk@example.com"}, "emails"),
    ({"name": "", "kind": "slack", "url": "https://example.com/hook"}, "name"),
    ({"name": "x", "kind": "webhook", "url": "https://example.com/hook", "secret": "s" * 201},
     "secret"),
])
def test_bad_channels_are_refused_naming_the_field(acme: TenantSetup, payload: dict,
                                                   field: str) -> None:
    response = acme.api().post(BASE, payload, format="json")
    assert response.status_code == 400, response.content
    assert field in error_of(response)["error"]["fields"], error_of(response)
    with tenant_context(acme.tenant.pk):
        assert not AlertChannel.objects.exists()


def test_private_addresses_are_refused_outside_tests(acme: TenantSetup, settings: Any) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    response = acme.api().post(BASE, {"name": "x", "kind": "slack",
                                      "url": "https://127.0.0.1/hook"}, format="json")
    assert response.status_code == 400
    assert "url" in error_of(response)["error"]["fields"]


def _channel_state(setup: TenantSetup) -> list[tuple]:
    with tenant_context(setup.tenant.pk):
        return list(AlertChannel.objects.values_list("name", "url", "secret", "is_active",
                                                     "last_status", "last_attempt_at"))


def test_another_tenant_cannot_read_change_delete_or_test(
        acme: TenantSetup, globex: TenantSetup, hook: HookServer) -> None:
    mine = channel(acme, kind="slack", url=hook.url, secret="s")
    before = _channel_state(acme)
    thief = globex.api()
    url = f"{BASE}/{mine.pk}"
    missing = thief.get(f"{BASE}/999999999")
    assert thief.get(url).status_code == 404
    assert error_of(thief.get(url)) == error_of(missing)
    assert thief.patch(url, {"url": "https://evil.example.com/"}, format="json"
                       ).status_code == 404
    assert thief.put(url, {"name": "x", "kind": "slack", "url": "https://evil.example.com/"},
                     format="json").status_code == 404
    assert thief.post(f"{url}/test").status_code == 404
    assert thief.delete(url).status_code == 404
    assert thief.get(BASE).json() == []
    assert hook.requests == []
    assert _channel_state(acme) == before
    # The pages: the same.
    browser = globex.browser()
    for path in (f"/finance/channels/{mine.pk}/edit/",):
        assert browser.get(path).status_code == 404
        assert browser.post(path, {"name": "x", "kind": "slack",
                                   "url": "https://evil.example.com/"}).status_code == 404
    assert browser.post(f"/finance/channels/{mine.pk}/test/").status_code == 404
    assert browser.post(f"/finance/channels/{mine.pk}/delete/").status_code == 404
    assert f"channel-{mine.pk}" not in browser.get("/finance/channels/").content.decode()
    assert hook.requests == []
    assert _channel_state(acme) == before


# --- Pages -----------------------------------------------------------------------------------


def test_channels_page_adds_edits_tests_and_deletes(acme: TenantSetup, hook: HookServer) -> None:
    browser = acme.browser()
    refused = browser.post("/finance/channels/", {"name": "Mail", "kind": "email",
                                                  "emails": "desk@example.com, nope"})
    assert refused.status_code == 400
    assert "is not an e-mail address" in refused.content.decode()
    added = browser.post("/finance/channels/", {"name": "Room", "kind": "dingtalk",
                                                "url": hook.url, "secret": "SECx",
                                                "is_active": "on"})
    assert added.status_code == 302
    with tenant_context(acme.tenant.pk):
        row = AlertChannel.objects.get()
    assert (row.kind, row.secret, row.is_active) == ("dingtalk", "SECx", True)
    page = browser.get("/finance/channels/").content.decode()
    assert "Room" in page
    assert "SECx" not in page
    assert "Never" in page
    edit = browser.get(f"/finance/channels/{row.pk}/edit/")
    assert edit.status_code == 200
    assert "SECx" not in edit.content.decode()
    assert browser.post(f"/finance/channels/{row.pk}/edit/", {
        "name": "Trading room", "kind": "dingtalk", "url": hook.url, "is_active": "on",
    }).status_code == 302
    row = refreshed(acme, row)
    assert (row.name, row.secret) == ("Trading room", "SECx")  # empty secret: kept
    tested = browser.post(f"/finance/channels/{row.pk}/test/", follow=True)
    assert "A test message was delivered" in tested.content.decode()
    assert hook.json()["msgtype"] == "markdown"
    assert "sign=" in hook.requests[-1]["path"]
    hook.status = 500
    failed = browser.post(f"/finance/channels/{row.pk}/test/", follow=True).content.decode()
    assert "failed: HTTP 500" in failed
    assert refreshed(acme, row).last_status == "failed"
    assert browser.post(f"/finance/channels/{row.pk}/delete/").status_code == 302
    with tenant_context(acme.tenant.pk):
        assert not AlertChannel.objects.exists()


def test_viewers_cannot_change_channels(acme: TenantSetup, hook: HookServer) -> None:
    mine = channel(acme, kind="slack", url=hook.url)
    viewer = acme.add_member(role=Role.VIEWER)
    client = Client()
    client.force_login(viewer.user)
    assert client.get("/finance/channels/").status_code == 200
    assert client.post(f"/finance/channels/{mine.pk}/test/").status_code == 403
    assert client.post(f"/finance/channels/{mine.pk}/delete/").status_code == 403
    assert hook.requests == []
