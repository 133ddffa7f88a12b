"""Reads of the merchandising rules, and their application to a served list.

``rules_apply`` runs after the sources are merged and the excluded and consumed items are
dropped, in this order:

1. **item boosts**: the boosted item moves to the top (added when it is eligible but was not a
   candidate);
2. **category boosts**: ``round(share * k)`` slots (at least one) are reserved for the
   category: its highest-ranked candidates move up, topped up with the category's most popular
   items when the candidates hold too few;
3. **pins**, last: each pinned item is placed at its slot (a slot past the list's end puts it
   last).

An excluded or consumed item is never served, pinned or not; an item the request's filters
(availability, category) leave out is not either. Each entry placed by a rule names the rule
in ``reasons``. Rules override the request's per-category cap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.recommendation.models import Item, ServingSource
from apps.recommendation.rules.models import MerchandisingRule, RuleKind
from apps.recommendation.serving import Served


def rule_list() -> QuerySet[MerchandisingRule]:
    return MerchandisingRule.objects.select_related("item").defer("item__embedding")


def active_rules(*, now: datetime | None = None) -> list[MerchandisingRule]:
    """The rules in force now: active, started and not ended."""
    now = now or timezone.now()
    return list(rule_list().filter(active=True)
                .filter(Q(starts_at__isnull=True) | Q(starts_at__lte=now))
                .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
                .order_by("kind", "slot", "created_at", "id"))


def _eligible(item: Item, *, blocked: set[int], category: str, available_only: bool) -> bool:
    if item.pk in blocked or (available_only and not item.available):
        return False
    return not category or category.lower() in item.categories


def _tagged(entry: Served, reason: str) -> Served:
    return entry if reason in entry.reasons else replace(entry, reasons=(*entry.reasons, reason))


def _category_fill(category: str, *, skip: set[int], filter_category: str,
                   available_only: bool, limit: int) -> list[Served]:
    """The category's most popular items, none of ``skip``, for a boost's reserved slots."""
    if limit <= 0 or (filter_category and filter_category.lower() != category.lower()):
        return []
    items = Item.objects.defer("embedding").filter(categories__contains=[category.lower()])
    if available_only:
        items = items.filter(available=True)
    return [Served(item=item, score=round(item.popularity, 6),
                   reason=f"Popular in {category.lower()}", source=ServingSource.RULE)
            for item in items.exclude(pk__in=skip).order_by("-popularity", "id")[:limit]]


def rules_apply(entries: Sequence[Served], rules: Sequence[MerchandisingRule], *, k: int,
                blocked: set[int], category: str = "", available_only: bool = True
                ) -> list[Served]:
    """The first ``k`` of ``entries`` (candidates, best first, possibly more than ``k``) once
    ``rules`` are applied (see the module docstring); ``blocked``: the request's excluded and
    the user's consumed items, never served."""
    ordered = [entry for entry in entries if entry.item.pk not in blocked]
    boosted: dict[int, Served] = {}  # item id → entry, in the order the rules put them

    def boost(entry: Served, reason: str) -> None:
        boosted[entry.item.pk] = _tagged(boosted.get(entry.item.pk, entry), reason)

    def eligible(item: Item) -> bool:
        return _eligible(item, blocked=blocked, category=category,
                         available_only=available_only)

    by_item = {entry.item.pk: entry for entry in ordered}
    for rule in rules:
        if rule.kind != RuleKind.BOOST or rule.item is None or not eligible(rule.item):
            continue
        entry = by_item.get(rule.item.pk) or Served(
            item=rule.item, score=round(rule.item.popularity, 6), reason="Featured",
            source=ServingSource.RULE)
        boost(entry, f"Boosted: item {rule.item.external_id}")
    for rule in rules:
        if rule.kind != RuleKind.BOOST or rule.item is not None:
            continue
        wanted = max(1, round((rule.share or 0.0) * k))
        name = rule.category.lower()
        picks = [entry for entry in ordered if name in entry.item.categories][:wanted]
        picks += _category_fill(rule.category, skip=blocked | set(by_item) | set(boosted),
                                filter_category=category, available_only=available_only,
                                limit=wanted - len(picks))
        for entry in picks:
            boost(entry, f"Boosted: category {rule.category}")
    listed = [*boosted.values(), *(entry for entry in ordered if entry.item.pk not in boosted)]
    pins = sorted((rule.slot, rule.item) for rule in rules
                  if rule.kind == RuleKind.PIN and rule.item is not None
                  and rule.slot is not None and rule.slot <= k and eligible(rule.item))
    pinned_ids = {item.pk for _, item in pins}
    listed = [entry for entry in listed if entry.item.pk not in pinned_ids]
    found = {entry.item.pk: entry for entry in [*boosted.values(), *ordered]}
    for slot, item in pins:
        entry = found.get(item.pk) or Served(item=item, score=round(item.popularity, 6),
                                             reason="Featured", source=ServingSource.RULE)
        listed.insert(min(slot - 1, len(listed)), _tagged(entry, f"Pinned at slot {slot}"))
    return listed[:k]
