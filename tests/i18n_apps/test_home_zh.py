"""The applications' parts of the overview page (their names, figures and getting-started
steps, written by each app's ``home.py``) follow the language."""

from __future__ import annotations

from django.urls import reverse

from tests.conftest import TenantSetup
from tests.i18n_apps import EN, ZH, assert_shows


def test_the_apps_checklists_in_chinese_and_english(acme: TenantSetup) -> None:
    browser = acme.browser()
    zh = browser.get(reverse("dashboard:home"), **ZH).content.decode()
    assert_shows(zh, ("将股票加入关注列表并添加新闻源，或直接发送文档。", "训练意图模型",
                      "从您的物品目录和用户行为中学习，为用户推荐物品。", "未处理告警", "点击率"),
                 ("Add tickers to the watchlist", "Train the intent model",
                  "Learns from your catalogue", "Click-through rate"))
    en = browser.get(reverse("dashboard:home"), **EN).content.decode()
    assert_shows(en, ("Add tickers to the watchlist", "Train the intent model"), ("训练意图模型",))
