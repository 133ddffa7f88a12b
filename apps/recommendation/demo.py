"""The recommendation part of the demo tenant (``make run``): the 3,000 most-rated books of
goodbooks-10k as items (title, authors, genres) and their readers' ratings as events, then
the ordinary pipeline: an ``embed_items`` job and a ``train`` job, whose promoted version
queues the top-K job. The local worker runs them when it starts (a few minutes on a CPU,
mostly embedding the books).

The data is CC BY-SA 4.0 (goodbooks-10k by Zygmunt Zając; see the dataset's SOURCE.md).
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from django.conf import settings
from django.db import transaction

from apps.recommendation.models import Item
from apps.recommendation.services import events_ingest, items_upsert, training_submit

BOOKS = 3_000
MIN_RATINGS_PER_USER = 10
MAX_CATEGORIES = 8


def dataset_dir() -> Path:
    return Path(settings.DATASETS_DIR) / "goodbooks10k"


def _read(name: str) -> list[dict[str, str]]:
    with (dataset_dir() / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def demo_rows(books: int = BOOKS) -> tuple[list[dict], list[dict]]:
    """``(items, events)``: the ``books`` most-rated books of the ratings file and every rating
    of them by a reader with at least ``MIN_RATINGS_PER_USER`` of them."""
    ratings = _read("ratings_random.csv")
    counts = Counter(row["book_id"] for row in ratings)
    chosen = {book for book, _ in counts.most_common(books)}
    kept = [row for row in ratings if row["book_id"] in chosen]
    per_user = Counter(row["user_id"] for row in kept)
    genres = {row["book_id"]: [genre[:100] for genre in row["genres"].split(",")
                               if genre][:MAX_CATEGORIES]
              for row in _read("book_genres.csv")}
    items = [{
        "external_id": f"book-{row['book_id']}", "title": row["title"][:500],
        "description": f"By {row['authors']}"[:20_000],
        "categories": genres.get(row["book_id"], []),
        "attributes": {"authors": row["authors"],
                       "year": row["original_publication_year"].split(".")[0]},
    } for row in _read("books.csv") if row["book_id"] in chosen]
    events = [{"event_id": f"goodbooks-{row['user_id']}-{row['book_id']}",
               "user": f"reader-{row['user_id']}", "item": f"book-{row['book_id']}",
               "kind": "rating", "value": float(row["rating"])}
              for row in kept if per_user[row["user_id"]] >= MIN_RATINGS_PER_USER]
    return items, events


@transaction.atomic
def seed(*, books: int = BOOKS, train: bool = True) -> int:
    """Seed the current tenant once; returns the items and events created (0 when it already
    has items, or when the dataset is not on this machine)."""
    if Item.objects.exists() or not dataset_dir().exists():
        return 0
    items, events = demo_rows(books)
    created = items_upsert(rows=items, max_rows=None).created
    created += events_ingest(rows=events, max_rows=None).created
    if train:
        training_submit(recommend_k=20)
    return created
