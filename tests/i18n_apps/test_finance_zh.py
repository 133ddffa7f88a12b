"""The finance pages in Simplified Chinese for a browser that asks for it, and still in English
for one that does not: headings, table headers, attributes, flash messages, form errors and the
chart's labels all come from the catalog."""

from __future__ import annotations

import re

from django.urls import reverse

from apps.finance_sentiment.models import WatchlistEntry
from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from tests.finance.test_pages import raise_alert, seed, ticker_url
from tests.i18n_apps import EN, ZH, assert_shows


def test_watchlist_in_chinese_and_english(acme: TenantSetup) -> None:
    seed(acme)
    browser = acme.browser()
    zh = browser.get(reverse("finance:overview"), **ZH).content.decode()
    assert_shows(zh, ("添加股票", "未处理告警", "最近 7 天每日情绪指数",
                      'data-confirm="要将 ACME 移出关注列表吗？', "ACME"),
                 ("Add a ticker", "Open alerts", "Daily sentiment index", ">Remove<"))
    en = browser.get(reverse("finance:overview"), **EN).content.decode()
    assert_shows(en, ("Add a ticker", "Open alerts", "Daily sentiment index"), ("添加股票",))


def test_ticker_page_chart_and_filters_in_chinese(acme: TenantSetup) -> None:
    seed(acme)
    zh = acme.browser().get(ticker_url("ACME"), **ZH).content.decode()
    assert_shows(zh, ("情绪指数与文档量", "每日情绪指数与文档量", ">文档量</text>", ">负面<",
                      "发布时间", "按小时"),
                 ("Sentiment index and volume", ">Volume</text>", ">Published<", ">Negative<"))
    assert re.search(r"每日情绪指数与文档量，\d{4}年\d{1,2}月\d{1,2}日 至 ", zh)


def test_alerts_and_rules_in_chinese(acme: TenantSetup) -> None:
    seed(acme)
    raise_alert(acme)
    browser = acme.browser()
    alerts = browser.get(reverse("finance:alerts"), **ZH).content.decode()
    assert_shows(alerts, ("按状态筛选告警", ">未处理</span>", ">确认</button>", "条启用的规则"),
                 ("Acknowledge", "active rule"))
    # Dates in Chinese order: the raised time and the last evaluation.
    assert len(re.findall(r"\d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d", alerts)) >= 2
    rules = browser.get(reverse("finance:rules"), **ZH).content.decode()
    assert_shows(rules, ("新建规则", "时间窗口（小时）", "负面占比超过阈值"),
                 ("New rule", "Window (hours)"))


def test_messages_and_service_errors_follow_the_language(acme: TenantSetup) -> None:
    browser = acme.browser()
    added = browser.post(reverse("finance:overview"), {"ticker": "ZZZ"}, follow=True, **ZH)
    assert_shows(added.content.decode(), ("已将 ZZZ 加入关注列表。",))
    again = browser.post(reverse("finance:overview"), {"ticker": "ZZZ"}, **ZH)
    assert again.status_code == 400
    assert_shows(again.content.decode(), ("已在关注列表中",), ("already on the watchlist",))
    refused = browser.post(reverse("finance:rules"), {
        "name": "r", "kind": "negative_share", "window_hours": 24, "baseline_days": 14,
        "min_volume": 10}, **EN)
    assert refused.status_code == 400
    assert_shows(refused.content.decode(), ("a share between 0 and 1 (exclusive)",))
    with tenant_context(acme.tenant.pk):
        assert WatchlistEntry.objects.filter(ticker="ZZZ").count() == 1


def test_try_page_in_chinese(acme: TenantSetup) -> None:
    page = acme.browser().get(reverse("finance:try"), **ZH).content.decode()
    assert_shows(page, ("待评分文本", "最多 5,000 个字符。", ">评分</button>"),
                 ("Text to score", ">Score<"))
    too_long = acme.browser().post(reverse("finance:try"), {"text": "x" * 5001}, **ZH)
    assert too_long.status_code == 400
    assert_shows(too_long.content.decode(),
                 ("文本长度为 5001 个字符，此处最多可评分 5,000 个字符",))
