"""``seed_bot_demo``: BANKING77 intents, utterances and an answer article per intent, once."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from apps.support_bot.demo import ANSWERS
from apps.support_bot.models import Article, Intent, Utterance
from jobs.models import Job
from tenancy.context import tenant_context
from tests.conftest import TenantSetup

pytestmark = pytest.mark.django_db


def test_seeds_banking77_once(acme: TenantSetup, settings,
                              django_capture_on_commit_callbacks) -> None:
    categories = json.loads((settings.DATASETS_DIR / "banking77" / "categories.json")
                            .read_text())
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_bot_demo", tenant="acme")
        call_command("seed_bot_demo", tenant="acme")  # idempotent

    with tenant_context(acme.tenant.pk):
        assert sorted(Intent.objects.values_list("name", flat=True)) == sorted(categories)
        assert Utterance.objects.count() == 770
        assert Article.objects.count() == 77
        article = Article.objects.get(tags=["card_arrival"])
        assert Utterance.objects.filter(intent__name="card_arrival", text=article.question
                                        ).exists()
        assert article.answer == json.loads(ANSWERS.read_text())["card_arrival"]
        assert Intent.objects.get(name="compromised_card").handoff
        # Every intent answers with its own article (none has a template).
        assert Intent.objects.get(name="card_arrival").article == article
        assert not Intent.objects.filter(article__isnull=True).exists()
        # 77 new articles, one embedding job (queued; no worker in this test).
        [job] = Job.objects.filter(kind="embed_articles")
        assert job.status == Job.Status.QUEUED


def test_the_demo_widget_allows_the_local_platform(acme: TenantSetup, settings) -> None:
    from apps.support_bot import services

    settings.SITE_BASE_URL = "http://localhost:8000"
    with tenant_context(acme.tenant.pk):
        services.bot_settings_update(changes={"widget_origins": ["https://shop.example.com"]})
    call_command("seed_bot_demo", tenant="acme")
    call_command("seed_bot_demo", tenant="acme")  # idempotent
    with tenant_context(acme.tenant.pk):
        assert services.bot_settings_get().widget_origins == [
            "http://127.0.0.1:8000", "http://localhost:8000", "https://shop.example.com"]
