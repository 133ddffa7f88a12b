"""The recommendation pages in Simplified Chinese, their charts' labels included."""

from __future__ import annotations

from django.urls import reverse

from jobs.models import ModelVersion
from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from tests.i18n_apps import EN, ZH, assert_shows
from tests.recommendation.conftest import add_events, add_items, item_row


def test_overview_and_its_chart_in_chinese_and_english(acme: TenantSetup) -> None:
    with tenant_context(acme.tenant.pk):
        ModelVersion.objects.create(
            app="recommendation", version=1, base_model="als", method="hybrid",
            status=ModelVersion.Status.ACTIVE, artifact="x.zip", metrics={
                "ndcg_at_10": 0.3, "recall_at_10": 0.2, "coverage": 0.25,
                "plain_als": {"ndcg_at_10": 0.2, "recall_at_10": 0.1, "coverage": 0.1},
                "popularity": {"ndcg_at_10": 0.1, "recall_at_10": 0.05, "coverage": 0.01},
                "ndcg_ratio_vs_popularity": 3.0, "split": "random", "users": 10,
                "train_seconds": 1.5})
    browser = acme.browser()
    zh = browser.get(reverse("recs:overview"), **ZH).content.decode()
    assert_shows(zh, ("当前模型与基线对比", "立即训练", "模型版本", "覆盖率", "普通 ALS",
                      "模型与基线在留出集上的指标对比", "还没有提供过推荐。", "训练耗时 1.5 秒"),
                 ("Active model against its baselines", "Train now", "Model versions",
                  "Plain ALS", "Holdout metrics", "No recommendations served yet."))
    en = browser.get(reverse("recs:overview"), **EN).content.decode()
    assert_shows(en, ("Active model against its baselines", "Plain ALS"), ("立即训练",))


def test_catalogue_and_preview_in_chinese(acme: TenantSetup) -> None:
    add_items(acme, [item_row("b1", "Dune"), item_row("b2", "Emma")])
    add_events(acme, [("reader-1", "b1", "view")])
    browser = acme.browser()
    catalogue = browser.get(reverse("recs:catalogue"), **ZH).content.decode()
    assert_shows(catalogue, ("物品目录", "标题或 ID", "热度", "Dune"),
                 ("Title or id", "Popularity", ">yes<"))
    preview = browser.get(reverse("recs:preview") + "?user=reader-1", **ZH).content.decode()
    assert_shows(preview, ("预览用户的推荐", "为 reader-1 推荐", "推荐理由", "最近的事件", "浏览"),
                 ("Preview a user's recommendations", "Reason", "Recent events"))
    unknown = browser.get(reverse("recs:preview") + "?user=nobody", **ZH).content.decode()
    assert_shows(unknown, ("未知用户：冷启动",), ("cold start",))


def test_experiment_and_upload_pages_in_chinese(acme: TenantSetup) -> None:
    from apps.recommendation.experiments.services import experiment_create

    add_items(acme, [item_row("b1", "Dune")])
    with tenant_context(acme.tenant.pk):
        ModelVersion.objects.create(app="recommendation", version=1, base_model="als",
                                    method="hybrid", status=ModelVersion.Status.ACTIVE,
                                    artifact="x.zip", metrics={})
        experiment = experiment_create(name="v1 对 热度", arm_a=1, arm_b=None)
    browser = acme.browser()
    listing = browser.get(reverse("recs:experiments"), **ZH).content.decode()
    assert_shows(listing, ("全部实验", "启动实验", "A 组", "B 组用户", "运行中", "判定依据"),
                 ("All experiments", "Start an experiment", "Users in B", "Decide on"))
    detail = browser.get(reverse("recs:experiment", args=[experiment.pk]), **ZH)
    assert_shows(detail.content.decode(),
                 ("数据尚不足", "实验组", "点击率（95% 区间）", "停止实验",
                  "本实验尚未推送任何列表。", "推广 A 组（v1）"),
                 ("Not enough data yet", "Stop experiment", "Promote arm", "Items shown"))
    upload = browser.get(reverse("recs:upload"), **ZH).content.decode()
    assert_shows(upload, ("上传 CSV", "文件内容", "目录（物品）", "可选"),
                 ("Upload a file", "What the file holds", "optional"))
