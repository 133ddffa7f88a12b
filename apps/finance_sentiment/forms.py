"""Forms of the finance pages. They parse and shape input only; the services validate the
domain (ticker symbols, rule fields) and their refusals are put back on the fields with
:func:`dashboard.forms.add_service_error`, so that errors show inline next to the input they
concern."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from apps.finance_sentiment.models import Alert, AlertChannel, AlertRule, Label
from apps.finance_sentiment.selectors import MAX_STREAM_CURSOR, MAX_STREAM_ITEMS
from apps.finance_sentiment.services.dry_run import DRY_RUN_DAYS
from apps.finance_sentiment.spec import TOPICS

MAX_TRY_CHARS = 5_000
RANGES = (7, 30, 90)


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.replace("\n", ",").split(",") if part.strip()]


class WatchlistAddForm(forms.Form):
    ticker = forms.CharField(max_length=40, label=_("Ticker"), widget=forms.TextInput(attrs={
        "placeholder": "AAPL", "autocomplete": "off"}))
    company_name = forms.CharField(max_length=200, required=False, label=_("Company name"),
                                   widget=forms.TextInput(attrs={"placeholder": "Apple Inc."}))
    aliases = forms.CharField(max_length=2000, required=False, label=_("Aliases"),
                              help_text=_("Other names, separated by commas"),
                              widget=forms.TextInput(attrs={
                                  "placeholder": _("Apple, iPhone maker")}))

    def clean_aliases(self) -> list[str]:
        return _split(self.cleaned_data["aliases"])


class DocumentFilterForm(forms.Form):
    """The ticker page's GET parameters: the chart's range and granularity, the topic (chart
    and documents), and the document list's label and published date range (days, UTC,
    ``to`` inclusive)."""

    range = forms.TypedChoiceField(
        choices=[(str(days), ngettext_lazy("%(days)d day", "%(days)d days", "days")
                  % {"days": days}) for days in RANGES],
        coerce=int, required=False, label=_("Range"))
    granularity = forms.ChoiceField(choices=[("day", _("Daily")), ("hour", _("Hourly"))],
                                    required=False, label=_("Granularity"))
    label = forms.ChoiceField(choices=[("", _("All")), *Label.choices], required=False,
                              label=_("Sentiment"))
    topic = forms.ChoiceField(choices=[("", _("All topics")), *((t, t) for t in TOPICS)],
                              required=False, label=_("Topic"))
    start = forms.DateField(required=False, label=_("From"),
                            widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, label=_("To"),
                          widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and end < start:
            self.add_error("end", _("must not be before 'From'"))
        return cleaned

    def value(self, name: str, default: Any = None) -> Any:
        """The cleaned value, or ``default`` when absent or invalid (a bad parameter in a
        shared link narrows nothing rather than failing the page)."""
        data = getattr(self, "cleaned_data", {})
        return data.get(name) or default

    def published_range(self) -> tuple[datetime | None, datetime | None]:
        start, end = self.value("start"), self.value("end")
        return (datetime.combine(start, time.min, tzinfo=UTC) if start else None,
                datetime.combine(end, time.min, tzinfo=UTC) + timedelta(days=1) if end else None)


class AlertFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", _("All")), *Alert.Status.choices], required=False,
                               label=_("Status"))


class EmailListField(forms.CharField):
    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        return _split(super().to_python(value) or "")

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(value) if isinstance(value, list | tuple) else value


class AlertRuleForm(forms.Form):
    name = forms.CharField(max_length=200, label=_("Name"))
    ticker = forms.CharField(max_length=40, required=False, label=_("Ticker"),
                             help_text=_("Empty: every ticker on the watchlist"))
    topic = forms.ChoiceField(choices=[("", _("All topics")), *[(t, t) for t in TOPICS]],
                              required=False, label=_("Topic"),
                              help_text=_("Count only the documents of this topic"))
    kind = forms.ChoiceField(choices=AlertRule.Kind.choices, label=_("Kind"))
    threshold = forms.FloatField(required=False, label=_("Threshold"),
                                 help_text=_("negative_share: a share, 0 to 1; buzz: a ratio "
                                             "to the baseline, above 1"),
                                 widget=forms.NumberInput(attrs={"step": "0.01"}))
    k = forms.FloatField(required=False, label=_("k (standard deviations)"),
                         help_text=_("zscore: how far above the baseline"),
                         widget=forms.NumberInput(attrs={"step": "0.1"}))
    window_hours = forms.IntegerField(initial=24, label=_("Window (hours)"))
    baseline_days = forms.IntegerField(initial=14, label=_("Baseline (days)"),
                                       help_text=_("zscore and buzz: the trailing baseline"))
    min_volume = forms.IntegerField(initial=10, label=_("Minimum volume"),
                                    help_text=_("Documents in the window before it can fire"))
    notify_email = EmailListField(required=False, label=_("E-mail to"), max_length=2000,
                                  help_text=_("Addresses separated by commas"))
    notify_webhook = forms.BooleanField(required=False, initial=True,
                                        label=_("Send the alert.triggered webhook"))
    is_active = forms.BooleanField(required=False, initial=True, label=_("Active"))

    @classmethod
    def for_rule(cls, rule: AlertRule, data: Any = None) -> AlertRuleForm:
        return cls(data, initial={name: getattr(rule, name) for name in cls.base_fields})

    def changes(self) -> dict[str, Any]:
        """The rule's fields as the services take them (a field of the other kind is kept
        as entered; the service ignores it)."""
        return {**self.cleaned_data, "ticker": self.cleaned_data["ticker"] or None}


class DryRunForm(forms.Form):
    """How much history the rule editor's "Try it" replays (the rule's fields are posted
    beside it, as the rule form reads them)."""

    dry_run_days = forms.TypedChoiceField(
        choices=[(days, format_lazy(_("Last {days} days"), days=days)) for days in DRY_RUN_DAYS],
        coerce=int, initial=30, label=_("Try it over"))


class AlertChannelForm(forms.Form):
    """A channel's settings; the service checks the URL and addresses. The secret is never
    shown back: left empty when editing, it is kept (``clear_secret`` removes it)."""

    name = forms.CharField(max_length=200, label=_("Name"))
    kind = forms.ChoiceField(choices=AlertChannel.Kind.choices, label=_("Kind"))
    url = forms.CharField(max_length=1000, required=False, label=_("Webhook URL"),
                          help_text=_("Slack, Feishu, DingTalk: the incoming webhook's URL; "
                                      "webhook: your endpoint"),
                          widget=forms.URLInput(attrs={"placeholder":
                                                       "https://hooks.slack.com/services/..."}))
    emails = EmailListField(required=False, label=_("E-mail to"), max_length=2000,
                            help_text=_("E-mail: addresses separated by commas"))
    secret = forms.CharField(max_length=200, required=False, label=_("Signing secret"),
                             strip=True, widget=forms.PasswordInput(render_value=False),
                             help_text=_("Optional. Webhook: the HMAC-SHA256 key of the "
                                         "Webhook-Signature header; Feishu and DingTalk: the "
                                         "bot's signing secret."))
    clear_secret = forms.BooleanField(required=False, label=_("Remove the signing secret"))
    is_active = forms.BooleanField(required=False, initial=True, label=_("Active"))

    @classmethod
    def for_channel(cls, channel: AlertChannel) -> AlertChannelForm:
        return cls(initial={"name": channel.name, "kind": channel.kind, "url": channel.url,
                            "emails": channel.emails, "is_active": channel.is_active})

    def changes(self, *, editing: bool) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        clear = data.pop("clear_secret")
        if clear:
            data["secret"] = ""
        elif editing and not data["secret"]:
            data["secret"] = None  # kept
        return data


class StreamQueryForm(forms.Form):
    """The headline stream's GET parameters (the page's polling script sends them)."""

    since = forms.IntegerField(required=False, min_value=0, max_value=MAX_STREAM_CURSOR)
    limit = forms.IntegerField(required=False, min_value=1, max_value=MAX_STREAM_ITEMS)


class TryItForm(forms.Form):
    text = forms.CharField(
        max_length=MAX_TRY_CHARS, strip=True, label=_("Text to score"),
        help_text=format_lazy(_("Up to {limit} characters."), limit=f"{MAX_TRY_CHARS:,}"),
        error_messages={"max_length": format_lazy(
            _("The text is %(show_value)s characters long; up to {limit} can be scored here. "
              "Shorten it (nothing was scored)."), limit=f"{MAX_TRY_CHARS:,}")},
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": _("$AAPL beats estimates on "
                                                                 "record iPhone sales")}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # No maxlength attribute: a browser silently cuts a longer paste at the limit; the
        # server refuses it instead, saying how long it is and what the limit is.
        self.fields["text"].widget.attrs.pop("maxlength", None)
