"""Writes of the merchandising rules: create, update and delete a pin or a boost. Every
refusal is a ``RuleError`` naming its field (a 400 in the API, a form error on the page)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from apps.recommendation.models import Item
from apps.recommendation.rules.models import (
    CATEGORY_LENGTH,
    MAX_SHARE,
    MAX_SLOT,
    MIN_SHARE,
    MIN_SLOT,
    MerchandisingRule,
    RuleKind,
)
from config.errors import ServiceError

DEFAULT_SHARE = 0.2
FIELDS = ("kind", "item", "category", "slot", "share", "active", "starts_at", "ends_at")


class RuleError(ServiceError):
    """A rule the app refuses to store (a 400 naming the field)."""


def _refuse(field: str, message: str) -> RuleError:
    return RuleError(message, fields={field: [message]})


def _item(external_id: str | None) -> Item | None:
    if not external_id:
        return None
    item = Item.objects.filter(external_id=external_id).first()
    if item is None:
        raise _refuse("item", f"unknown item '{external_id}'")
    return item


def _cleaned(values: dict[str, Any], rule: MerchandisingRule | None) -> dict[str, Any]:
    """The rule's fields checked: ``values`` holds the fields to set, ``item`` as an external
    id (an Item on an existing rule); the rest are kept from ``rule``."""
    kind = values["kind"]
    if kind not in RuleKind.values:
        raise _refuse("kind", "pin or boost")
    item = values["item"] if isinstance(values["item"], Item) else _item(values["item"])
    category = (values["category"] or "").strip()
    if len(category) > CATEGORY_LENGTH:
        raise _refuse("category", f"at most {CATEGORY_LENGTH} characters")
    if item is not None and category:
        raise _refuse("category", "a rule targets an item or a category, not both")
    if item is None and not category:
        raise _refuse("item", "name an item" + (" or a category" if kind == "boost" else ""))
    slot, share = values["slot"], values["share"]
    if kind == RuleKind.PIN:
        if item is None:
            raise _refuse("item", "a pin places an item; name one")
        if slot is None:
            raise _refuse("slot", "a pin needs its slot")
        if not MIN_SLOT <= slot <= MAX_SLOT:
            raise _refuse("slot", f"from {MIN_SLOT} to {MAX_SLOT}")
        share = None
    else:
        slot = None
        if item is not None:
            share = None
        elif share is None:
            share = DEFAULT_SHARE
        elif not MIN_SHARE <= share <= MAX_SHARE:
            raise _refuse("share", f"from {MIN_SHARE} to {MAX_SHARE}")
    starts_at, ends_at = values["starts_at"], values["ends_at"]
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise _refuse("ends_at", "must be after starts_at")
    active = bool(values["active"])
    if kind == RuleKind.PIN and active:
        taken = MerchandisingRule.objects.filter(kind=RuleKind.PIN, active=True, slot=slot)
        if rule is not None:
            taken = taken.exclude(pk=rule.pk)
        if taken.exists():
            raise _refuse("slot", f"slot {slot} already has an active pin")
    return {"kind": kind, "item": item, "category": category, "slot": slot, "share": share,
            "active": active, "starts_at": starts_at, "ends_at": ends_at}


def _saved(rule: MerchandisingRule) -> MerchandisingRule:
    """Save ``rule``; a pin that lost a race for its slot is the same 400 as one checked."""
    try:
        with transaction.atomic():
            rule.save()
    except IntegrityError as error:
        raise _refuse("slot", f"slot {rule.slot} already has an active pin") from error
    return rule


@transaction.atomic
def rule_create(*, kind: str, item: str | None = None, category: str = "",
                slot: int | None = None, share: float | None = None, active: bool = True,
                starts_at: datetime | None = None,
                ends_at: datetime | None = None) -> MerchandisingRule:
    """A pin (``item`` at ``slot``) or a boost (``item``, or ``category`` with ``share`` of
    the slots, 0.2 by default)."""
    values = _cleaned({"kind": kind, "item": item, "category": category, "slot": slot,
                       "share": share, "active": active, "starts_at": starts_at,
                       "ends_at": ends_at}, None)
    return _saved(MerchandisingRule(**values))


@transaction.atomic
def rule_update(*, rule: MerchandisingRule, changes: dict[str, Any]) -> MerchandisingRule:
    """Set ``changes`` (any of ``FIELDS``; ``item`` as an external id) on ``rule``."""
    values: dict[str, Any] = {name: getattr(rule, name) for name in FIELDS}
    values.update({name: value for name, value in changes.items() if name in FIELDS})
    for name, value in _cleaned(values, rule).items():
        setattr(rule, name, value)
    return _saved(rule)


def rule_delete(*, rule: MerchandisingRule) -> None:
    rule.delete()
