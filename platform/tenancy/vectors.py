"""Nearest-neighbour search in pgvector HNSW indexes that every tenant shares.

A tenant's rows live in one table with everyone else's, and so does the index on their
embeddings. An HNSW scan yields at most ``hnsw.ef_search`` candidates (40 by default) *before*
the tenant's row-level security and the caller's filters thin them, so another tenant's rows
crowding the neighbourhood, or a selective filter, can leave a plain ``ORDER BY distance
LIMIT k`` short or empty. ``nearest`` repeats the scan with more candidates, then searches
exactly over the rows that pass the filters. pgvector 0.8's iterative index scans would do this
inside the index; the embedded server's pgvector is 0.6.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction
from django.db.models import F, QuerySet, Value
from pgvector.django import CosineDistance

DEFAULT_EF_SEARCH = 40  # pgvector's default hnsw.ef_search
# The second scan's candidates. On the 100,000-item recommendation bench catalogue a scan took
# 2.5 ms with 40, 5-6 ms with 400 and 11-15 ms with 1,000 (pgvector's maximum); the exact
# search 65-85 ms.
WIDE_EF_SEARCH = 400


@contextmanager
def ef_search(candidates: int) -> Iterator[None]:
    """``hnsw.ef_search`` (how many candidates an HNSW index scan yields) for the queries
    inside; back to the default afterwards, also inside a caller's transaction."""
    nested = connection.in_atomic_block
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL hnsw.ef_search = {int(candidates)}")
        yield
        if nested:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL hnsw.ef_search TO DEFAULT")


def nearest(rows: QuerySet[Any], vector: Sequence[float], limit: int, *,
            field: str = "embedding") -> list[Any]:
    """The ``limit`` rows of ``rows`` nearest to ``vector`` by cosine distance (annotated as
    ``distance``), nearest first: the normal index scan; when fewer than ``limit`` pass the
    filters, the scan with ``WIDE_EF_SEARCH`` candidates (straight away when more than
    ``DEFAULT_EF_SEARCH`` are asked for); when even that is short, an exact search over the
    rows that pass, ordered by the distance plus zero, an order the index cannot give."""
    candidates = (rows.exclude(**{field: None})
                  .annotate(distance=CosineDistance(field, vector)))
    found: list[Any] = []
    if limit <= DEFAULT_EF_SEARCH:  # else the default scan cannot yield enough
        found = list(candidates.order_by("distance")[:limit])
    if len(found) < limit:
        with ef_search(WIDE_EF_SEARCH):
            found = list(candidates.order_by("distance")[:limit])
    if len(found) < limit:
        found = list(candidates.order_by(F("distance") + Value(0.0))[:limit])
    return found
