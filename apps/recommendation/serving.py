"""One served entry of a list (``selectors`` builds them; ``rules.selectors`` rearranges
them)."""

from __future__ import annotations

from dataclasses import dataclass

from apps.recommendation.models import Item


@dataclass(frozen=True)
class Served:
    item: Item
    score: float
    reason: str
    source: str
    # The merchandising rules that placed the item ("Pinned at slot 1", "Boosted: ...").
    reasons: tuple[str, ...] = ()
