"""Fixtures of the finance sentiment tests: a local feed server, documents and scores written
through the services (no model needed: scores are given), and the tiny BERT of the worker
tests for the end-to-end test."""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from apps.finance_sentiment.models import Document, SentimentRollup
from apps.finance_sentiment.services import (
    ScoreInput,
    document_scores_record,
    documents_ingest,
    watchlist_entry_create,
)
from jobs.models import Job
from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from tests.webhooks.conftest import Receiver, receiver  # noqa: F401  (fixture)
from tests.workers.conftest import tiny_base  # noqa: F401  (fixture)

ROLLUP_LABELS = ("positive", "neutral", "negative")
PROBABILITIES = {
    "positive": {"positive": 0.8, "neutral": 0.15, "negative": 0.05},
    "neutral": {"positive": 0.2, "neutral": 0.6, "negative": 0.2},
    "negative": {"positive": 0.1, "neutral": 0.2, "negative": 0.7},
}


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def allow_loopback(settings: Any) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True


def ingest(setup: TenantSetup, rows: Sequence[dict[str, Any]], source: str = "api") -> list[int]:
    """Store documents (no scoring job is scheduled in non-transactional tests: on_commit
    callbacks do not run) and return their ids in row order."""
    with tenant_context(setup.tenant.pk):
        result = documents_ingest(rows=list(rows), source=source, max_documents=None)
    return [document.id for document in result.documents]


_external_ids = itertools.count(1)


def story_words(seed: str) -> str:
    """Words that make a headline a story of its own: identical headlines would be clustered
    as near-duplicates of one story and count once (``services.dedup``)."""
    digest = hashlib.sha256(seed.encode()).hexdigest()
    return " ".join(digest[start:start + 12] for start in range(0, 48, 12))


def doc(ticker: str, published_at: datetime | str, title: str = "", **extra: Any
        ) -> dict[str, Any]:
    """A document row about ``ticker`` with a fresh external id."""
    stamp = published_at.isoformat() if isinstance(published_at, datetime) else published_at
    number = next(_external_ids)
    return {"external_id": f"doc-{number}",
            "title": title or f"News about ${ticker} {story_words(str(number))}",
            "published_at": stamp, "tickers": [ticker], **extra}


def scoring_job(setup: TenantSetup) -> Job:
    """A scoring job row to attach scores to (never enqueued)."""
    with tenant_context(setup.tenant.pk):
        return Job.objects.create(app="finance_sentiment", kind="score_documents",
                                  status=Job.Status.RUNNING, params={"selection": "unscored"})


def score(setup: TenantSetup, labels: dict[int, str], job: Job | None = None) -> set[str]:
    """Record the given labels as one scoring chunk, like the worker does."""
    job = job or scoring_job(setup)
    with tenant_context(setup.tenant.pk):
        return document_scores_record(job=job, model_version=None, scores=[
            ScoreInput(document_id=document_id, label=label,
                       probabilities=PROBABILITIES[label])
            for document_id, label in labels.items()
        ])


def watch(setup: TenantSetup, ticker: str, company_name: str = "",
          aliases: Sequence[str] = ()) -> None:
    with tenant_context(setup.tenant.pk):
        watchlist_entry_create(ticker=ticker, company_name=company_name, aliases=aliases)


def documents(setup: TenantSetup) -> list[Document]:
    with tenant_context(setup.tenant.pk):
        return list(Document.objects.order_by("id"))


Key = tuple[str, str, datetime]


def recomputed(setup: TenantSetup) -> dict[Key, tuple[int, int, int, float]]:
    """What the rollups must hold, from the documents' current labels."""
    sums: dict[Key, list[float]] = defaultdict(lambda: [0, 0, 0, 0.0])
    with tenant_context(setup.tenant.pk):
        # Near-duplicate copies do not count: each story counts once, by its first document.
        for document in Document.objects.exclude(label="").filter(duplicate_of__isnull=True):
            for ticker in document.tickers:
                moment = document.published_at.astimezone(UTC)
                for granularity, bucket in (
                    ("hour", moment.replace(minute=0, second=0, microsecond=0)),
                    ("day", moment.replace(hour=0, minute=0, second=0, microsecond=0)),
                ):
                    row = sums[(ticker, granularity, bucket)]
                    row[ROLLUP_LABELS.index(document.label)] += 1
                    row[3] += document.score or 0.0
    return {key: (int(v[0]), int(v[1]), int(v[2]), v[3]) for key, v in sums.items()}


def stored(setup: TenantSetup) -> dict[Key, tuple[int, int, int, float]]:
    with tenant_context(setup.tenant.pk):
        return {
            (r.ticker, r.granularity, r.bucket_start): (r.positive, r.neutral, r.negative,
                                                        r.score_sum)
            for r in SentimentRollup.objects.all() if r.total
        }


def assert_rollups_match(setup: TenantSetup) -> None:
    expected, actual = recomputed(setup), stored(setup)
    assert actual.keys() == expected.keys()
    for key, (positive, neutral, negative, score_sum) in expected.items():
        assert actual[key][:3] == (positive, neutral, negative), key
        assert actual[key][3] == pytest.approx(score_sum, abs=1e-9), key


@dataclass
class FeedServer:
    """A real HTTP server on loopback serving one feed, with ETag / Last-Modified support."""

    base_url: str = ""
    body: bytes = b""
    content_type: str = "application/rss+xml; charset=utf-8"
    status: int = 200
    etag: str = ""
    last_modified: str = ""
    requests: list[dict[str, str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.base_url}/feed.xml"


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    state = FeedServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            state.requests.append({"path": self.path, **dict(self.headers)})
            if self.path.startswith("/redirect"):
                self.send_response(302)
                self.send_header("Location", self.path.split("to=", 1)[1])
                self.end_headers()
                return
            if state.etag and self.headers.get("If-None-Match") == state.etag:
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(state.status)
            self.send_header("Content-Type", state.content_type)
            if state.etag:
                self.send_header("ETag", state.etag)
            if state.last_modified:
                self.send_header("Last-Modified", state.last_modified)
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base_url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@dataclass
class HookServer:
    """A real HTTP server on loopback that records each POST and answers ``status`` with
    ``body`` (Feishu and DingTalk answer 200 with an error code in a JSON body)."""

    url: str = ""
    status: int = 200
    body: bytes = b"ok"
    fail_first: int = 0  # answer 503 to this many requests first
    requests: list[dict[str, Any]] = field(default_factory=list)

    def json(self, index: int = -1) -> Any:
        return json.loads(self.requests[index]["body"])


@pytest.fixture
def hook() -> Iterator[HookServer]:
    state = HookServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append({"headers": dict(self.headers), "body": body,
                                   "path": self.path})
            failing = len(state.requests) <= state.fail_first
            self.send_response(503 if failing else state.status)
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def rss(*items: dict[str, str], title: str = "Market news") -> bytes:
    entries = "".join(
        "<item>"
        + "".join(f"<{key}>{value}</{key}>" for key, value in item.items())
        + "</item>"
        for item in items
    )
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>{title}</title><link>https://news.example.com/</link>"
            f"<description>News</description><language>en</language>{entries}"
            "</channel></rss>").encode()


__all__ = ["FeedServer", "HookServer", "Receiver", "assert_rollups_match", "doc", "documents",
           "ingest", "rss", "score", "scoring_job", "stored", "watch"]
