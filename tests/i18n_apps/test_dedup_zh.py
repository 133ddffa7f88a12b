"""The near-duplicate and sample-size texts of the finance pages in Simplified Chinese."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from tests.conftest import TenantSetup
from tests.finance.conftest import doc, ingest, score, watch
from tests.finance.test_dedup import COPIES, STORY
from tests.i18n_apps import ZH


def test_similar_and_sample_size_in_chinese(acme: TenantSetup) -> None:
    watch(acme, "ACME")
    moment = timezone.now() - timedelta(hours=1)
    ids = ingest(acme, [doc("ACME", moment, text) for text in (STORY, *COPIES[:2])])
    score(acme, dict.fromkeys(ids, "neutral"))
    html = acme.browser().get(reverse("finance:ticker", args=["ACME"]), **ZH).content.decode()
    assert "及另外 2 篇相似报道" in html
    assert "已评分报道" in html
    assert "仅有 1 篇报道：数量太少，指数参考意义不大" in html


def test_a_bad_source_weight_is_refused_in_chinese(acme: TenantSetup) -> None:
    response = acme.api().post("/api/v1/finance/source-weights",
                               {"source": "feed:1", "weight": 50}, format="json", **ZH)
    assert response.status_code == 400
    error = response.json()["error"]
    assert "来源权重须为 0.1 到 10.0 之间的数字" in error["message"]
    assert error["fields"]["weight"] == ["须为 0.1 到 10.0 之间的数字"]
