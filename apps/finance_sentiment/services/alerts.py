"""Writes of alerting: alert rules, their evaluation, the alerts raised and their life cycle.

- Rules are validated as a whole (:func:`alert_rule_validate`): one ``FinanceError`` lists every
  invalid field. ``negative_share`` needs a threshold in (0, 1); ``zscore`` needs ``k`` and a
  baseline of at least ``MIN_BASELINE_WINDOWS`` windows.
- Windows are aligned to multiples of ``window_hours`` since the Unix epoch (UTC), so every
  evaluation names a window the same way, and an alert is unique per (rule, ticker, window)
  (``ON CONFLICT ... DO NOTHING``): evaluating after every scoring job *and* every 5 minutes
  raises each alert once. The current window and the one before it are evaluated, since a
  document may be scored after its window closed.
- :func:`rule_window_firings` decides, for any run of windows, from the hourly rollups (a
  topic-scoped rule: from that topic's documents), read through ``selectors.window_counts``;
  the live evaluation (:func:`rule_firings`) asks it about two windows, the dry run
  (``services.dry_run``) about 30 or 90 days. A z-score needs ``MIN_BASELINE_WINDOWS``
  windows with documents, and its standard deviation is floored at ``MIN_BASELINE_STD``.
  ``buzz`` compares the window's stories (near-duplicates counted once, as in the rollups)
  with their mean over the baseline's windows (empty ones count as 0) and fires when the
  ratio is above ``threshold``.
- A new alert is notified after commit: a signed ``alert.triggered`` webhook (when the rule
  says so), an e-mail to the rule's addresses, and one ``finance.deliver_alert`` task per
  active alert channel (``services.delivery``: Slack, Feishu, DingTalk, signed webhooks,
  e-mail lists, retried there). A mail server or receiver down is logged or recorded on the
  channel and never fails the scoring job that raised the alert.
- Life cycle: open → acknowledged → resolved (or open → resolved). Repeating a transition
  changes nothing; acknowledging a resolved alert is a 409.
"""

from __future__ import annotations

import json
import logging
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import EmailValidator
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.finance_sentiment.models import Alert, AlertRule, WatchlistEntry
from apps.finance_sentiment.selectors import WindowCounts, window_counts
from apps.finance_sentiment.services.delivery import alert_channels_notify, alert_payload
from apps.finance_sentiment.services.errors import FinanceError
from apps.finance_sentiment.spec import TOPICS
from apps.finance_sentiment.tickers import normalise_ticker
from tenancy.context import require_tenant_id, tenant_context, unscoped
from webhooks.services import webhook_emit

logger = logging.getLogger(__name__)

_EMAIL_VALIDATOR = EmailValidator()


# --- Alert rules -----------------------------------------------------------------------------

RULE_FIELDS = ("name", "ticker", "topic", "kind", "threshold", "k", "window_hours", "baseline_days",
               "min_volume", "notify_email", "notify_webhook", "is_active")
MIN_BASELINE_WINDOWS = 3
# A flat baseline has no spread; a floor on the standard deviation (5 percentage points)
# keeps a tiny wobble from reading as an infinite z-score.
MIN_BASELINE_STD = 0.05
# Buzz: a ticker barely in the news has a mean near 0 stories; the floors keep one story
# from reading as an infinite ratio or z-score.
MIN_BUZZ_MEAN = 1.0
MIN_BUZZ_STD = 1.0
MAX_BUZZ_RATIO = 100.0


def alert_rule_validate(rule: AlertRule) -> None:
    problems: dict[str, list[str]] = {}
    if not rule.name.strip():
        problems["name"] = [_("is required")]
    if rule.ticker:
        ticker = normalise_ticker(rule.ticker)
        if ticker is None:
            problems["ticker"] = [_("'%(value)s' is not a ticker symbol")
                                  % {"value": rule.ticker}]
        rule.ticker = ticker
    else:
        rule.ticker = None
    rule.topic = (rule.topic or "").strip()
    if rule.topic and rule.topic not in TOPICS:
        problems["topic"] = [_("'%(value)s' is not a topic") % {"value": rule.topic}]
    if rule.kind == AlertRule.Kind.NEGATIVE_SHARE:
        if rule.threshold is None or not 0 < rule.threshold < 1:
            problems["threshold"] = [_("a share between 0 and 1 (exclusive) is required for "
                                       "kind 'negative_share'")]
    elif rule.kind == AlertRule.Kind.ZSCORE:
        if rule.k is None or not 0 < rule.k <= 20:
            problems["k"] = [_("a number of standard deviations between 0 and 20 is required "
                               "for kind 'zscore'")]
    elif rule.kind == AlertRule.Kind.BUZZ:
        if rule.threshold is None or not 1 < rule.threshold <= MAX_BUZZ_RATIO:
            problems["threshold"] = [_("a ratio to the baseline above 1 and at most 100 is "
                                       "required for kind 'buzz'")]
    else:
        problems["kind"] = [_("choose one of %(kinds)s")
                            % {"kinds": ", ".join(AlertRule.Kind.values)}]
    if not 1 <= rule.window_hours <= 24 * 7:
        problems["window_hours"] = [_("between 1 and 168 hours")]
    if not 1 <= rule.baseline_days <= 90:
        problems["baseline_days"] = [_("between 1 and 90 days")]
    elif (rule.kind in (AlertRule.Kind.ZSCORE, AlertRule.Kind.BUZZ)
          and rule.baseline_days * 24 < MIN_BASELINE_WINDOWS * rule.window_hours):
        problems["baseline_days"] = [_("must span at least %(count)d windows")
                                     % {"count": MIN_BASELINE_WINDOWS}]
    if rule.min_volume < 1:
        problems["min_volume"] = [_("at least 1")]
    emails = []
    for email in rule.notify_email:
        try:
            _EMAIL_VALIDATOR(email)
        except ValidationError:
            problems.setdefault("notify_email", []).append(
                _("'%(value)s' is not an e-mail address") % {"value": email})
        emails.append(email.strip())
    if len(emails) > 20:
        problems.setdefault("notify_email", []).append(_("at most 20 addresses"))
    rule.notify_email = sorted(set(emails))
    if problems:
        raise FinanceError(_("Some fields of the rule are invalid: %(fields)s")
                           % {"fields": ", ".join(problems)},
                           fields=problems)


@transaction.atomic
def alert_rule_create(**fields: Any) -> AlertRule:
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise TypeError(f"unknown rule fields {sorted(unknown)}")
    rule = AlertRule(**fields)
    alert_rule_validate(rule)
    rule.save()
    return rule


@transaction.atomic
def alert_rule_update(*, rule: AlertRule, changes: dict[str, Any]) -> AlertRule:
    for name, value in changes.items():
        if name not in RULE_FIELDS:
            raise TypeError(f"unknown rule field {name!r}")
        setattr(rule, name, value)
    alert_rule_validate(rule)
    rule.save()
    return rule


@transaction.atomic
def alert_rule_delete(*, rule: AlertRule) -> None:
    """Delete the rule and its alerts (deactivate it instead to keep them)."""
    rule.delete()


# --- Alert evaluation ------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def window_start_for(moment: datetime, window_hours: int) -> datetime:
    """The start of the window holding ``moment``: windows are aligned to multiples of
    ``window_hours`` since the Unix epoch (UTC), so every evaluation in the same window names
    it the same way."""
    size = window_hours * 3600
    seconds = int((moment - _EPOCH).total_seconds())
    return _EPOCH + timedelta(seconds=seconds - seconds % size)


@dataclass(frozen=True)
class Firing:
    ticker: str
    window_start: datetime
    window_end: datetime
    value: float
    volume: int
    message: str
    details: dict[str, Any]


def _fmt_window(start: datetime, hours: int) -> str:
    return f"{hours} h window from {start:%Y-%m-%d %H:%M} UTC"


def rule_firings(rule: AlertRule, tickers: list[str], now: datetime) -> list[Firing]:
    """What the rule says about each ticker in the current window and the one before it (a
    document may be scored after its window closed): the live evaluation."""
    current = window_start_for(now, rule.window_hours)
    return rule_window_firings(rule, tickers,
                               first=current - timedelta(hours=rule.window_hours), last=current)


def rule_window_firings(rule: AlertRule, tickers: list[str], *, first: datetime,
                        last: datetime) -> list[Firing]:
    """What the rule says about each ticker in every window from the one starting at
    ``first`` to the one starting at ``last``: the live evaluation's two windows, or a dry
    run's days of history (``alert_rule_dry_run``), decided by the same code. Reads the
    hourly rollups (a topic's documents when the rule has a topic) in one query."""
    size = rule.window_hours * 3600
    first_index = int((first - _EPOCH).total_seconds()) // size
    last_index = int((last - _EPOCH).total_seconds()) // size
    baseline_windows = max(1, rule.baseline_days * 24 // rule.window_hours)
    with_baseline = rule.kind in (AlertRule.Kind.ZSCORE, AlertRule.Kind.BUZZ)
    start_index = first_index - (baseline_windows if with_baseline else 0)
    counts = window_counts(tickers=tickers, size_seconds=size,
                           start=_EPOCH + timedelta(seconds=size * start_index),
                           end=_EPOCH + timedelta(seconds=size * (last_index + 1)),
                           topic=rule.topic)
    firings: list[Firing] = []
    for ticker in tickers:
        per_window = counts.get(ticker, {})
        # Running sums over the windows with documents, oldest first: any window's baseline
        # (the windows with documents among the ``baseline_windows`` before it) in O(1), so
        # a 90-day dry run of hourly windows costs what its windows cost, not their square.
        indices = sorted(per_window)
        sums = _running_sums([per_window[i] for i in indices])
        for index in range(first_index, last_index + 1):
            observed = per_window.get(index)
            if observed is None or observed.total < rule.min_volume:
                continue
            low = bisect_left(indices, index - baseline_windows)
            high = bisect_left(indices, index)
            baseline = _Baseline(high - low, baseline_windows,
                                 *(after - before for before, after in zip(sums[low], sums[high],
                                                                          strict=True)))
            firing = _window_firing(rule, ticker, _EPOCH + timedelta(seconds=size * index),
                                    observed, baseline)
            if firing is not None:
                firings.append(firing)
    return firings


@dataclass(frozen=True)
class _Baseline:
    """The windows before a window: how many have documents (``found``) of the ``windows``
    it spans, and the sums of their negative shares and story counts and of their squares."""

    found: int
    windows: int
    share_sum: float
    share_squares: float
    total_sum: float
    total_squares: float


def _running_sums(observed: list[WindowCounts]) -> list[tuple[float, float, float, float]]:
    sums = [(0.0, 0.0, 0.0, 0.0)]
    for counts in observed:
        share_sum, share_squares, total_sum, total_squares = sums[-1]
        share = counts.share
        sums.append((share_sum + share, share_squares + share * share,
                     total_sum + counts.total, total_squares + counts.total * counts.total))
    return sums


def _spread(count: int, total: float, squares: float) -> tuple[float, float]:
    """Mean and sample standard deviation of ``count`` values from their sums."""
    mean = total / count
    variance = max(0.0, (squares - count * mean * mean) / max(count - 1, 1))
    return mean, variance ** 0.5


def _window_firing(rule: AlertRule, ticker: str, window_start: datetime,
                   observed: WindowCounts, baseline: _Baseline) -> Firing | None:
    """The rule's verdict on one window of one ticker (None: it does not fire)."""
    hours = rule.window_hours
    window_end = window_start + timedelta(hours=hours)
    where = _fmt_window(window_start, hours)
    topic = f" ({rule.topic})" if rule.topic else ""
    if rule.kind == AlertRule.Kind.NEGATIVE_SHARE:
        threshold = rule.threshold or 0.0
        if observed.share <= threshold:
            return None
        return Firing(
            ticker, window_start, window_end, round(observed.share, 6), observed.total,
            f"{ticker}{topic}: {observed.share:.0%} of {observed.total} documents negative "
            f"in the {where} (threshold {threshold:.0%})",
            {"negative": observed.negative, "threshold": threshold})
    if baseline.found < MIN_BASELINE_WINDOWS:
        return None  # not enough history to call anything unusual
    if rule.kind == AlertRule.Kind.BUZZ:
        return _buzz_firing(rule, ticker, window_start, observed, baseline)
    mean, std = _spread(baseline.found, baseline.share_sum, baseline.share_squares)
    z = (observed.share - mean) / max(std, MIN_BASELINE_STD)
    k = rule.k or 0.0
    if z <= k:
        return None
    return Firing(
        ticker, window_start, window_end, round(z, 4), observed.total,
        f"{ticker}{topic}: negative share {observed.share:.0%} of {observed.total} documents "
        f"in the {where} is {z:.1f}σ above the {rule.baseline_days}-day baseline "
        f"({mean:.0%} ± {std:.0%}; k = {k:g})",
        {"negative": observed.negative, "share": round(observed.share, 6),
         "baseline_mean": round(mean, 6), "baseline_std": round(std, 6),
         "baseline_windows": baseline.found, "k": k})


def _buzz_firing(rule: AlertRule, ticker: str, window_start: datetime, observed: WindowCounts,
                 baseline: _Baseline) -> Firing | None:
    """News volume: the window's stories against their mean over *every* baseline window (a
    window without stories counts as 0), floored at ``MIN_BUZZ_MEAN`` story."""
    mean, std = _spread(baseline.windows, baseline.total_sum, baseline.total_squares)
    ratio = observed.total / max(mean, MIN_BUZZ_MEAN)
    z = (observed.total - mean) / max(std, MIN_BUZZ_STD)
    threshold = rule.threshold or 0.0
    if ratio <= threshold:
        return None
    topic = f" ({rule.topic})" if rule.topic else ""
    return Firing(
        ticker, window_start, window_start + timedelta(hours=rule.window_hours), round(ratio, 4),
        observed.total,
        f"{ticker}{topic}: {observed.total} stories in the "
        f"{_fmt_window(window_start, rule.window_hours)} are {ratio:.1f}× the "
        f"{rule.baseline_days}-day baseline ({mean:.1f} ± {std:.1f} a window; "
        f"threshold {threshold:g}×)",
        {"stories": observed.total, "ratio": round(ratio, 4), "z_score": round(z, 4),
         "baseline_mean": round(mean, 6), "baseline_std": round(std, 6),
         "baseline_windows": baseline.windows, "threshold": threshold})


_INSERT_ALERT = """
INSERT INTO finance_sentiment_alert
    (tenant_id, rule_id, ticker, window_start, window_end, value, volume, details, status,
     message, created_at, acknowledged_by_name, resolved_by_name)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'open', %s, %s, '', '')
ON CONFLICT ON CONSTRAINT alert_one_per_rule_window DO NOTHING
RETURNING id
"""


@transaction.atomic
def alert_rules_evaluate(*, tickers: Iterable[str] | None = None,
                         now: datetime | None = None) -> list[Alert]:
    """Evaluate the tenant's active rules for ``tickers`` (None: every ticker the rules
    cover) and raise the new alerts: one per rule, ticker and window, whatever how often this
    runs. Each new alert is sent as a signed ``alert.triggered`` webhook (when the rule says
    so) and by e-mail to the rule's addresses, after commit."""
    now = now or timezone.now()
    wanted = None if tickers is None else set(tickers)
    watchlist = set(WatchlistEntry.objects.values_list("ticker", flat=True))
    created: list[Alert] = []
    evaluated: list[int] = []
    for rule in AlertRule.objects.filter(is_active=True).order_by("id"):
        covered = {rule.ticker} if rule.ticker else set(watchlist)
        if wanted is not None:
            covered &= wanted
        if wanted is None or covered:
            evaluated.append(rule.pk)  # checked now, whether or not anything fired
        if not covered:
            continue
        for firing in rule_firings(rule, sorted(covered), now):
            with connection.cursor() as cursor:
                cursor.execute(_INSERT_ALERT, [
                    require_tenant_id(), rule.pk, firing.ticker, firing.window_start,
                    firing.window_end, firing.value, firing.volume, json.dumps(firing.details),
                    firing.message[:500], now])
                row = cursor.fetchone()
            if row is not None:
                alert = Alert.objects.select_related("rule").get(pk=row[0])
                _alert_notify(alert)
                created.append(alert)
    if evaluated:
        # update() leaves updated_at (the rule's own edits) alone.
        AlertRule.objects.filter(pk__in=evaluated).update(last_evaluated_at=now)
    return created


def _alert_notify(alert: Alert) -> None:
    rule = alert.rule
    if rule.notify_webhook:
        webhook_emit(event="alert.triggered", payload=alert_payload(alert))
    if rule.notify_email:
        # In the active language (the one of the request or task that raised the alert); the
        # stored message stays as the webhook payload carries it.
        subject = _("[Sentiment alert] %(rule)s: %(ticker)s") % {"rule": rule.name,
                                                                "ticker": alert.ticker}
        body = _("%(message)s\n\nRule: %(rule)s (%(kind)s)\nWindow: %(start)s – %(end)s UTC\n"
                 "Documents: %(volume)d\nAlert id: %(id)d\n") % {
            "message": alert.message, "rule": rule.name, "kind": rule.get_kind_display(),
            "start": f"{alert.window_start:%Y-%m-%d %H:%M}",
            "end": f"{alert.window_end:%Y-%m-%d %H:%M}", "volume": alert.volume, "id": alert.pk}
        transaction.on_commit(partial(_send_alert_email, subject, body, list(rule.notify_email)))
    alert_channels_notify(alert)


def _send_alert_email(subject: str, body: str, recipients: list[str]) -> None:
    try:
        send_mail(subject, body, None, recipients)
    except Exception:  # a mail server down must not fail the scoring job that raised it
        logger.exception("could not send the alert e-mail %r", subject)


def alerts_evaluate_all(*, now: datetime | None = None) -> int:
    """Staff-wide (beat, every 5 minutes): evaluate every tenant's active rules, each tenant
    in its own context and transaction; returns how many alerts were raised."""
    now = now or timezone.now()
    with unscoped():
        tenant_ids = sorted(set(AlertRule.objects.filter(is_active=True)
                                .values_list("tenant_id", flat=True)))
    raised = 0
    for tenant_id in tenant_ids:
        try:
            with tenant_context(tenant_id):
                raised += len(alert_rules_evaluate(now=now))
        except Exception:
            logger.exception("alert evaluation failed for tenant %s", tenant_id)
    return raised


@transaction.atomic
def alert_acknowledge(*, alert: Alert, by_user_id: int | None, by_name: str) -> Alert:
    """open → acknowledged. Acknowledging again changes nothing; a resolved alert is 409."""
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.status == Alert.Status.RESOLVED:
        raise FinanceError(_("The alert is already resolved."), code="conflict")
    if alert.status == Alert.Status.OPEN:
        alert.status = Alert.Status.ACKNOWLEDGED
        alert.acknowledged_by_id = by_user_id
        alert.acknowledged_by_name = by_name[:200]
        alert.acknowledged_at = timezone.now()
        alert.save(update_fields=["status", "acknowledged_by", "acknowledged_by_name",
                                  "acknowledged_at"])
    return alert


@transaction.atomic
def alert_resolve(*, alert: Alert, by_name: str) -> Alert:
    """open or acknowledged → resolved; resolving again changes nothing."""
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.status != Alert.Status.RESOLVED:
        alert.status = Alert.Status.RESOLVED
        alert.resolved_by_name = by_name[:200]
        alert.resolved_at = timezone.now()
        alert.save(update_fields=["status", "resolved_by_name", "resolved_at"])
    return alert
