"""The dry run of an alert rule: how often and when it would have fired over the tenant's own
history, before it is saved.

The rule is built from the fields as given and validated like a saved one (``alert_rule_validate``),
never saved; its windows over the last ``days`` are decided by ``rule_window_firings``, the
very function of the live evaluation (which asks it about the current window and the one
before). So the dry run fires exactly where evaluating live at every moment of that history
would have raised alerts. Nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from apps.finance_sentiment.models import AlertRule, WatchlistEntry
from apps.finance_sentiment.services.alerts import (
    RULE_FIELDS,
    Firing,
    alert_rule_validate,
    rule_window_firings,
    window_start_for,
)
from apps.finance_sentiment.services.errors import FinanceError

DRY_RUN_DAYS = (30, 90)


@dataclass(frozen=True)
class DryRun:
    rule: AlertRule  # unsaved
    days: int
    start: datetime  # the first window's start
    end: datetime  # the last window's end
    tickers: list[str]
    firings: list[Firing]

    @property
    def count(self) -> int:
        return len(self.firings)


def alert_rule_dry_run(*, fields: dict[str, Any], days: int,
                       now: datetime | None = None) -> DryRun:
    """Replay the rule given by ``fields`` over the windows of the last ``days`` days (30 or
    90) up to the current one; firings oldest first. Invalid fields or days: one
    ``FinanceError`` naming them all."""
    known = {name: value for name, value in fields.items() if name in RULE_FIELDS}
    rule = AlertRule(**known)
    problems: dict[str, list[str]] = {}
    try:
        alert_rule_validate(rule)
    except FinanceError as error:
        problems.update(error.fields or {})
    if days not in DRY_RUN_DAYS:
        problems["days"] = [_("choose one of %(days)s")
                            % {"days": ", ".join(str(value) for value in DRY_RUN_DAYS)}]
    if problems:
        raise FinanceError(_("Some fields of the rule are invalid: %(fields)s")
                           % {"fields": ", ".join(problems)}, fields=problems)
    now = now or timezone.now()
    hours = rule.window_hours
    first = window_start_for(now - timedelta(days=days), hours)
    last = window_start_for(now, hours)
    tickers = ([rule.ticker] if rule.ticker
               else sorted(WatchlistEntry.objects.values_list("ticker", flat=True)))
    firings = rule_window_firings(rule, tickers, first=first, last=last) if tickers else []
    firings.sort(key=lambda firing: (firing.window_start, firing.ticker))
    return DryRun(rule=rule, days=days, start=first, end=last + timedelta(hours=hours),
                  tickers=tickers, firings=firings)
