"""Near-duplicate detection of news stories: MinHash signatures and LSH band keys.

The same story arrives from many feeds and as retweets; each copy must not move the index.
Every document gets a MinHash signature of its normalised text's character shingles and LSH
band keys; a new document is a copy of an earlier one, published within ``WINDOW`` of it, when
they share a band key and their signatures' estimated Jaccard similarity reaches
``THRESHOLD``. The band keys are stored on the documents and, one row per key, in a
b-tree-indexed table (``DocumentBand``), so finding the candidates is one index lookup per
ingest batch, not a scan of the documents.

Normalisation drops what copies add or change without changing the story: retweet prefixes
("RT @user:"), URLs, the ``$`` of cashtags, case, punctuation and repeated whitespace.
Character 5-gram shingles (rather than word n-grams) keep a synonym swap, a dropped word or a
truncation to a few changed shingles. Measured on the labelled set of ``bench/finance_dedup.py``
(pairwise precision and recall of the clusters): see that module's docstring.

``datasketch`` is not installed in the shared environment (and a new package needs the
coordinator), so this is a small MinHash in numpy: one vectorised multiply-shift hash family
over the whole batch's shingles (``np.minimum.reduceat`` per document), deterministic across
processes (shingles hashed with ``zlib.crc32``, not Python's salted ``hash``), because the
signatures and keys are stored. This module is database-free; the clustering that uses it is
``services.dedup``.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from datetime import timedelta

import numpy as np

PERMUTATIONS = 64
BANDS = 16
ROWS_PER_BAND = PERMUTATIONS // BANDS
SHINGLE_CHARS = 5
# Estimated Jaccard similarity from which two documents are the same story.
THRESHOLD = 0.5
# Copies are looked for among the documents published at most this long before or after.
WINDOW = timedelta(hours=48)

_RETWEET = re.compile(r"^\s*(?:rt\s+@\w+\s*:?\s*)+", re.IGNORECASE)
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_NON_WORD = re.compile(r"[\W_]+")
_CHUNK = 32

_random = np.random.default_rng(20261202)
# Multiply-shift hashing (Dietzfelbinger): odd 64-bit multipliers, the top 32 bits of a*x + b.
_A = (_random.integers(1, 2**63, size=PERMUTATIONS, dtype=np.uint64) * np.uint64(2)
      + np.uint64(1))
_B = _random.integers(0, 2**63, size=PERMUTATIONS, dtype=np.uint64)
_BAND_MULTIPLIERS = (_random.integers(1, 2**63, size=(BANDS, ROWS_PER_BAND), dtype=np.uint64)
                     * np.uint64(2) + np.uint64(1))
_BAND_SALT = _random.integers(0, 2**63, size=BANDS, dtype=np.uint64)


def normalise(text: str) -> str:
    """The text as compared: no retweet prefix or URLs, lower case, words separated by one
    space (``$AAPL`` reads ``aapl``)."""
    text = _URL.sub(" ", _RETWEET.sub("", text))
    return _NON_WORD.sub(" ", text.lower()).strip()


def shingles(text: str) -> set[int]:
    """The crc32 hashes of the normalised text's character 5-grams (the text itself when it is
    shorter; nothing when it is empty)."""
    normal = normalise(text)
    if len(normal) <= SHINGLE_CHARS:
        return {zlib.crc32(normal.encode())} if normal else set()
    data = normal.encode()
    return {zlib.crc32(data[i:i + SHINGLE_CHARS]) for i in range(len(data) - SHINGLE_CHARS + 1)}


def signatures(texts: Sequence[str]) -> np.ndarray:
    """MinHash signatures, one row of ``PERMUTATIONS`` uint32 values per text. An empty text
    gets all-ones (``0xFFFFFFFF``), which matches nothing but other empty texts."""
    out = np.full((len(texts), PERMUTATIONS), 0xFFFFFFFF, dtype=np.uint32)
    # In chunks: the (shingles × permutations) matrix of a chunk stays in the CPU's cache.
    for start in range(0, len(texts), _CHUNK):
        sets = [shingles(text) for text in texts[start:start + _CHUNK]]
        lengths = np.fromiter((len(s) for s in sets), dtype=np.int64, count=len(sets))
        total = int(lengths.sum())
        if not total:
            continue
        values = np.fromiter((h for s in sets for h in s), dtype=np.uint64, count=total)
        with np.errstate(over="ignore"):
            hashed = ((values[:, None] * _A[None, :] + _B[None, :]) >> np.uint64(32)
                      ).astype(np.uint32)
        nonempty = lengths > 0
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))[nonempty]
        chunk = out[start:start + len(sets)]
        chunk[nonempty] = np.minimum.reduceat(hashed, starts, axis=0)
    return out


def band_keys(signature_rows: np.ndarray, *, namespace: int) -> np.ndarray:
    """The LSH band keys (``BANDS`` signed 64-bit integers per row): two texts share a key
    when their signatures agree on all rows of a band. ``namespace`` (the tenant id) is mixed
    in, so that one tenant's keys never meet another's in the index."""
    rows = signature_rows.astype(np.uint64).reshape(len(signature_rows), BANDS, ROWS_PER_BAND)
    with np.errstate(over="ignore"):
        keys = ((rows * _BAND_MULTIPLIERS[None]).sum(axis=2) + _BAND_SALT[None]
                + np.uint64(namespace) * np.uint64(0x9E3779B97F4A7C15))
    return keys.view(np.int64)


def similarity(first: np.ndarray, second: np.ndarray) -> float:
    """The estimated Jaccard similarity of two signatures (the share of equal values)."""
    return float(np.count_nonzero(first == second)) / PERMUTATIONS


def as_stored(signature: np.ndarray) -> list[int]:
    """A signature as a list of int32 (PostgreSQL has no unsigned integers)."""
    return signature.astype(np.uint32).view(np.int32).tolist()


def from_stored(values: Sequence[int]) -> np.ndarray:
    return np.asarray(values, dtype=np.int32).view(np.uint32)


class Clusterer:
    """Assigns documents to stories, one after another: each joins the story of its most
    similar earlier document (estimated Jaccard ≥ ``THRESHOLD``, published within ``WINDOW``)
    among those sharing a band key, or starts its own. Known documents (from the database)
    are added first with :meth:`add`; ``root`` is the id of the story's first document."""

    def __init__(self) -> None:
        self._by_key: dict[int, list[int]] = {}
        self._roots: list[int] = []
        self._signatures: list[np.ndarray] = []
        self._published: list[float] = []

    def add(self, *, root: int, signature: np.ndarray, keys: Sequence[int],
            published: float) -> None:
        """Make a document a candidate for later ones (``published``: a POSIX timestamp)."""
        position = len(self._roots)
        self._roots.append(root)
        self._signatures.append(signature)
        self._published.append(published)
        for key in keys:
            self._by_key.setdefault(int(key), []).append(position)

    def match(self, *, signature: np.ndarray, keys: Sequence[int],
              published: float) -> tuple[int, float] | None:
        """The root of the most similar candidate and the similarity, or None."""
        window = WINDOW.total_seconds()
        seen: set[int] = set()
        best: tuple[int, float] | None = None
        for key in keys:
            for position in self._by_key.get(int(key), ()):
                if position in seen:
                    continue
                seen.add(position)
                if abs(self._published[position] - published) > window:
                    continue
                score = similarity(signature, self._signatures[position])
                if score >= THRESHOLD and (best is None or score > best[1]):
                    best = (self._roots[position], score)
        return best
