"""Writes of source weights: how much each source's stories weigh in the tenant's index.

A story (a cluster of near-duplicates, ``services.dedup``) weighs what its first document's
source weighs; a source without a row weighs 1. The rollups keep the weighted sums beside the
counts (``SentimentRollup.weight_sum``, ``weighted_net``), so changing a weight moves them for
that source's counted stories in the same transaction (``scoring._rollups_reweigh``: one
statement over the source's documents, an administrative change, not the ingest path). The
counts, hence the sample sizes and the alerts' volumes, do not depend on weights.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from apps.finance_sentiment.models import MAX_SOURCE_WEIGHT, MIN_SOURCE_WEIGHT, SourceWeight
from apps.finance_sentiment.services.errors import FinanceError
from apps.finance_sentiment.services.scoring import _rollups_reweigh, _tenant_lock

DEFAULT_WEIGHT = 1.0


def _clean_weight(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            MIN_SOURCE_WEIGHT <= value <= MAX_SOURCE_WEIGHT):
        raise FinanceError(
            _("A source weight is a number from %(low)s to %(high)s.")
            % {"low": MIN_SOURCE_WEIGHT, "high": MAX_SOURCE_WEIGHT},
            fields={"weight": [_("a number from %(low)s to %(high)s")
                               % {"low": MIN_SOURCE_WEIGHT, "high": MAX_SOURCE_WEIGHT}]})
    return float(value)


def _clean_source(value: Any) -> str:
    source = value.strip() if isinstance(value, str) else ""
    if not source or len(source) > 64:
        raise FinanceError(_("A source is required."),
                           fields={"source": [_("a source name as on documents, at most 64 "
                                                "characters (\"api\", \"feed:12\")")]})
    return source


@transaction.atomic
def source_weight_set(*, source: Any, weight: Any) -> SourceWeight:
    """Create or change the weight of ``source``; the rollups follow."""
    source, weight = _clean_source(source), _clean_weight(weight)
    _tenant_lock("finance.weights")
    row = SourceWeight.objects.select_for_update().filter(source=source).first()
    old_weight = row.weight if row is not None else DEFAULT_WEIGHT
    if row is None:
        row = SourceWeight.objects.create(source=source, weight=weight)
    else:
        row.weight = weight
        row.save(update_fields=["weight", "updated_at"])
    if weight != old_weight:
        _rollups_reweigh(source=source, old_weight=old_weight)
    return row


@transaction.atomic
def source_weight_update(*, row: SourceWeight, weight: Any) -> SourceWeight:
    return source_weight_set(source=row.source, weight=weight)


@transaction.atomic
def source_weight_delete(*, row: SourceWeight) -> None:
    """Forget the weight: the source weighs 1 again."""
    _tenant_lock("finance.weights")
    old_weight = row.weight
    row.delete()
    if old_weight != DEFAULT_WEIGHT:
        _rollups_reweigh(source=row.source, old_weight=old_weight)
