"""The merchandising rules table. A rule is a **pin** (an item at a fixed 1-based slot) or a
**boost** (an item, moved to the top of the list; or a category, whose best candidates fill
``share`` of the list's slots). Rules are tenant-owned (row-level security in the migration);
at most one active pin per slot (a partial unique constraint, checked again by the service
to answer a readable 400).
"""

from __future__ import annotations

from typing import ClassVar

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from tenancy.models import TenantOwnedModel

MIN_SLOT = 1
MAX_SLOT = 100
MIN_SHARE = 0.05
MAX_SHARE = 1.0
CATEGORY_LENGTH = 100  # as ``Item.categories``


class RuleKind(models.TextChoices):
    PIN = "pin", _("Pin")
    BOOST = "boost", _("Boost")


class MerchandisingRule(TenantOwnedModel):
    kind = models.CharField(max_length=8, choices=RuleKind.choices)
    item = models.ForeignKey("recommendation.Item", null=True, blank=True,
                             on_delete=models.CASCADE, related_name="+")
    category = models.CharField(max_length=CATEGORY_LENGTH, blank=True, default="")
    slot = models.PositiveSmallIntegerField(
        null=True, blank=True,
        validators=[MinValueValidator(MIN_SLOT), MaxValueValidator(MAX_SLOT)],
        help_text="pins: the 1-based position in the list")
    share = models.FloatField(
        null=True, blank=True,
        validators=[MinValueValidator(MIN_SHARE), MaxValueValidator(MAX_SHARE)],
        help_text="category boosts: the share of the list's slots reserved for the category")
    active = models.BooleanField(default=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["kind", "slot", "-created_at", "-id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "slot"],
                                    condition=models.Q(kind="pin", active=True),
                                    name="recs_rule_one_pin_per_slot"),
            models.CheckConstraint(
                condition=(models.Q(item__isnull=False, category="")
                           | models.Q(item__isnull=True, kind="boost") & ~models.Q(category="")),
                name="recs_rule_item_or_category"),
            models.CheckConstraint(
                condition=~models.Q(kind="pin") | models.Q(slot__gte=MIN_SLOT,
                                                             slot__lte=MAX_SLOT),
                name="recs_rule_pin_slot"),
            models.CheckConstraint(
                condition=models.Q(share__isnull=True)
                | models.Q(share__gte=MIN_SHARE, share__lte=MAX_SHARE),
                name="recs_rule_share_range"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "active"], name="recs_rule_active"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.target}"

    @property
    def target(self) -> str:
        return self.item.external_id if self.item_id and self.item else self.category
