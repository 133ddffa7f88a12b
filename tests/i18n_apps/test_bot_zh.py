"""The support bot's pages and its embeddable widget in Simplified Chinese.

The widget runs on customers' sites: its script carries its texts in every language and picks
one in the browser (``data-lang`` from the bot settings, else ``navigator.language``); the
browser test in ``tests/browser/test_widget_language_browser.py`` runs that choice."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from apps.support_bot import services
from apps.support_bot.models import BotSettings
from tenancy.context import tenant_context
from tests.bot.conftest import add_intent, start
from tests.conftest import TenantSetup
from tests.i18n_apps import EN, ZH, assert_shows


def test_intents_page_in_chinese_and_english(acme: TenantSetup) -> None:
    add_intent(acme, "card_arrival", "Your card arrives within 5 working days.")
    browser = acme.browser()
    zh = browser.get(reverse("bot:intents"), **ZH).content.decode()
    assert_shows(zh, ("训练意图模型", "新建意图", 'placeholder="名称、回复或例句"', "导入例句",
                      "回复模板", "card_arrival", "Your card arrives within 5 working days."),
                 ("Train the intent model", "New intent", "Name, answer or utterance",
                  "Import utterances", "Answer template"))
    en = browser.get(reverse("bot:intents"), **EN).content.decode()
    assert_shows(en, ("Train the intent model", "Import utterances"), ("训练意图模型",))


def test_analytics_conversations_and_settings_in_chinese(acme: TenantSetup) -> None:
    start(acme)
    browser = acme.browser()
    analytics = browser.get(reverse("bot:overview"), **ZH).content.decode()
    assert_shows(analytics, ("自助解决率", "转人工率", "热门意图", "数据分析"),
                 ("Containment", "Handoff rate", "Top intents"))
    conversations = browser.get(reverse("bot:conversations"), **ZH).content.decode()
    assert_shows(conversations, ("渠道", "最近意图", "进行中", "任意状态"),
                 ("Last intent", ">Open<", "Any status"))
    settings_page = browser.get(reverse("bot:settings"), **ZH).content.decode()
    assert_shows(settings_page, ("机器人设置", "小组件语言", "访客的浏览器", "允许的来源"),
                 ("Bot settings", "Widget language", "Allowed origins"))


def test_flash_messages_and_refusals_follow_the_language(acme: TenantSetup) -> None:
    browser = acme.browser()
    created = browser.post(reverse("bot:intents"), {"name": "lost_card"}, follow=True, **ZH)
    assert_shows(created.content.decode(), ("意图 lost_card 已创建。",))
    again = browser.post(reverse("bot:intents"), {"name": "lost_card"}, **ZH)
    assert again.status_code == 400
    assert_shows(again.content.decode(), ('<p class="field-error">已存在</p>',),
                 ("already exists",))
    bad_csv = browser.post(reverse("bot:utterances_import"), {}, follow=True, **ZH)
    assert_shows(bad_csv.content.decode(), ("请选择要导入的 CSV 文件。",))


def widget_texts(client: Client) -> dict[str, dict[str, str]]:
    response = client.get(reverse("bot:widget_script"))
    assert response.status_code == 200
    script = response.content.decode("ascii")  # ASCII whatever the embedding page's charset
    found = re.search(r"var STRINGS = (\{.*?\});\n", script)
    assert found, "the script carries no texts"
    return json.loads(found.group(1))


def test_the_widget_script_carries_its_texts_in_english_and_chinese(client: Client) -> None:
    texts = widget_texts(client)
    assert set(texts) == {"en", "zh-hans"}
    assert texts["en"]["open"] == "Chat with us"
    assert texts["en"]["placeholder"] == "Ask a question…"
    assert texts["zh-hans"]["open"] == "在线咨询"
    assert texts["zh-hans"]["placeholder"] == "请输入您的问题…"
    assert texts["zh-hans"]["handoff"] == "人工客服稍后会在这里回复您。"
    assert set(texts["zh-hans"]) == set(texts["en"])
    # The visitor's language does not change the (publicly cached) script.
    assert widget_texts(Client(**ZH)) == texts


def test_the_tenants_widget_language_goes_into_the_snippet(acme: TenantSetup) -> None:
    browser = acme.browser()
    page = browser.get(reverse("bot:settings")).content.decode()
    assert "data-lang" not in page  # the visitor's browser decides
    form = {"intent_threshold": 0.6, "article_threshold": 0.55, "followup_max_words": 4,
            "fallback_message": "Let me find a colleague.", "widget_origins": "",
            "target_false_handoff": 0.03, "ambiguity_margin": 0.1,
            "widget_language": "zh-hans"}
    saved = browser.post(reverse("bot:settings"), form, follow=True, **ZH)
    assert_shows(saved.content.decode(), ("设置已保存。", 'data-lang="zh-hans"'))
    with tenant_context(acme.tenant.pk):
        assert BotSettings.objects.get().widget_language == "zh-hans"
    refused = browser.post(reverse("bot:settings"), {**form, "widget_language": "fr"}, **EN)
    assert refused.status_code == 400
    with tenant_context(acme.tenant.pk):
        assert BotSettings.objects.get().widget_language == "zh-hans"


def test_the_service_refuses_a_language_the_widget_has_not(acme: TenantSetup) -> None:
    with tenant_context(acme.tenant.pk):
        with pytest.raises(services.BotError) as refused:
            services.bot_settings_update(changes={"widget_language": "fr"})
        assert refused.value.fields == {"widget_language": ["not a widget language"]}
        assert services.bot_settings_get().widget_language == ""
