"""The Models page says what serves each application: the tenant's active version, else the
platform default (with its test figures from ``default_model_report.json``), else nothing;
never "No model versions" while the default answers every message."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from jobs.models import ModelVersion
from tests.conftest import TenantSetup
from tests.jobs.test_api_models import make_version


@pytest.fixture
def default_models(settings: Any, tmp_path: Path) -> Path:
    settings.DEFAULT_MODELS_DIR = tmp_path / "models"
    settings.MEDIA_ROOT = str(tmp_path / "media")
    bot = settings.DEFAULT_MODELS_DIR / "support_bot"
    bot.mkdir(parents=True)
    (bot / "manifest.json").write_text(json.dumps({
        "format": 1, "base": "all-MiniLM-L6-v2", "method": "head", "labels": ["a", "b"]}))
    (bot / "default_model_report.json").write_text(json.dumps({
        "train_rows": 10003, "test": {"accuracy": 0.9211, "macro_f1": 0.9198, "rows": 3080}}))
    return settings.DEFAULT_MODELS_DIR


def _serving_row(html: str, app: str) -> str:
    table = html.split('data-testid="serving"')[1].split("</table>")[0]
    match = re.search(rf'<tr data-app="{app}">(.*?)</tr>', table, re.S)
    assert match, app
    return match.group(1)


def test_the_platform_default_is_shown_as_serving_the_bot(acme: TenantSetup,
                                                          default_models: Path) -> None:
    html = acme.browser().get(reverse("jobs:model_list")).content.decode()
    bot = _serving_row(html, "support_bot")
    assert "Platform default" in bot
    assert "all-MiniLM-L6-v2" in bot
    assert "0.921" in bot
    assert "3080 rows" in bot
    assert "0.920" in bot
    assert "No model versions" not in html
    # Recommendation has no default model and no version: said so, not left blank.
    assert "No model" in _serving_row(html, "recommendation")


def test_a_default_without_its_report_still_serves(acme: TenantSetup,
                                                   default_models: Path) -> None:
    (default_models / "support_bot" / "default_model_report.json").unlink()
    bot = _serving_row(acme.browser().get(reverse("jobs:model_list")).content.decode(),
                       "support_bot")
    assert "Platform default" in bot
    assert "0.921" not in bot


def test_an_active_version_of_ones_own_serves_and_another_tenants_does_not(
        acme: TenantSetup, globex: TenantSetup, default_models: Path) -> None:
    version = make_version(acme, 1, ModelVersion.Status.ACTIVE, app="support_bot")
    acme_html = acme.browser().get(reverse("jobs:model_list")).content.decode()
    bot = _serving_row(acme_html, "support_bot")
    assert f"Your support_bot v{version.version}" in bot
    assert reverse("jobs:model_detail", args=[version.pk]) in bot
    globex_html = globex.browser().get(reverse("jobs:model_list")).content.decode()
    assert "Platform default" in _serving_row(globex_html, "support_bot")
    assert reverse("jobs:model_detail", args=[version.pk]) not in globex_html
