"""The bot's dashboard pages: they render for members, refuse viewers' changes, and give the
same 404 for another tenant's intent, article or conversation, changing nothing."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.support_bot.models import Article, Conversation, Intent, Message, Utterance
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.bot.conftest import add_article, add_intent, answer, start
from tests.conftest import TenantSetup

pytestmark = pytest.mark.django_db


def test_every_page_renders_with_its_data(acme: TenantSetup) -> None:
    intent = add_intent(acme, "card_arrival", "Cards arrive within 5 days.")
    article = add_article(acme, "What are the fees?", "There are none.", 2)
    conversation = start(acme)
    answer(acme, conversation, "no idea what to ask really", confidence=0.2)
    browser = acme.browser()

    pages = {
        reverse("bot:overview"): "Containment",
        reverse("bot:intents"): "card_arrival",
        reverse("bot:intent", args=[intent.pk]): "Cards arrive within 5 days.",
        reverse("bot:articles"): "What are the fees?",
        reverse("bot:article", args=[article.pk]): "There are none.",
        reverse("bot:try"): "Ask something",
        reverse("bot:conversations"): f"#{conversation.pk}",
        reverse("bot:inbox"): f"#{conversation.pk}",
        reverse("bot:conversation", args=[conversation.pk]): "no idea what to ask really",
        reverse("bot:settings"): 'data-key="wk_',
    }
    for url, expected in pages.items():
        response = browser.get(url)
        assert response.status_code == 200, url
        assert expected in response.content.decode(), url
    # Linked from the sidebar and from the overview's bot section (no longer "Soon").
    assert browser.get(reverse("dashboard:home")).content.decode().count(
        f'href="{reverse("bot:overview")}"') == 2


def test_members_edit_intents_articles_and_answer_in_the_inbox(acme: TenantSetup) -> None:
    browser = acme.browser()
    created = browser.post(reverse("bot:intents"), {"name": "card_arrival",
                                                    "answer_template": "Soon, {name}."})
    with tenant_context(acme.tenant.pk):
        intent = Intent.objects.get()
    browser.post(reverse("bot:intent", args=[intent.pk]), {"text": "Where is my card?"})
    imported = browser.post(reverse("bot:articles_import"), {
        "file": SimpleUploadedFile("kb.csv", b"question,answer\nFees?,None.\n")})
    refused = browser.post(reverse("bot:articles_import"), {
        "file": SimpleUploadedFile("kb.csv", b"question,answer\nHours?,\n")}, follow=True)
    conversation = start(acme)
    answer(acme, conversation, "gibberish words only here", confidence=0.1)
    replied = browser.post(reverse("bot:conversation", args=[conversation.pk]), {
        "text": "Our fees are on the website.", "save_as": "utterance", "intent": "fees"})
    resolved = browser.post(reverse("bot:resolve", args=[conversation.pk]))

    assert created.status_code == 302
    assert imported.status_code == 302
    # The refusal is the problem table of the datasets page (was a one-line banner).
    assert refused.status_code == 400
    assert re.search(r'data-testid="problems">.*<td class="nowrap">1</td>\s*'
                     r'<td class="nowrap"><code>answer</code></td>\s*<td>is required</td>',
                     refused.content.decode(), re.S)
    assert replied.status_code == 302
    assert resolved.status_code == 302
    with tenant_context(acme.tenant.pk):
        assert list(Utterance.objects.values_list("intent__name", "text").order_by("id")) == [
            ("card_arrival", "Where is my card?"), ("fees", "gibberish words only here")]
        assert list(Article.objects.values_list("question", flat=True)) == ["Fees?"]
        conversation.refresh_from_db()
        assert conversation.status == Conversation.Status.RESOLVED
        assert conversation.messages.filter(role=Message.Role.AGENT).count() == 1


def test_viewers_read_but_cannot_change(acme: TenantSetup) -> None:
    intent = add_intent(acme, "card_arrival")
    viewer = acme.add_member(Role.VIEWER)
    from django.test import Client

    browser = Client()
    browser.force_login(viewer.user)
    assert browser.get(reverse("bot:intents")).status_code == 200
    assert browser.post(reverse("bot:intents"), {"name": "x"}).status_code == 403
    assert browser.post(reverse("bot:intent_delete", args=[intent.pk])).status_code == 403
    assert browser.post(reverse("bot:try"), {"text": "hi"}).status_code == 403
    assert browser.get(reverse("bot:settings")).status_code == 403
    with tenant_context(acme.tenant.pk):
        assert list(Intent.objects.values_list("name", flat=True)) == ["card_arrival"]


def test_another_tenants_objects_give_404_on_every_page_and_action(
        acme: TenantSetup, globex: TenantSetup) -> None:
    intent = add_intent(globex, "secret", "Globex template")
    with tenant_context(globex.tenant.pk):
        utterance = Utterance.objects.create(intent=intent, text="globex utterance")
    article = add_article(globex, "Globex question", "Globex answer", 1)
    conversation = start(globex, channel=Conversation.Channel.DASHBOARD)  # a try-it chat
    answer(globex, conversation, "globex words that nobody knows", confidence=0.1)
    browser = acme.browser()

    gets = [reverse("bot:intent", args=[intent.pk]), reverse("bot:article", args=[article.pk]),
            reverse("bot:conversation", args=[conversation.pk])]
    posts = {
        reverse("bot:intent", args=[intent.pk]): {"name": "stolen"},
        reverse("bot:intent_delete", args=[intent.pk]): {},
        reverse("bot:utterance_delete", args=[utterance.pk]): {},
        reverse("bot:article", args=[article.pk]): {"question": "q", "answer": "a"},
        reverse("bot:article_delete", args=[article.pk]): {},
        reverse("bot:conversation", args=[conversation.pk]): {"text": "hello"},
        reverse("bot:resolve", args=[conversation.pk]): {},
        reverse("bot:try"): {"text": "hi", "conversation": conversation.pk},
    }
    for url in gets:
        assert browser.get(url).status_code == 404, url
    for url, data in posts.items():
        assert browser.post(url, data).status_code == 404, url
    for url in (reverse("bot:conversations"), reverse("bot:inbox"), reverse("bot:intents"),
                reverse("bot:articles")):
        page = browser.get(url).content.decode()
        assert "secret" not in page
        assert "Globex" not in page
        assert "globex" not in page

    with tenant_context(globex.tenant.pk):
        assert Intent.objects.get().name == "secret"
        assert Utterance.objects.count() == 1
        assert Article.objects.get().question == "Globex question"
        conversation.refresh_from_db()
        assert conversation.status == Conversation.Status.HANDED_OFF
        assert conversation.messages.count() == 2


def test_training_from_the_intents_page_submits_a_fine_tune(acme: TenantSetup) -> None:
    from jobs.models import Job

    browser = acme.browser()
    too_few = browser.post(reverse("bot:train"), follow=True)
    assert "Add utterances to at least two intents first" in too_few.content.decode()
    for name in ("card_arrival", "exchange_rate"):
        intent = add_intent(acme, name)
        browser.post(reverse("bot:intent", args=[intent.pk]), {"text": f"about {name}"})

    started = browser.post(reverse("bot:train"))

    with tenant_context(acme.tenant.pk):
        [job] = Job.objects.all()
    assert (job.app, job.kind, job.status, job.dataset_id) == ("support_bot", "fine_tune",
                                                               "queued", None)
    assert job.params["method"] == "auto"  # the worker picks head for few rows (jobs.method_choice)
    assert started.url == reverse("jobs:job_detail", args=[job.pk])


def test_backlog_reports_refuse_bad_files_and_show_distributions(
        acme: TenantSetup, globex: TenantSetup) -> None:
    from jobs.models import Dataset, Job

    browser = acme.browser()
    refused = browser.post(reverse("bot:reports"), {
        "file": SimpleUploadedFile("t.csv", b"subject\nhello\n")}, follow=True)
    accepted = browser.post(reverse("bot:reports"), {
        "file": SimpleUploadedFile("tickets.csv", b"text\nwhere is my card\nrate?\n")})
    with tenant_context(acme.tenant.pk):
        [job] = Job.objects.all()
        assert Dataset.objects.get().row_count == 2
        Job.objects.filter(pk=job.pk).update(status="succeeded", metrics={
            "items": 2, "low_confidence": 1, "model_version": 12, "model_version_number": 3,
            "distribution": [
                {"intent": "card_arrival", "count": 1, "share": 0.5},
                {"intent": "exchange_rate", "count": 1, "share": 0.5}]})
    with tenant_context(globex.tenant.pk):
        Job.objects.create(app="support_bot", kind="classify_backlog", status="succeeded",
                           metrics={"distribution": [{"intent": "globex_only", "count": 9,
                                                      "share": 1.0}]})

    page = browser.get(reverse("bot:reports")).content.decode()

    assert "column &#x27;text&#x27;: is missing from the header" in refused.content.decode()
    assert accepted.status_code == 302
    assert (job.kind, job.dataset_id is not None) == ("classify_backlog", True)
    assert page.count('data-testid="report"') == 1
    assert "exchange_rate" in page
    assert "model v3" in page  # the version's number, not its id
    assert "globex_only" not in page


def test_intent_model_versions_show_their_confusion_matrix(acme: TenantSetup) -> None:
    from jobs.models import Job
    from jobs.services import model_version_create

    labels = ["card_arrival", "exchange_rate"]
    with tenant_context(acme.tenant.pk):
        job = Job.objects.create(app="support_bot", kind="fine_tune", status="succeeded")
        version = model_version_create(
            job=job, label_map=labels, artifact_name="artifact.zip", artifact=b"zip",
            base_model="all-MiniLM-L6-v2", method="head",
            metrics={"accuracy": 0.75, "macro_f1": 0.74, "labels": labels,
                     "confusion_matrix": [[3, 1], [0, 4]], "per_class": {}})
    browser = acme.browser()

    listed = browser.get(reverse("jobs:model_list"), {"app": "support_bot"}).content.decode()
    detail = browser.get(reverse("jobs:model_detail", args=[version.pk])).content.decode()

    assert reverse("jobs:model_detail", args=[version.pk]) in listed
    assert 'data-testid="confusion-matrix"' in detail
    assert "exchange_rate" in detail
    assert "(head)" in detail
