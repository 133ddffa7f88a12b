"""Delivering alerts to the tenant's channels (``AlertChannel``): e-mail, a signed webhook,
and Slack, Feishu and DingTalk incoming webhooks, each in its own message format.

- Never in the evaluation's way: ``alert_channels_notify`` only enqueues one
  ``finance.deliver_alert`` task per active channel after the alert's transaction commits;
  the task sends, and retries with the platform webhooks' backoff (10 s, 20 s, 40 s, ...)
  up to ``DELIVERY_ATTEMPTS`` times. A receiver down, slow or refusing never fails or slows
  the scoring job that raised the alert.
- Every attempt's outcome is written on the channel (``last_status``, ``last_error``), which
  the channels page shows; the "send test" button sends a sample message the same way, at
  once, and shows the outcome.
- Every message carries the ticker, the topic (only when the rule has one: "all topics"
  otherwise), the figures (the window's sentiment index, the value against the threshold or
  baseline, the sample size) and an absolute link to the ticker's page (``SITE_BASE_URL``).
- Addresses are checked and pinned as the platform webhooks' are (``webhooks.urlcheck``):
  the check runs again at every attempt (DNS may change), redirects are never followed.
- Signatures: webhook, ``Webhook-Signature: t=..,v1=<HMAC-SHA256>`` (``webhooks.signing``,
  the same verifier as the platform's webhooks); Feishu, ``timestamp`` and ``sign`` in the
  body (base64 HMAC-SHA256 keyed with ``"<timestamp>\\n<secret>"`` over nothing); DingTalk,
  ``timestamp`` (ms) and ``sign`` in the query (base64 HMAC-SHA256 of
  ``"<timestamp>\\n<secret>"`` keyed with the secret), as their documentation specifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any
from urllib.parse import quote_plus

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from apps.finance_sentiment import selectors
from apps.finance_sentiment.models import Alert, AlertChannel, AlertRule
from config.celery import task_send
from tenancy.context import unscoped
from webhooks.signing import SIGNATURE_HEADER, sign
from webhooks.urlcheck import UnsafeUrl, check_webhook_url, pinned_request

logger = logging.getLogger(__name__)

DELIVERY_ATTEMPTS = 6
BACKOFF_BASE_SECONDS = 10
TIMEOUT_SECONDS = 10
RESPONSE_PREFIX_BYTES = 500
USER_AGENT = "AIPlatform-Alerts/1"


def retry_delay(attempts: int) -> timedelta:
    """The wait after ``attempts`` failed attempts: the platform webhooks' backoff."""
    return timedelta(seconds=BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))


@dataclass(frozen=True)
class AlertMessage:
    """What every channel says about an alert, before its format: ``figures`` for people
    (label, formatted value), ``data`` for machines (the webhook payload)."""

    title: str
    ticker: str
    topic: str | None
    summary: str
    link: str
    figures: list[tuple[str, str]]
    data: dict[str, Any] = field(default_factory=dict)
    event: str = "alert.triggered"
    key: str = ""  # Webhook-Id: the same for every attempt of one delivery

    @property
    def topic_display(self) -> str:
        return self.topic or _("All topics")

    def lines(self) -> list[tuple[str, str]]:
        return [(_("Ticker"), self.ticker), (_("Topic"), self.topic_display), *self.figures]


@dataclass(frozen=True)
class DeliveryOutcome:
    ok: bool
    status_code: int | None = None
    error: str = ""


# --- Messages --------------------------------------------------------------------------------


def alert_payload(alert: Alert) -> dict[str, Any]:
    """The alert as webhooks carry it (``alert.triggered``, and the channels' webhooks)."""
    return {
        "id": alert.pk, "rule": {"id": alert.rule_id, "name": alert.rule.name,
                                 "kind": alert.rule.kind},
        "ticker": alert.ticker, "window_start": alert.window_start.isoformat(),
        "window_end": alert.window_end.isoformat(), "value": alert.value,
        "volume": alert.volume, "details": alert.details, "status": alert.status,
        "message": alert.message, "created_at": alert.created_at.isoformat(),
    }


def _ticker_link(ticker: str) -> str:
    return settings.SITE_BASE_URL + reverse("finance:ticker", args=[ticker])


def _window_index(alert: Alert) -> float | None:
    points = selectors.sentiment_trend(ticker=alert.ticker, granularity="hour",
                                       start=alert.window_start, end=alert.window_end)
    if not points:
        return None
    return selectors.TrendPoint(
        alert.window_start, *(sum(getattr(point, name) for point in points) for name in (
            "positive", "neutral", "negative", "score_sum", "weight_sum", "weighted_net")),
    ).index


def _figures(*, kind: str, value: float, volume: int, details: dict[str, Any],
             index: float | None) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    rows = [(_("Sentiment index"), "—" if index is None else f"{index:+.2f}")]
    data: dict[str, Any] = {"index": None if index is None else round(index, 6),
                            "value": value, "sample_size": volume}
    if kind == AlertRule.Kind.NEGATIVE_SHARE:
        threshold = float(details.get("threshold") or 0.0)
        rows += [(_("Negative share"), f"{value:.0%}"), (_("Threshold"), f"{threshold:.0%}")]
        data |= {"negative_share": value, "threshold": threshold}
    elif kind == AlertRule.Kind.ZSCORE:
        share = float(details.get("share") or 0.0)
        mean = float(details.get("baseline_mean") or 0.0)
        std = float(details.get("baseline_std") or 0.0)
        k = float(details.get("k") or 0.0)
        rows += [(_("Negative share"), f"{share:.0%}"),
                 (_("z-score"), f"{value:.1f}σ (k = {k:g})"),
                 (_("Baseline"), f"{mean:.0%} ± {std:.0%}")]
        data |= {"negative_share": share, "z_score": value, "k": k, "baseline_mean": mean,
                 "baseline_std": std}
    elif kind == AlertRule.Kind.BUZZ:
        mean = float(details.get("baseline_mean") or 0.0)
        std = float(details.get("baseline_std") or 0.0)
        threshold = float(details.get("threshold") or 0.0)
        rows += [(_("News volume"), f"{value:.1f}× (> {threshold:g}×)"),
                 (_("Baseline"), f"{mean:.1f} ± {std:.1f}")]
        data |= {"buzz_ratio": value, "threshold": threshold, "baseline_mean": mean,
                 "baseline_std": std, "z_score": details.get("z_score")}
    else:
        rows.append((_("Value"), f"{value:g}"))
    rows.append((_("Sample size"), ngettext("%(count)d story", "%(count)d stories", volume)
                 % {"count": volume}))
    return rows, data


def alert_message(alert: Alert) -> AlertMessage:
    """The message about ``alert`` (in the active language; the figures are the alert's)."""
    rule = alert.rule
    topic = rule.topic or None
    figures, data = _figures(kind=rule.kind, value=alert.value, volume=alert.volume,
                             details=alert.details, index=_window_index(alert))
    figures.append((_("Window"), f"{alert.window_start:%Y-%m-%d %H:%M} – "
                                 f"{alert.window_end:%Y-%m-%d %H:%M} UTC"))
    payload = {**alert_payload(alert), "figures": data, "url": _ticker_link(alert.ticker)}
    if topic:
        payload["topic"] = topic
    return AlertMessage(
        title=_("[Sentiment alert] %(rule)s: %(ticker)s") % {"rule": rule.name,
                                                            "ticker": alert.ticker},
        ticker=alert.ticker, topic=topic, summary=alert.message,
        link=_ticker_link(alert.ticker), figures=figures, data=payload,
        key=f"alert-{alert.pk}")


def test_message(channel: AlertChannel) -> AlertMessage:
    """A sample alert for the "send test" button: the format and figures of a real one."""
    ticker = (selectors.watchlist_list().values_list("ticker", flat=True).first() or "AAPL")
    figures, data = _figures(kind=AlertRule.Kind.NEGATIVE_SHARE, value=0.6, volume=12,
                             details={"threshold": 0.5}, index=-0.42)
    return AlertMessage(
        title=_("[Test] Sentiment alert: %(ticker)s") % {"ticker": ticker},
        ticker=ticker, topic=None,
        summary=_("A test message from the channel “%(name)s”: real alerts look like this.")
        % {"name": channel.name},
        link=_ticker_link(ticker), figures=figures,
        data={"test": True, "ticker": ticker, "figures": data, "url": _ticker_link(ticker)},
        event="alert.test", key=f"test-{channel.pk}-{int(time.time())}")


# --- Formats ---------------------------------------------------------------------------------


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(message: AlertMessage) -> dict[str, Any]:
    """Slack's incoming webhook: ``text`` (notifications, fallback) and Block Kit ``blocks``."""
    return {
        "text": f"{message.title}: {message.summary}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": message.title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn",
                                         "text": _slack_escape(message.summary)}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": f"*{_slack_escape(label)}*\n{_slack_escape(value)}"}
                for label, value in message.lines()][:10]},
            {"type": "actions", "elements": [{
                "type": "button", "url": message.link,
                "text": {"type": "plain_text",
                         "text": _("Open %(ticker)s") % {"ticker": message.ticker}}}]},
        ],
    }


def feishu_sign(*, secret: str, timestamp: int) -> str:
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def feishu_body(message: AlertMessage, *, secret: str = "",
                timestamp: int | None = None) -> dict[str, Any]:
    """Feishu's custom bot: an ``interactive`` card; signed in the body when it has a secret."""
    body: dict[str, Any] = {
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": True},
            "header": {"template": "blue" if message.event == "alert.test" else "red",
                       "title": {"tag": "plain_text", "content": message.title}},
            "elements": [
                {"tag": "div", "text": {"tag": "plain_text", "content": message.summary}},
                {"tag": "div", "fields": [
                    {"is_short": True,
                     "text": {"tag": "lark_md", "content": f"**{label}**\n{value}"}}
                    for label, value in message.lines()]},
                {"tag": "action", "actions": [{
                    "tag": "button", "type": "primary", "url": message.link,
                    "text": {"tag": "plain_text",
                             "content": _("Open %(ticker)s") % {"ticker": message.ticker}}}]},
            ],
        },
    }
    if secret:
        timestamp = int(time.time()) if timestamp is None else timestamp
        body |= {"timestamp": str(timestamp), "sign": feishu_sign(secret=secret,
                                                                  timestamp=timestamp)}
    return body


def dingtalk_sign(*, secret: str, timestamp_ms: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def dingtalk_url(url: str, *, secret: str = "", timestamp_ms: int | None = None) -> str:
    """The robot's URL, with ``timestamp`` and ``sign`` added when it has a secret."""
    if not secret:
        return url
    timestamp_ms = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    signature = quote_plus(dingtalk_sign(secret=secret, timestamp_ms=timestamp_ms))
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}timestamp={timestamp_ms}&sign={signature}"


def dingtalk_body(message: AlertMessage) -> dict[str, Any]:
    """DingTalk's custom robot: a ``markdown`` message."""
    lines = "\n".join(f"- **{label}**: {value}" for label, value in message.lines())
    text = (f"### {message.title}\n\n{message.summary}\n\n{lines}\n\n"
            f"[{_('Open %(ticker)s') % {'ticker': message.ticker}}]({message.link})")
    return {"msgtype": "markdown", "markdown": {"title": message.title, "text": text}}


def webhook_body(message: AlertMessage) -> dict[str, Any]:
    """The platform webhooks' envelope (``id``, ``event``, ``created_at``, ``data``)."""
    return {"id": message.key, "event": message.event,
            "created_at": timezone.now().isoformat(), "data": message.data}


def email_text(message: AlertMessage) -> str:
    lines = "\n".join(f"{label}: {value}" for label, value in message.lines())
    return f"{message.summary}\n\n{lines}\n\n{message.link}\n"


# --- Sending ---------------------------------------------------------------------------------


def _request(channel: AlertChannel, message: AlertMessage) -> tuple[str, bytes, dict[str, str]]:
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    url = channel.url
    if channel.kind == AlertChannel.Kind.SLACK:
        body = slack_body(message)
    elif channel.kind == AlertChannel.Kind.FEISHU:
        body = feishu_body(message, secret=channel.secret)
    elif channel.kind == AlertChannel.Kind.DINGTALK:
        body = dingtalk_body(message)
        url = dingtalk_url(url, secret=channel.secret)
    else:
        body = webhook_body(message)
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    if channel.kind == AlertChannel.Kind.WEBHOOK:
        headers |= {"Webhook-Id": message.key, "Webhook-Event": message.event}
        if channel.secret:
            headers[SIGNATURE_HEADER] = sign(secret=channel.secret, body=raw)
    return url, raw, headers


def _refusal(kind: str, body: bytes) -> str:
    """Feishu and DingTalk answer 200 with an error code in the body (a bad signature, a
    keyword missing): the delivery failed all the same."""
    if kind not in (AlertChannel.Kind.FEISHU, AlertChannel.Kind.DINGTALK):
        return ""
    try:
        answer = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(answer, dict):
        return ""
    code = answer.get("code", answer.get("StatusCode", answer.get("errcode", 0)))
    if code in (0, None):
        return ""
    text = answer.get("msg") or answer.get("StatusMessage") or answer.get("errmsg") or ""
    return f"error {code}: {text}"


def channel_send(*, channel: AlertChannel, message: AlertMessage) -> DeliveryOutcome:
    """Send ``message`` once to ``channel``; every failure is an outcome, never an error."""
    if channel.kind == AlertChannel.Kind.EMAIL:
        try:
            send_mail(message.title, email_text(message), None, list(channel.emails))
        except Exception as error:  # a mail server down is the channel's failure, recorded
            return DeliveryOutcome(ok=False, error=str(error)[:500] or type(error).__name__)
        return DeliveryOutcome(ok=True)
    url, raw, headers = _request(channel, message)
    try:
        response = pinned_request(check_webhook_url(url), method="POST", body=raw,
                                  headers=headers, timeout=TIMEOUT_SECONDS,
                                  max_bytes=RESPONSE_PREFIX_BYTES)
    except (UnsafeUrl, http.client.HTTPException, OSError, ValueError) as error:
        return DeliveryOutcome(ok=False, error=str(error)[:500])
    if 300 <= response.status < 400:
        return DeliveryOutcome(ok=False, status_code=response.status,
                               error=f"HTTP {response.status}: redirects are not followed")
    if not 200 <= response.status < 300:
        detail = response.body.decode(errors="replace").strip()[:200]
        return DeliveryOutcome(ok=False, status_code=response.status,
                               error=f"HTTP {response.status}" + (f": {detail}" if detail else ""))
    refusal = _refusal(channel.kind, response.body)
    return DeliveryOutcome(ok=not refusal, status_code=response.status, error=refusal[:500])


def _record(channel: AlertChannel, outcome: DeliveryOutcome, *, note: str = "") -> None:
    """The attempt's outcome on the channel, by one UPDATE: a concurrent edit of the channel's
    settings is not overwritten."""
    now = timezone.now()
    changes: dict[str, Any] = {
        "last_attempt_at": now,
        "last_status": (AlertChannel.Outcome.DELIVERED if outcome.ok
                        else AlertChannel.Outcome.FAILED),
        "last_error": "" if outcome.ok else (outcome.error + note)[:500],
    }
    if outcome.ok:
        changes["last_delivered_at"] = now
    AlertChannel.objects.filter(pk=channel.pk).update(**changes)
    for name, value in changes.items():
        setattr(channel, name, value)


def alert_channel_test(*, channel: AlertChannel) -> DeliveryOutcome:
    """Send a sample alert to the channel now (a person is waiting: no retries) and record
    the outcome; an inactive channel is tested all the same."""
    outcome = channel_send(channel=channel, message=test_message(channel))
    _record(channel, outcome)
    return outcome


def alert_channels_notify(alert: Alert) -> int:
    """Enqueue the alert's delivery to each active channel after commit; returns how many."""
    channel_ids = list(AlertChannel.objects.filter(is_active=True).values_list("pk", flat=True))
    for channel_id in channel_ids:
        transaction.on_commit(partial(task_send, "finance.deliver_alert", channel_id, alert.pk,
                                      queue="default"))
    return len(channel_ids)


def alert_channel_tenant(channel_id: int) -> int | None:
    """The tenant of a channel, for the task to set its context (None: deleted)."""
    with unscoped():
        return (AlertChannel.objects.filter(pk=channel_id)
                .values_list("tenant_id", flat=True).first())


def alert_channel_deliver(*, channel_id: int, alert_id: int, attempt: int
                          ) -> DeliveryOutcome | None:
    """One attempt of delivering the alert to the channel, in the tenant's context; None when
    the channel, or the alert, is gone or the channel was switched off meanwhile."""
    channel = AlertChannel.objects.filter(pk=channel_id, is_active=True).first()
    alert = Alert.objects.select_related("rule").filter(pk=alert_id).first()
    if channel is None or alert is None:
        return None
    outcome = channel_send(channel=channel, message=alert_message(alert))
    note = ""
    if not outcome.ok:
        logger.warning("alert %s to channel %s failed (attempt %d): %s", alert_id, channel_id,
                       attempt, outcome.error)
        if attempt < DELIVERY_ATTEMPTS:
            note = " " + _("(attempt %(attempt)d of %(attempts)d; retrying)") % {
                "attempt": attempt, "attempts": DELIVERY_ATTEMPTS}
    _record(channel, outcome, note=note)
    return outcome
