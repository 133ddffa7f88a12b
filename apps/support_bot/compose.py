"""The extractive composer: a reply made of the sentences of the retrieved articles most
relevant to the question, deduplicated, in reading order, within a length budget, citing the
articles it quotes.

It never runs a model. Each article's sentences are embedded once, by the ``embed_articles``
job that embeds the article (``ArticleSentence``); the online analysis scores them against the
question's vector it already computed, in the same database round trip style as the article
search (``selectors.sentences_scored``: cosine in pgvector, no vectors leave the database),
and this module only sorts and picks. A previous design that embedded the sentences per
message cost 58 ms p95; this one costs one indexed query and microseconds of arithmetic
(``bench/bot_compose.py``: ``bot.compose_ms_p95``).

A sentence's score is its similarity to the question plus a share of its article's (the
article as a whole, question and answer, is the steadier signal of which article is meant;
the sentence's own similarity picks what to quote). When the recognised intent links an
article (``primary``), that article is the one the customer most likely needs: its best
sentence is always quoted, first. Other sentences must score within ``RELATIVE_MARGIN`` of the
best, and a sentence that repeats one already kept (the same words, ``_duplicate``) is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

MAX_CHARS = 600
MAX_SENTENCES = 3
ARTICLE_WEIGHT = 0.5
RELATIVE_MARGIN = 0.15
DUPLICATE_OVERLAP = 0.8  # share of shared words for two sentences to count as one
_WORDS = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Passage:
    """One sentence of a retrieved article and its cosine similarity to the question."""

    article_id: int
    position: int
    text: str
    similarity: float


@dataclass(frozen=True)
class Quoted:
    article_id: int
    position: int
    text: str
    score: float


def _duplicate(words: set[str], kept: list[set[str]]) -> bool:
    return any(len(words & other) >= DUPLICATE_OVERLAP * max(len(words), len(other), 1)
               for other in kept)


def compose(*, articles: Sequence[tuple[int, float]], passages: Sequence[Passage],
            primary: int | None = None, max_chars: int = MAX_CHARS,
            max_sentences: int = MAX_SENTENCES) -> list[Quoted]:
    """The sentences to reply with, in reading order: the primary article first, then the
    others by retrieval rank, each in the article's own order. ``articles`` is
    ``[(id, similarity)]`` best first; passages of articles not in it (nor ``primary``) are
    ignored. Empty when there is nothing to quote."""
    ranked = [article_id for article_id, _ in articles]
    similarity = dict(articles)
    if primary is not None:
        ranked = [primary, *(a for a in ranked if a != primary)]
        # The intent vouches for it: at least as likely as the best retrieved article.
        similarity[primary] = max([similarity.get(primary, 0.0), *similarity.values()])
    rank = {article_id: index for index, article_id in enumerate(ranked)}
    usable = [p for p in passages if p.article_id in rank and p.text.strip()]
    if not usable:
        return []
    scores = [p.similarity + ARTICLE_WEIGHT * similarity[p.article_id] for p in usable]
    order = sorted(range(len(usable)), key=lambda i: -scores[i])
    if primary is not None:
        first = next((i for i in order if usable[i].article_id == primary), None)
        if first is not None:
            order = [first, *(i for i in order if i != first)]
    best = scores[order[0]]
    kept: list[int] = []
    kept_words: list[set[str]] = []
    used_chars = 0
    for index in order:
        if len(kept) >= max_sentences:
            break
        if kept and scores[index] < best - RELATIVE_MARGIN:
            continue
        length = len(usable[index].text) + 1
        words = set(_WORDS.findall(usable[index].text.lower()))
        if kept and (used_chars + length > max_chars or _duplicate(words, kept_words)):
            continue
        kept.append(index)
        kept_words.append(words)
        used_chars += length
    chosen = sorted(kept, key=lambda i: (rank[usable[i].article_id], usable[i].position))
    return [Quoted(article_id=usable[i].article_id, position=usable[i].position,
                   text=usable[i].text[:max_chars], score=round(scores[i], 6))
            for i in chosen]


def passages_from(rows: Sequence[dict[str, object]]) -> list[Passage]:
    """The worker's passages (``selectors.sentences_scored``) as ``Passage`` values."""
    return [Passage(article_id=int(str(row["article"])), position=int(str(row["position"])),
                    text=str(row["text"]), similarity=float(str(row["similarity"])))
            for row in rows]


def reply_text(quoted: Sequence[Quoted]) -> str:
    return " ".join(q.text for q in quoted)


def cited_ids(quoted: Sequence[Quoted]) -> list[int]:
    """The articles quoted, in the order the reply quotes them."""
    return list(dict.fromkeys(q.article_id for q in quoted))
