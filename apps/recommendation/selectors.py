"""Reads of the recommendation app: the catalogue, similar items (pgvector), a user's
recommendations with the cold-start fallbacks, reranking and click-through by day.

Serving a user, in order, until ``k`` items are found:

1. **precomputed**: the user's list from their latest ``recommend`` job (model scores and
   reasons), filtered by category and availability;
2. **content**: items nearest (cosine, HNSW) to the mean embedding of the items of the user's
   recent interactions, excluding what the user already consumed;
3. **popular**: the popularity prior of the latest training (recency-weighted event counts).

A list is topped up from the next source when filters leave fewer than ``k`` items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import (
    Avg,
    Count,
    Exists,
    F,
    FloatField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import TruncDate
from django.utils import timezone
from pgvector.django import VectorField

from apps.recommendation.models import (
    EndUser,
    Impression,
    Interaction,
    InteractionKind,
    Item,
    Recommendation,
    ServingSource,
)
from apps.recommendation.rules.selectors import active_rules, rules_apply
from apps.recommendation.serving import Served
from jobs.models import Job, ModelVersion
from jobs.services import active_version
from tenancy import vectors

from .spec import APP

PROFILE_EVENTS = 20
LOW_RATING = 3.0  # ratings below this do not describe what the user likes
CLICK_WINDOW = timedelta(days=1)
CAP_READ_AHEAD = 5  # with a per-category cap, each source reads this many times its share
RULES_READ_AHEAD = 2  # with merchandising rules in force, the sources read 2k candidates


__all__ = ["Served"]


# --- Catalogue -------------------------------------------------------------------------------


def item_list(*, queryset: QuerySet[Item] | None = None, search: str = "", category: str = "",
              available: bool | None = None) -> QuerySet[Item]:
    items = queryset if queryset is not None else Item.objects.defer("embedding")
    if search:
        items = items.filter(Q(title__icontains=search) | Q(external_id=search))
    if category:
        items = items.filter(categories__contains=[category.lower()])
    if available is not None:
        items = items.filter(available=available)
    return items


def _filtered(items: QuerySet[Item], *, category: str, available_only: bool) -> QuerySet[Item]:
    if category:
        items = items.filter(categories__contains=[category.lower()])
    if available_only:
        items = items.filter(available=True)
    return items


def _nearest(items: QuerySet[Item], vector: Sequence[float], limit: int
             ) -> list[tuple[Item, float]]:
    """The ``limit`` items of ``items`` nearest to ``vector``, with their cosine distance,
    found through the shared HNSW index even when another tenant's items, the availability
    and category filters or the exclusion of what the user consumed thin its candidates
    (``tenancy.vectors.nearest``)."""
    return [(item, float(item.distance)) for item in vectors.nearest(items, vector, limit)]


def similar_items(*, item: Item, k: int, category: str = "", available_only: bool = True
                  ) -> list[Served]:
    """The ``k`` items nearest to ``item`` by cosine distance of their embeddings, within the
    current tenant (the manager and row-level security filter the index's candidates)."""
    if item.embedding is None:
        return []
    nearest = _nearest(_filtered(Item.objects.defer("embedding"), category=category,
                                 available_only=available_only).exclude(pk=item.pk),
                       item.embedding, k)
    return [Served(item=other, score=round(1.0 - distance, 6),
                   reason=f"Similar to “{item.title}”", source=ServingSource.CONTENT)
            for other, distance in nearest]


# --- Serving a user --------------------------------------------------------------------------


def consumed_item_ids(user: EndUser) -> set[int]:
    return set(Interaction.objects.filter(user=user).order_by()
               .values_list("item_id", flat=True))


def _latest_list(user: EndUser, version_id: int | None = None) -> QuerySet[Recommendation]:
    """The user's entries of their latest ``recommend`` job (the job found inside the same
    query); of that model version's latest job when ``version_id`` is given (an A/B arm)."""
    lists = Recommendation.objects.filter(user=user)
    if version_id is not None:
        lists = lists.filter(model_version_id=version_id)
    latest = lists.order_by("-job_id").values("job_id")[:1]
    return Recommendation.objects.filter(user=user, job_id=Subquery(latest))


def _profile(user: EndUser) -> tuple[np.ndarray | None, str]:
    """The mean embedding of the items of the user's recent interactions (low ratings left
    out) and the title of the latest one, for the reason."""
    recent = (Interaction.objects.filter(user=user, item__embedding__isnull=False)
              .exclude(kind=InteractionKind.RATING, value__lt=LOW_RATING)
              .order_by("-occurred_at", "-id")
              .annotate(vector=F("item__embedding"), title=F("item__title"),
                        at=F("occurred_at"), event=F("id"))[:PROFILE_EVENTS])
    # Averaged by pgvector: one vector comes back instead of twenty to parse.
    found = recent.aggregate(mean=Avg("vector", output_field=VectorField()),
                             titles=ArrayAgg("title", order_by=("-at", "-event")))
    if found["mean"] is None:
        return None, ""
    mean = np.asarray(found["mean"], dtype=np.float32)
    norm = float(np.linalg.norm(mean))
    return (mean / norm if norm else None), found["titles"][0]


def _precomputed(user: EndUser, *, exclude: set[int], category: str, available_only: bool,
                 limit: int, version_id: int | None = None) -> list[Served]:
    rows = (_latest_list(user, version_id).exclude(item_id__in=exclude)
            .filter(item__in=_filtered(Item.objects.all(), category=category,
                                       available_only=available_only))
            .select_related("item").defer("item__embedding").order_by("rank")[:limit])
    return [Served(item=row.item, score=row.score, reason=row.reason,
                   source=ServingSource.PRECOMPUTED) for row in rows]


def _content(profile: np.ndarray, anchor_title: str, *, exclude: set[int], category: str,
             available_only: bool, limit: int) -> list[Served]:
    nearest = _nearest(_filtered(Item.objects.defer("embedding"), category=category,
                                 available_only=available_only).exclude(pk__in=exclude),
                       profile.tolist(), limit)
    return [Served(item=item, score=round(1.0 - distance, 6),
                   reason=f"Because you liked “{anchor_title}”", source=ServingSource.CONTENT)
            for item, distance in nearest]


def _popular(*, exclude: set[int], category: str, available_only: bool, limit: int
             ) -> list[Served]:
    items = (_filtered(Item.objects.defer("embedding"), category=category,
                       available_only=available_only)
             .exclude(pk__in=exclude).order_by("-popularity", "id")[:limit])
    where = f" in {category.lower()}" if category else ""
    return [Served(item=item, score=round(item.popularity, 6), reason=f"Popular{where}",
                   source=ServingSource.POPULAR) for item in items]


def _capped(entries: list[Served], counts: dict[str, int], cap: int | None, limit: int
            ) -> list[Served]:
    """The first ``limit`` of ``entries`` (in order) that keep at most ``cap`` items of a
    primary category (an item's first) in the list; ``counts`` carries the list so far."""
    kept: list[Served] = []
    for entry in entries:
        if len(kept) == limit:
            break
        category = entry.item.categories[0] if entry.item.categories else ""
        if cap is not None and category and counts.get(category, 0) >= cap:
            continue
        counts[category] = counts.get(category, 0) + 1
        kept.append(entry)
    return kept


def recommendations_for(*, external_id: str, k: int, category: str = "",
                        available_only: bool = True, exclude: Sequence[str] = (),
                        max_per_category: int | None = None, version_id: int | None = None,
                        popular_only: bool = False) -> list[Served]:
    """Up to ``k`` items for the user (see the module docstring for the order of sources),
    never the items whose external ids are in ``exclude``, and at most ``max_per_category``
    of a primary category (each source then reads ahead: up to CAP_READ_AHEAD times what it
    has to fill). An unknown user is a cold user: popular items. An A/B arm narrows the
    sources: the precomputed list of its model version (``version_id``), or popularity
    alone. The tenant's merchandising rules in force then pin and boost items
    (``rules.selectors.rules_apply``: the sources read RULES_READ_AHEAD times ``k`` so that
    a boosted category's candidates further down can move up)."""
    rules = active_rules()
    wanted = k * RULES_READ_AHEAD if rules else k
    user = EndUser.objects.filter(external_id=external_id).first()
    served: list[Served] = []
    excluded: set[int] = (set(Item.objects.filter(external_id__in=list(exclude))
                              .values_list("id", flat=True)) if exclude else set())
    counts: dict[str, int] = {}
    ahead = CAP_READ_AHEAD if max_per_category is not None else 1

    def add(entries: list[Served]) -> None:
        served.extend(_capped(entries, counts, max_per_category, wanted - len(served)))
        excluded.update(entry.item.pk for entry in entries)

    if user is not None:
        # Items consumed since the list was computed are left out too.
        excluded |= consumed_item_ids(user)
    blocked = set(excluded)  # never served, whatever the rules say
    if user is not None and not popular_only:
        add(_precomputed(user, exclude=excluded, category=category,
                         available_only=available_only, limit=wanted * ahead,
                         version_id=version_id))
        if len(served) < wanted:
            profile, anchor = _profile(user)
            if profile is not None:
                add(_content(profile, anchor, exclude=excluded, category=category,
                             available_only=available_only,
                             limit=(wanted - len(served)) * ahead))
    if len(served) < wanted:
        add(_popular(exclude=excluded, category=category, available_only=available_only,
                     limit=(wanted - len(served)) * ahead))
    if not rules:
        return served
    return rules_apply(served, rules, k=k, blocked=blocked, category=category,
                       available_only=available_only)


def trending(*, k: int, window_days: float, half_life_hours: float, category: str = "",
             available_only: bool = True, exclude: Sequence[str] = (),
             now: datetime | None = None) -> list[Served]:
    """The ``k`` items with the most events in the last ``window_days``, each event counting
    half as much every ``half_life_hours`` of its age (decayed counts, in SQL)."""
    now = now or timezone.now()
    decay = RawSQL("power(0.5, extract(epoch from (%s - recommendation_interaction.occurred_at))"
                   " / %s)", (now, half_life_hours * 3600.0), output_field=FloatField())
    heat = dict(Interaction.objects.filter(
        occurred_at__gte=now - timedelta(days=window_days), occurred_at__lte=now,
        item__in=_filtered(Item.objects.all(), category=category,
                           available_only=available_only).exclude(external_id__in=list(exclude)))
        .values("item_id").annotate(heat=Sum(decay)).order_by("-heat", "item_id")
        .values_list("item_id", "heat")[:k])
    items = Item.objects.defer("embedding").in_bulk(list(heat))
    where = f" in {category.lower()}" if category else ""
    return [Served(item=items[item_id], score=round(float(value), 6),
                   reason=f"Trending{where}", source=ServingSource.TRENDING)
            for item_id, value in heat.items()]


def rerank(*, external_id: str, items: Sequence[Item]) -> list[Served]:
    """``items`` in the order to show them to the user: those in the user's precomputed list
    first, in its order; then the rest by cosine similarity to the user's profile, or by
    popularity for a cold user (or an item without an embedding)."""
    user = EndUser.objects.filter(external_id=external_id).first()
    ranks: dict[int, Recommendation] = {}
    profile = None
    anchor = ""
    if user is not None:
        ranks = {row.item_id: row for row in _latest_list(user).filter(
            item__in=[item.pk for item in items])}
        profile, anchor = _profile(user)

    def key(item: Item) -> tuple[int, float]:
        if item.pk in ranks:
            return (0, ranks[item.pk].rank)
        if profile is not None and item.embedding is not None:
            return (1, -float(np.dot(profile, np.asarray(item.embedding, dtype=np.float32))))
        return (2, -item.popularity)

    out = []
    for item in sorted(items, key=key):
        group, value = key(item)
        if group == 0:
            row = ranks[item.pk]
            out.append(Served(item=item, score=row.score, reason=row.reason,
                              source=ServingSource.PRECOMPUTED))
        elif group == 1:
            out.append(Served(item=item, score=round(-value, 6),
                              reason=f"Because you liked “{anchor}”",
                              source=ServingSource.CONTENT))
        else:
            out.append(Served(item=item, score=round(item.popularity, 6), reason="Popular",
                              source=ServingSource.POPULAR))
    return out


# --- Reporting -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CtrDay:
    day: date
    impressions: int
    clicks: int

    @property
    def ctr(self) -> float | None:
        return self.clicks / self.impressions if self.impressions else None


def ctr_by_day(*, days: int = 30, now: datetime | None = None) -> list[CtrDay]:
    """Impressions per day (UTC) and how many of them were clicked: a ``click`` event by the
    same user on the same item within a day after it was served."""
    now = now or timezone.now()
    start = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    clicked = Interaction.objects.filter(
        user__external_id=OuterRef("user_external_id"), item_id=OuterRef("item_id"),
        kind=InteractionKind.CLICK, occurred_at__gte=OuterRef("served_at"),
        occurred_at__lt=OuterRef("served_at") + CLICK_WINDOW)
    rows = (Impression.objects.filter(served_at__gte=start)
            .annotate(day=TruncDate("served_at"), clicked=Exists(clicked))
            .values("day").annotate(impressions=Count("id"),
                                    clicks=Count("id", filter=Q(clicked=True)))
            .order_by("day"))
    by_day: dict[date, dict[str, Any]] = {row["day"]: dict(row) for row in rows}
    out = []
    for offset in range(days):
        day = (start + timedelta(days=offset)).date()
        row: dict[str, Any] = by_day.get(day, {})
        out.append(CtrDay(day=day, impressions=row.get("impressions", 0),
                          clicks=row.get("clicks", 0)))
    return out


def model_versions() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.filter(app=APP).order_by("-version")


def current_model() -> ModelVersion | None:
    return active_version(app=APP)


def catalogue_counts() -> dict[str, Any]:
    return {
        "items": Item.objects.count(),
        "embedded": Item.objects.exclude(embedding=None).count(),
        "users": EndUser.objects.count(),
        "events": Interaction.objects.count(),
    }


def recent_jobs(limit: int = 10) -> QuerySet[Job]:
    return Job.objects.filter(app=APP).order_by("-created_at")[:limit]


def end_user_exists(*, external_id: str) -> bool:
    return EndUser.objects.filter(external_id=external_id).exists()


def recent_history(*, external_id: str, limit: int = 10) -> QuerySet[Interaction]:
    return (Interaction.objects.filter(user__external_id=external_id)
            .select_related("item").defer("item__embedding")
            .order_by("-occurred_at", "-id")[:limit])


def sample_users(limit: int = 8) -> list[str]:
    """A few users with precomputed lists, for the preview page's suggestions."""
    return list(EndUser.objects.filter(recommendations__isnull=False).distinct()
                .order_by("external_id").values_list("external_id", flat=True)[:limit])
