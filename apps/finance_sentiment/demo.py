"""The finance part of the demo tenant (``make run``): a watchlist, a few hundred real
headlines from the shipped twitter_fin_sentiment test file spread over the last two weeks, and
two alert rules.

The documents go through the ordinary ingestion, which queues one scoring job: the local
worker scores them with the platform default model as soon as it starts, and the rollups,
the overview's trends and the alert rules follow from those scores like any tenant's.
"""

from __future__ import annotations

import csv
import random
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.finance_sentiment.models import AlertRule, Document, WatchlistEntry
from apps.finance_sentiment.selectors import ticker_matcher
from apps.finance_sentiment.services import (
    alert_rule_create,
    documents_ingest,
    watchlist_entry_create,
)
from apps.finance_sentiment.tickers import extract_tickers

SOURCE = "demo"
DOCUMENTS = 600
DAYS = 14
SEED = 7
WATCHLIST = (
    ("TSLA", "Tesla", ()),
    ("AMZN", "Amazon", ()),
    ("BA", "Boeing", ()),
    ("AAPL", "Apple", ()),
    ("UBER", "Uber", ()),
    ("GS", "Goldman Sachs", ("Goldman",)),
    ("XOM", "Exxon Mobil", ("Exxon", "ExxonMobil")),
    ("NFLX", "Netflix", ()),
    ("F", "Ford", ("Ford Motor",)),
    ("SPY", "SPDR S&P 500 ETF", ("S&P 500",)),
)


def demo_texts_path() -> Path:
    return Path(settings.DATASETS_DIR) / "twitter_fin_sentiment" / "sent_valid.csv"


def choose_texts(texts: list[str], count: int, seed: int = SEED) -> list[str]:
    """Every text that mentions the watchlist, then others at random, ``count`` in all, in a
    shuffled order; the same for a seed."""
    matcher = ticker_matcher()
    about_watchlist = {ticker for ticker, _, _ in WATCHLIST}
    mentions = [t for t in texts
                if about_watchlist & set(extract_tickers(text=t, explicit=(), matcher=matcher))]
    rng = random.Random(seed)  # noqa: S311  (demo data, not secrets)
    chosen_set = set(mentions)
    others = [t for t in texts if t not in chosen_set]
    chosen = mentions[:count] + rng.sample(others, max(0, min(len(others), count - len(mentions))))
    rng.shuffle(chosen)
    return chosen


@transaction.atomic
def seed(*, now: datetime | None = None, count: int = DOCUMENTS) -> int:
    """Seed the current tenant once; returns the documents created (0 when it already has a
    watchlist or documents, or when the dataset is not on this machine)."""
    if WatchlistEntry.objects.exists() or Document.objects.exists():
        return 0
    path = demo_texts_path()
    if not path.exists():
        return 0
    now = now or timezone.now()
    for ticker, company_name, aliases in WATCHLIST:
        watchlist_entry_create(ticker=ticker, company_name=company_name, aliases=aliases)
    with path.open(newline="", encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    rng = random.Random(SEED)  # noqa: S311  (demo data, not secrets)
    rows = [{"external_id": f"demo-{i}", "title": text,
             "published_at": (now - timedelta(seconds=rng.uniform(0, DAYS * 86_400))).isoformat()}
            for i, text in enumerate(choose_texts(texts, count))]
    result = documents_ingest(rows=rows, source=SOURCE, max_documents=None)
    alert_rule_create(name="Negative news share above 40%", kind=AlertRule.Kind.NEGATIVE_SHARE,
                      threshold=0.4, window_hours=24, min_volume=3)
    alert_rule_create(name="Unusual negative share (z > 2)", kind=AlertRule.Kind.ZSCORE, k=2.0,
                      window_hours=24, baseline_days=7, min_volume=3)
    return result.created
