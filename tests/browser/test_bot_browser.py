"""In a real browser, with a real worker and a (tiny) intent model of the tenant: the try-it
chat answers with the intent's template, and the embedded web widget on a page of another
origin (on the allow-list) does the same."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from apps.support_bot import services
from tenancy.context import tenant_context
from tests.bot.conftest import add_intent
from tests.bot.test_end_to_end import KEYWORDS, utterances
from tests.conftest import TenantSetup, WorkerFactory
from tests.workers.conftest import TINY_BASE_NAME, tiny_base  # noqa: F401  (fixture)

TEMPLATE = "Your card arrives within 5 working days."
TRY_SCREENSHOT = "/tmp/bot-try.png"  # noqa: S108  (fixed paths, to look at)
WIDGET_SCREENSHOT = "/tmp/bot-widget.png"  # noqa: S108


def install_intent_model(setup: TenantSetup, base_folder: Path, folder: Path) -> None:
    """A tiny intent classifier (head on the tiny BERT), trained here and activated."""
    from jobs.models import Job
    from jobs.services import model_version_create
    from workers.handlers.text_classification import _zip_dir
    from workers.runtime import FineTuneConfig, fine_tune_classifier
    from workers.runtime.base_models import register_base

    register_base(TINY_BASE_NAME, str(base_folder))
    rows = utterances(180)
    labels = sorted(KEYWORDS)
    fine_tune_classifier([text for text, _ in rows], [intent for _, intent in rows],
                         FineTuneConfig(output_dir=folder, label_names=labels,
                                        base=TINY_BASE_NAME, method="head", epochs=80,
                                        learning_rate=3e-2, seed=0,
                                        early_stopping_patience=None))
    with tenant_context(setup.tenant.pk):
        job = Job.objects.create(app="support_bot", kind="fine_tune", status="succeeded")
        model_version_create(job=job, label_map=labels, metrics={"macro_f1": 0.9},
                             artifact_name="artifact.zip", artifact=_zip_dir(folder),
                             base_model=TINY_BASE_NAME, method="head")


@pytest.fixture
def shop_page() -> Iterator[tuple[str, dict[str, bytes]]]:
    """A web server on another origin serving the page that embeds the widget."""
    content: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = content.get(self.path, b"")
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", content
    server.shutdown()
    server.server_close()


@pytest.mark.browser
@pytest.mark.slow
def test_try_it_chat_and_embedded_widget_answer(
    transactional_db: None, live_server, acme: TenantSetup, password: str, page,
    tiny_base: Path, tmp_path: Path, workers: WorkerFactory, settings,  # noqa: F811
    shop_page: tuple[str, dict[str, bytes]],
) -> None:
    settings.ONLINE_TIMEOUT_SECONDS = 60  # the first message loads the models
    install_intent_model(acme, tiny_base, tmp_path / "artifact")
    add_intent(acme, "card_arrival", TEMPLATE)
    shop_origin, shop_content = shop_page
    with tenant_context(acme.tenant.pk):
        services.bot_settings_update(changes={"intent_threshold": 0.4,
                                              "widget_origins": [shop_origin]})
        widget_key = services.bot_settings_get().widget_key
    workers.start(BASE_MODELS=json.dumps({TINY_BASE_NAME: str(tiny_base)}),
                  MODEL_WORK_DIR=str(tmp_path / "models"),
                  DEFAULT_MODELS_DIR=str(tmp_path / "no-defaults"))

    page.goto(live_server.url + reverse("accounts:login"))
    page.get_by_label("Email").fill(acme.owner.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_server.url + reverse("dashboard:home"))
    page.get_by_role("link", name="Support bot").click()
    page.get_by_role("link", name="Try the bot").click()
    page.get_by_label("Message").fill("when will my card arrive in the post")
    page.get_by_role("button", name="Send").click()
    bot = page.locator('[data-testid="chat-message"][data-role="bot"]')
    expect(bot).to_have_count(1, timeout=60_000)
    expect(bot).to_contain_text(TEMPLATE)
    expect(bot).to_contain_text("card_arrival")
    # The conversation goes on in the same chat.
    page.get_by_label("Message").fill("my card has still not arrived by mail")
    page.get_by_role("button", name="Send").click()
    expect(bot).to_have_count(2, timeout=30_000)
    page.screenshot(path=TRY_SCREENSHOT, full_page=True)

    shop_content["/"] = (
        "<!doctype html><html><body><h1>Shop</h1>"
        f'<script src="{live_server.url}/bot/widget.js" data-key="{widget_key}" async>'
        "</script></body></html>").encode()
    page.goto(shop_origin + "/")
    widget = page.get_by_test_id("bot-widget")
    widget.get_by_role("button", name="Chat with us").click()
    widget.get_by_label("Your message").fill("when will my card arrive in the post")
    widget.get_by_role("button", name="Send").click()
    answer = widget.locator('[data-role="bot"]')
    expect(answer).to_have_text(TEMPLATE, timeout=30_000)

    # Unsure of everything now: the widget's conversation goes to a person, whose reply the
    # widget fetches by itself.
    with tenant_context(acme.tenant.pk):
        services.bot_settings_update(changes={"intent_threshold": 1.0,
                                              "article_threshold": 1.0})
    widget.get_by_label("Your message").fill("my parrot keeps ordering pizza with my phone")
    widget.get_by_role("button", name="Send").click()
    expect(answer).to_have_count(2, timeout=30_000)
    with tenant_context(acme.tenant.pk):
        from apps.support_bot.models import Conversation

        conversation = Conversation.objects.get(channel="widget")
        assert conversation.status == "handed_off"
        services.agent_reply(conversation=conversation, text="Sam here: I blocked it.",
                             author_id=acme.owner.pk)
        channels = sorted(Conversation.objects.values_list("channel", flat=True))
    agent = widget.locator('[data-role="agent"]')
    expect(agent.locator(".aip-text")).to_have_text("Sam here: I blocked it.", timeout=15_000)
    if acme.owner.first_name:  # signed with the agent's first name
        expect(agent.get_by_test_id("bot-widget-author")).to_have_text(acme.owner.first_name)
    page.screenshot(path=WIDGET_SCREENSHOT, full_page=True)
    assert channels == ["dashboard", "widget"]
