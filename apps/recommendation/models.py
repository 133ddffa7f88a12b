"""The recommendation app's tables: the catalogue (items with a text embedding in pgvector),
the tenant's end users, their interactions, the precomputed top-K lists and the impressions
served.

Every table is tenant-owned (row-level security in the migration) and every index and unique
constraint starts with ``tenant``, except the HNSW index on ``Item.embedding``: an
approximate-nearest-neighbour index holds one vector column. Similar-item queries go through
the tenant-scoped manager (and row-level security), so the index only finds candidates and
another tenant's items are filtered out before anything is returned.
"""

from __future__ import annotations

from typing import ClassVar

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _
from pgvector.django import HnswIndex, VectorField

from apps.recommendation.experiments.models import Experiment
from apps.recommendation.rules.models import MerchandisingRule
from jobs.models import JobResult
from tenancy.models import TenantOwnedModel

# Registered with the app here (their modules are the experiments' and the rules').
__all__ = ["Experiment", "MerchandisingRule"]

EMBEDDING_DIMENSIONS = 384  # all-MiniLM-L6-v2, the platform's default base model
EXTERNAL_ID_LENGTH = 200
CATEGORY_LENGTH = 100


class Item(TenantOwnedModel):
    external_id = models.CharField(max_length=EXTERNAL_ID_LENGTH)
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    categories = ArrayField(models.CharField(max_length=CATEGORY_LENGTH), default=list,
                            blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    available = models.BooleanField(default=True)
    # Written by the worker: the base encoder's embedding of the item's text
    # (``services.item_text``), and the popularity prior of the latest training.
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS, null=True, blank=True)
    embedded_at = models.DateTimeField(null=True, blank=True)
    popularity = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar = ["title", "id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "external_id"],
                                    name="recs_item_tenant_external"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "-popularity"], name="recs_item_tenant_popular"),
            HnswIndex(name="recs_item_embedding_hnsw", fields=["embedding"],
                      m=16, ef_construction=64, opclasses=["vector_cosine_ops"]),
        ]

    def __str__(self) -> str:
        return self.title or self.external_id


class EndUser(TenantOwnedModel):
    """A user of the tenant's own product (not a platform user). ``is_stub``: created by an
    event or a request before the tenant sent the user's record."""

    external_id = models.CharField(max_length=EXTERNAL_ID_LENGTH)
    attributes = models.JSONField(default=dict, blank=True)
    is_stub = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering: ClassVar = ["external_id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "external_id"],
                                    name="recs_enduser_tenant_external"),
        ]

    def __str__(self) -> str:
        return self.external_id


class InteractionKind(models.TextChoices):
    VIEW = "view", _("View")
    CLICK = "click", _("Click")
    CART = "cart", _("Added to cart")
    PURCHASE = "purchase", _("Purchase")
    RATING = "rating", _("Rating")


class Interaction(TenantOwnedModel):
    """One event. Idempotent on the client's ``event_id``: a batch sent twice stores nothing
    twice."""

    event_id = models.CharField(max_length=EXTERNAL_ID_LENGTH)
    user = models.ForeignKey(EndUser, on_delete=models.CASCADE, related_name="interactions")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="interactions")
    kind = models.CharField(max_length=16, choices=InteractionKind.choices)
    value = models.FloatField(null=True, blank=True, help_text="rating: the stars (0-5)")
    occurred_at = models.DateTimeField()
    # The served list's id (its impressions' ``request_id``) when the client sends it: the
    # event is attributed to that list and its experiment arm.
    recommendation_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["-occurred_at", "-id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "event_id"],
                                    name="recs_interaction_tenant_event"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "user", "-occurred_at"],
                         name="recs_interaction_user_time"),
            models.Index(fields=["tenant", "item", "kind"], name="recs_interaction_item"),
            models.Index(fields=["tenant", "recommendation_id"],
                         condition=~models.Q(recommendation_id=""),
                         name="recs_interaction_list"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} {self.item_id}"


class Recommendation(JobResult):
    """One entry of a user's precomputed top-K, written by a ``recommend`` job; keyed by
    (job, user, item) so a retried job writes each entry once. The user's current list is the
    one of their latest job."""

    model_version = models.ForeignKey("jobs.ModelVersion", null=True, blank=True,
                                      on_delete=models.SET_NULL, related_name="+")
    user = models.ForeignKey(EndUser, on_delete=models.CASCADE, related_name="recommendations")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    rank = models.PositiveIntegerField()
    score = models.FloatField()
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["user", "rank"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "job", "user", "item"],
                                    name="recs_recommendation_job_user_item"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "user", "-job", "rank"],
                         name="recs_recommendation_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} #{self.rank}: {self.item_id}"


class ServingSource(models.TextChoices):
    PRECOMPUTED = "precomputed", _("Precomputed")
    CONTENT = "content", _("Content-based")
    POPULAR = "popular", _("Popular")
    RERANK = "rerank", _("Reranked")
    TRENDING = "trending", _("Trending")
    RULE = "rule", _("Merchandising rule")


class Impression(TenantOwnedModel):
    """An item shown in a served list. Clicks are ordinary ``click`` events; a click counts
    for an impression when the same user clicks the same item within a day after it."""

    request_id = models.CharField(max_length=64)
    user_external_id = models.CharField(max_length=EXTERNAL_ID_LENGTH)
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField()
    source = models.CharField(max_length=16, choices=ServingSource.choices)
    served_at = models.DateTimeField()
    # The A/B test the list was served under, and the user's arm ("a" or "b").
    experiment = models.ForeignKey(Experiment, null=True, blank=True,
                                   on_delete=models.CASCADE, related_name="+")
    arm = models.CharField(max_length=1, blank=True, default="")

    class Meta:
        ordering: ClassVar = ["-served_at", "position"]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "served_at"], name="recs_impression_time"),
            models.Index(fields=["tenant", "experiment", "arm"],
                         condition=models.Q(experiment__isnull=False),
                         name="recs_impression_experiment"),
        ]

    def __str__(self) -> str:
        return f"{self.user_external_id} saw {self.item_id} ({self.source})"
