"""The demo tenant's finance data (``make run``): real headlines over recent days, a watchlist
they mention, rules, and a scoring job queued for the worker; seeded once."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from apps.finance_sentiment import demo
from apps.finance_sentiment.models import AlertRule, Document, WatchlistEntry
from config import embedded
from jobs.models import Job
from tenancy.context import tenant_context
from tenancy.models import Tenant
from tests.conftest import TenantSetup


def test_seed_spreads_real_headlines_over_recent_days(acme: TenantSetup) -> None:
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    with tenant_context(acme.tenant.pk):
        assert demo.seed(now=now, count=300) == 300
        documents = list(Document.objects.all())
        tickers = set(WatchlistEntry.objects.values_list("ticker", flat=True))
        assert demo.seed(now=now) == 0  # once
        assert Document.objects.count() == 300
        assert AlertRule.objects.count() == 2

    assert tickers == {ticker for ticker, _, _ in demo.WATCHLIST}
    published = [document.published_at for document in documents]
    assert min(published) >= now - timedelta(days=demo.DAYS)
    assert max(published) <= now
    assert len({moment.date() for moment in published}) >= demo.DAYS - 1
    with demo.demo_texts_path().open(newline="", encoding="utf-8") as handle:
        texts = {" ".join(row["text"].split()) for row in csv.DictReader(handle)}
    assert all(" ".join(document.title.split()) in texts for document in documents)
    # Every watchlist mention of the test file is in, so each ticker has a trend to show.
    mentioned = {ticker for document in documents for ticker in document.tickers}
    assert tickers <= mentioned


@pytest.mark.django_db(transaction=True)
def test_seed_demo_command_queues_the_scoring_once() -> None:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=out)
    tenant = Tenant.objects.get(slug="demo")
    with tenant_context(tenant.pk):
        assert Document.objects.count() == demo.DOCUMENTS
        scoring = Job.objects.filter(app="finance_sentiment", kind="score_documents")
        assert scoring.count() == 1
        assert scoring.get().params["selection"] == "unscored"
    lines = out.getvalue().splitlines()
    assert sum("seeded 600 demo objects" in line for line in lines) == 1
    keys = [line for line in lines if line.startswith("API key: ")]
    assert len(keys) == 2
    assert keys[0] == keys[1]  # the second run reuses the key
    stored = json.loads((embedded.data_dir() / "demo-credentials.json").read_text())
    assert keys[0] == f"API key: {stored['api_key']}"
