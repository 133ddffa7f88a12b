"""In a real browser: the watchlist overview and a ticker page draw their charts, and the
try-it box returns a label from a real worker with a (tiny) model of the tenant."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from tests.conftest import TenantSetup, WorkerFactory
from tests.finance.conftest import doc, ingest, score, story_words, watch
from tests.workers.conftest import (  # noqa: F401  (fixtures)
    TINY_BASE_NAME,
    install_version,
    tiny_artifact,
    tiny_base,
)

OVERVIEW_SCREENSHOT = "/tmp/finance-overview.png"  # noqa: S108  (fixed paths, to look at)
TICKER_SCREENSHOT = "/tmp/finance-ticker.png"  # noqa: S108
TRY_SCREENSHOT = "/tmp/finance-try.png"  # noqa: S108

LABELS = ["negative", "neutral", "positive"]


def seed(setup: TenantSetup) -> None:
    """Two weeks of scored news about ACME (a few documents a day, mood drifting down) and
    a little about BETA."""
    now = timezone.now()
    watch(setup, "ACME", "Acme Corp")
    watch(setup, "BETA", "Beta Industries")
    rows, labels = [], []
    for day in range(14):
        for item in range(3 + day % 4):
            # Each a story of its own (near-identical headlines would count once).
            title = f"Acme story {day}-{item} {story_words(f'acme-{day}-{item}')}"
            rows.append(doc("ACME", now - timedelta(days=day, hours=item * 3 + 1), title,
                            url=f"https://news.example.com/{day}-{item}"))
            labels.append(LABELS[(day + item) % 3] if day > 2 else LABELS[item % 2])
    for day in range(0, 7, 2):
        rows.append(doc("BETA", now - timedelta(days=day, hours=2),
                        f"Beta story {day} {story_words(f'beta-{day}')}"))
        labels.append("positive")
    ids = ingest(setup, rows)
    score(setup, dict(zip(ids, labels, strict=True)))


@pytest.mark.browser
@pytest.mark.slow
def test_ticker_chart_and_try_it_box(
    transactional_db: None, live_server, acme: TenantSetup, password: str, page,
    tiny_base: Path, tiny_artifact: bytes,  # noqa: F811  (the imported fixtures)
    tmp_path: Path, workers: WorkerFactory, settings,
) -> None:
    settings.ONLINE_TIMEOUT_SECONDS = 30  # the first call loads the model
    seed(acme)
    install_version(acme, tiny_artifact)
    workers.start(BASE_MODELS=json.dumps({TINY_BASE_NAME: str(tiny_base)}),
                  MODEL_WORK_DIR=str(tmp_path / "models"))

    page.goto(live_server.url + reverse("accounts:login"))
    page.get_by_label("Email").fill(acme.owner.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server.url + reverse("dashboard:home"))

    page.get_by_role("link", name="Finance sentiment").click()
    page.wait_for_url(live_server.url + reverse("finance:overview"))
    row = page.locator("#ticker-ACME")
    expect(row).to_contain_text("Acme Corp")
    assert int(row.locator("svg.sparkline").get_attribute("data-points") or 0) >= 5
    page.screenshot(path=OVERVIEW_SCREENSHOT, full_page=True)

    row.get_by_role("link", name="ACME").click()
    page.wait_for_url(live_server.url + reverse("finance:ticker", args=["ACME"]))
    chart = page.get_by_test_id("trend-chart")
    expect(chart).to_be_visible()
    assert int(chart.get_attribute("data-points") or 0) >= 10
    assert chart.locator("circle.trend-point").count() >= 10
    assert chart.locator("path.trend-line").get_attribute("d")
    box = chart.bounding_box()
    assert box is not None
    assert box["width"] > 500
    assert box["height"] > 150
    expect(page.get_by_test_id("documents")).to_contain_text("Acme story 0-0")
    page.get_by_role("link", name="Hourly").click()
    expect(page.get_by_role("link", name="Hourly")).to_have_class("is-active")
    assert int(page.get_by_test_id("trend-chart").get_attribute("data-points") or 0) >= 10
    page.get_by_role("link", name="Daily").click()
    page.screenshot(path=TICKER_SCREENSHOT, full_page=True)

    page.get_by_role("link", name="Try the model").click()
    page.get_by_label("Text to score").fill("$ACME soars on record profit")
    page.get_by_role("button", name="Score").click()
    result = page.get_by_test_id("try-result")
    expect(result).to_be_visible(timeout=45_000)
    label = result.get_by_test_id("label").inner_text().strip().lower()
    assert label in LABELS
    assert result.locator(".prob").count() == 3
    expect(result).to_contain_text("model version 1")
    page.screenshot(path=TRY_SCREENSHOT, full_page=True)
