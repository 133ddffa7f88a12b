"""Writes of alert channels: where a tenant's alerts are delivered (``AlertChannel``).

A channel's address is checked when it is saved, as the platform's webhook endpoints are
(``webhooks.urlcheck``: http(s) only, no user-info, no private, loopback or link-local
address unless ``WEBHOOKS_ALLOW_PRIVATE_URLS``), and again before every delivery (a name that
resolved to a public address may not any more). Bad input is one ``FinanceError`` naming every
offending field, so that the API answers 400 and the page shows each error beside its input.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import transaction
from django.utils.translation import gettext as _

from apps.finance_sentiment.models import AlertChannel
from apps.finance_sentiment.services.errors import FinanceError
from webhooks.urlcheck import UnsafeUrl, check_webhook_url

CHANNEL_FIELDS = ("name", "kind", "url", "emails", "secret", "is_active")
MAX_CHANNEL_EMAILS = 20
MAX_SECRET_CHARS = 200
_EMAIL_VALIDATOR = EmailValidator()


def _clean_emails(value: Any, problems: dict[str, list[str]]) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        problems["emails"] = [_("a list of e-mail addresses")]
        return []
    emails = []
    for email in (item.strip() for item in value):
        try:
            _EMAIL_VALIDATOR(email)
        except ValidationError:
            problems.setdefault("emails", []).append(
                _("'%(value)s' is not an e-mail address") % {"value": email})
        emails.append(email)
    if not emails:
        problems.setdefault("emails", []).append(
            _("at least one address is required for an e-mail channel"))
    if len(set(emails)) > MAX_CHANNEL_EMAILS:
        problems.setdefault("emails", []).append(
            _("at most %(count)d addresses") % {"count": MAX_CHANNEL_EMAILS})
    return sorted(set(emails))


def _channel_clean(channel: AlertChannel, *, url_changed: bool) -> None:
    problems: dict[str, list[str]] = {}
    if not isinstance(channel.name, str) or not channel.name.strip():
        problems["name"] = [_("is required")]
    elif len(channel.name) > 200:
        problems["name"] = [_("at most 200 characters")]
    else:
        channel.name = channel.name.strip()
    if channel.kind not in AlertChannel.Kind.values:
        problems["kind"] = [_("choose one of %(kinds)s")
                            % {"kinds": ", ".join(AlertChannel.Kind.values)}]
    if not isinstance(channel.secret, str) or len(channel.secret) > MAX_SECRET_CHARS:
        problems["secret"] = [_("at most %(count)d characters") % {"count": MAX_SECRET_CHARS}]
    else:
        channel.secret = channel.secret.strip()
    if channel.kind == AlertChannel.Kind.EMAIL:
        channel.emails = _clean_emails(channel.emails, problems)
        channel.url = ""
    elif channel.kind in AlertChannel.Kind.values:
        channel.emails = []
        if not isinstance(channel.url, str) or not channel.url.strip():
            problems["url"] = [_("a URL is required for a %(kind)s channel")
                               % {"kind": channel.kind}]
        elif len(channel.url) > 1000:
            problems["url"] = [_("at most 1000 characters")]
        elif url_changed:
            channel.url = channel.url.strip()
            try:
                check_webhook_url(channel.url)
            except UnsafeUrl as error:
                problems["url"] = [str(error)]
    if not isinstance(channel.is_active, bool):
        problems["is_active"] = [_("true or false")]
    if problems:
        raise FinanceError(_("Some fields of the channel are invalid: %(fields)s")
                           % {"fields": ", ".join(problems)}, fields=problems)


@transaction.atomic
def alert_channel_create(**fields: Any) -> AlertChannel:
    unknown = set(fields) - set(CHANNEL_FIELDS)
    if unknown:
        raise TypeError(f"unknown channel fields {sorted(unknown)}")
    channel = AlertChannel(**{"url": "", "emails": [], "secret": "", "is_active": True,
                              **fields})
    _channel_clean(channel, url_changed=True)
    channel.save()
    return channel


@transaction.atomic
def alert_channel_update(*, channel: AlertChannel, changes: dict[str, Any]) -> AlertChannel:
    """Apply ``changes``; a ``secret`` left out (or None) keeps the current one, since it is
    never shown back to be resubmitted."""
    old_url, old_kind = channel.url, channel.kind
    for name, value in changes.items():
        if name not in CHANNEL_FIELDS:
            raise TypeError(f"unknown channel field {name!r}")
        if name == "secret" and value is None:
            continue
        setattr(channel, name, value)
    _channel_clean(channel, url_changed=channel.url != old_url or channel.kind != old_kind)
    channel.save()
    return channel


@transaction.atomic
def alert_channel_delete(*, channel: AlertChannel) -> None:
    """Delete the channel; deliveries already queued for it find nothing and stop."""
    channel.delete()
