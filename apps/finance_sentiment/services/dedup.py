"""Writes of near-duplicate clustering: at ingest, each new document joins the story of an
earlier near-duplicate (``apps.finance_sentiment.dedup``) or starts its own.

A story's first document is its *root*: copies point at it (``duplicate_of``) and it counts
them (``similar_count``). Only roots count in the rollups (``scoring._ROLLUP_SHIFT``), so a
story moves the index and the alerts once however many feeds carry it. Clusters are never
merged after the fact: a copy joins the story of its most similar candidate.

Finding the candidates is one query per ingest batch on the b-tree of the band keys
(``DocumentBand``: ``key = ANY(batch keys)``, within ``dedup.WINDOW`` of the batch's
publication times), not a scan. Ingests of one tenant take a transaction lock while they
cluster, so that two concurrent copies of one story cannot both become roots.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.db import connection

from apps.finance_sentiment import dedup
from apps.finance_sentiment.services.scoring import _tenant_lock
from tenancy.context import require_tenant_id


@dataclass(frozen=True)
class Fingerprints:
    """The signatures and band keys of a batch, row by row, as stored."""

    minhash: list[str]  # PostgreSQL array literals, for the batch insert
    lsh_keys: list[str]
    signatures: np.ndarray
    keys: np.ndarray


def _literal(values: Sequence[int]) -> str:
    return "{" + ",".join(map(str, values)) + "}"


def documents_fingerprint(*, texts: Sequence[str]) -> Fingerprints:
    signatures = dedup.signatures(texts)
    keys = dedup.band_keys(signatures, namespace=require_tenant_id())
    stored = signatures.view(np.int32)
    return Fingerprints(minhash=[_literal(row) for row in stored.tolist()],
                        lsh_keys=[_literal(row) for row in keys.tolist()],
                        signatures=signatures, keys=keys)


_CANDIDATES = """
SELECT DISTINCT d.id, coalesce(d.duplicate_of_id, d.id), d.minhash, d.lsh_keys, d.published_at
FROM finance_sentiment_documentband b
JOIN finance_sentiment_document d ON d.id = b.document_id AND d.tenant_id = b.tenant_id
WHERE b.tenant_id = %(tenant)s AND b.key = ANY(%(keys)s::bigint[])
  AND b.published_at >= %(start)s AND b.published_at <= %(end)s AND NOT d.id = ANY(%(new)s)
ORDER BY d.id
"""

_STORE_BANDS = """
INSERT INTO finance_sentiment_documentband (tenant_id, document_id, key, published_at)
SELECT tenant_id, id, unnest(lsh_keys), published_at
FROM finance_sentiment_document WHERE tenant_id = %(tenant)s AND id = ANY(%(ids)s)
"""

_MARK_COPIES = """
UPDATE finance_sentiment_document d SET duplicate_of_id = new.root
FROM unnest(%(ids)s::bigint[], %(roots)s::bigint[]) AS new(id, root)
WHERE d.id = new.id AND d.tenant_id = %(tenant)s
"""

_COUNT_COPIES = """
UPDATE finance_sentiment_document d SET similar_count = d.similar_count + new.copies
FROM unnest(%(roots)s::bigint[], %(copies)s::int[]) AS new(id, copies)
WHERE d.id = new.id AND d.tenant_id = %(tenant)s
"""


def document_bands_store(*, document_ids: Sequence[int]) -> None:
    """Make documents (stories' first documents) findable by their band keys."""
    with connection.cursor() as cursor:
        cursor.execute(_STORE_BANDS, {"tenant": require_tenant_id(), "ids": list(document_ids)})


def documents_cluster(*, document_ids: Sequence[int], published: Sequence[datetime],
                      fingerprints: Fingerprints, positions: Sequence[int]) -> dict[int, int]:
    """Cluster newly inserted documents (in order; ``positions`` index their rows in
    ``fingerprints``) with the stored ones and each other; returns {copy id: root id}. Must
    run in the ingest's transaction, before the documents are scored."""
    if not document_ids:
        return {}
    _tenant_lock("finance.dedup")
    tenant_id = require_tenant_id()
    keys = fingerprints.keys[list(positions)]
    clusterer = dedup.Clusterer()
    with connection.cursor() as cursor:
        cursor.execute(_CANDIDATES, {
            "tenant": tenant_id, "keys": _literal(sorted(set(keys.ravel().tolist()))),
            "start": min(published) - dedup.WINDOW, "end": max(published) + dedup.WINDOW,
            "new": list(document_ids)})
        for _, root, minhash, lsh_keys, moment in cursor.fetchall():
            clusterer.add(root=root, signature=dedup.from_stored(minhash), keys=lsh_keys,
                          published=moment.timestamp())
        roots: dict[int, int] = {}
        for document_id, moment, position in zip(document_ids, published, positions,
                                                 strict=True):
            signature, row_keys = fingerprints.signatures[position], fingerprints.keys[position]
            found = clusterer.match(signature=signature, keys=row_keys,
                                    published=moment.timestamp())
            root = found[0] if found else document_id
            if found:
                roots[document_id] = root
            clusterer.add(root=root, signature=signature, keys=row_keys,
                          published=moment.timestamp())
        # Only a story's first document is looked up later: copies match it (their bands
        # would add rows, not stories; a batch's copies still meet each other in memory).
        document_bands_store(document_ids=[document_id for document_id in document_ids
                                           if document_id not in roots])
        if roots:
            copies: dict[int, int] = {}
            for root in roots.values():
                copies[root] = copies.get(root, 0) + 1
            cursor.execute(_MARK_COPIES, {"tenant": tenant_id, "ids": list(roots),
                                          "roots": list(roots.values())})
            cursor.execute(_COUNT_COPIES, {"tenant": tenant_id, "roots": list(copies),
                                           "copies": list(copies.values())})
    return roots
