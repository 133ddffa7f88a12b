"""Each person's language and time zone: chosen with the switcher or on the preferences page,
stored on the user, applied to every page; dates and numbers written the language's way."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.formats import date_format

from accounts.models import User
from billing.models import Meter
from billing.numbers import quantity
from billing.periods import month_bounds
from jobs.models import Dataset
from tenancy.context import tenant_context
from tests.billing.conftest import put_on_plan, record_usage
from tests.conftest import TenantSetup
from tests.jobs.conftest import labelled_dataset

pytestmark = pytest.mark.django_db

COOKIE = settings.LANGUAGE_COOKIE_NAME


def _speaks(user: User, language: str) -> None:
    user.language = language
    user.save(update_fields=["language"])


def test_a_user_who_chose_chinese_sees_the_overview_in_chinese(acme: TenantSetup) -> None:
    _speaks(acme.owner, "zh-hans")
    response = acme.browser().get(reverse("dashboard:home"))
    page = response.content.decode()
    assert response["Content-Language"] == "zh-hans"
    assert '<html lang="zh-hans">' in page
    assert "<title>概览 · AI Platform</title>" in page
    assert ">任务</a>" in page  # the sidebar
    assert "Overview" not in page


def test_english_stays_the_default(acme: TenantSetup) -> None:
    page = acme.browser().get(reverse("dashboard:home")).content.decode()
    assert '<html lang="en">' in page
    assert "<title>Overview · AI Platform</title>" in page


def test_a_visitor_gets_the_browser_language_and_the_switcher_on_the_sign_in_page() -> None:
    page = Client(HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9,en;q=0.5").get(
        reverse("accounts:login")).content.decode()
    assert "<h1>登录</h1>" in page
    assert f'action="{reverse("accounts:set_language")}"' in page
    assert 'value="en"' in page
    assert 'value="zh-hans"' in page


def test_the_switcher_saves_the_choice_on_the_signed_in_user(acme: TenantSetup) -> None:
    response = acme.browser().post(reverse("accounts:set_language"),
                                   {"language": "zh-hans", "next": "/jobs/"})
    assert response.status_code == 302
    assert response["Location"] == "/jobs/"
    assert response.cookies[COOKIE].value == "zh-hans"
    acme.owner.refresh_from_db()
    assert acme.owner.language == "zh-hans"
    # Another browser, no cookie, an English Accept-Language: the stored choice wins.
    other_browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    other_browser.force_login(acme.owner)
    assert "<h1>任务</h1>" in other_browser.get("/jobs/").content.decode()


def test_the_switcher_sets_only_the_cookie_for_a_visitor(acme: TenantSetup) -> None:
    client = Client()
    client.post(reverse("accounts:set_language"), {"language": "zh-hans", "next": "/"})
    assert "<h1>登录</h1>" in client.get(reverse("accounts:login")).content.decode()
    assert not User.objects.exclude(language="").exists()


def test_the_switcher_ignores_a_language_the_platform_lacks(acme: TenantSetup) -> None:
    client = acme.browser()
    response = client.post(reverse("accounts:set_language"), {"language": "fr", "next": "/"})
    assert response.status_code == 302
    acme.owner.refresh_from_db()
    assert acme.owner.language == ""
    assert '<html lang="en">' in client.get("/").content.decode()


def test_the_switcher_never_redirects_off_site(acme: TenantSetup) -> None:
    response = acme.browser().post(reverse("accounts:set_language"),
                                   {"language": "en", "next": "https://evil.example.com/"})
    assert response["Location"] == "/"


def test_the_preferences_page_saves_language_and_time_zone(acme: TenantSetup) -> None:
    client = acme.browser()
    assert client.get(reverse("accounts:preferences")).status_code == 200
    response = client.post(reverse("accounts:preferences"),
                           {"language": "zh-hans", "time_zone": "Asia/Shanghai"})
    assert response.status_code == 302
    acme.owner.refresh_from_db()
    assert (acme.owner.language, acme.owner.time_zone) == ("zh-hans", "Asia/Shanghai")
    page = client.get(reverse("accounts:preferences")).content.decode()
    assert "语言和时区设置已保存。" in page


def test_an_unknown_time_zone_is_refused_by_field_and_changes_nothing(
        acme: TenantSetup) -> None:
    response = acme.browser().post(reverse("accounts:preferences"),
                                   {"language": "zh-hans", "time_zone": "Mars/Olympus_Mons"})
    assert response.status_code == 400
    form = response.context["form"]
    assert list(form.errors) == ["time_zone"]
    acme.owner.refresh_from_db()
    assert (acme.owner.language, acme.owner.time_zone) == ("", "UTC")


def test_the_preferences_page_only_ever_changes_the_signed_in_user(
        acme: TenantSetup, globex: TenantSetup) -> None:
    # Whatever identifies another person in the form, only the sender's own row is written.
    response = acme.browser().post(reverse("accounts:preferences"), {
        "language": "zh-hans", "time_zone": "Asia/Tokyo", "id": globex.owner.pk,
        "pk": globex.owner.pk, "email": globex.owner.email, "user": globex.owner.pk})
    assert response.status_code == 302
    globex.owner.refresh_from_db()
    assert (globex.owner.language, globex.owner.time_zone) == ("", "UTC")
    acme.owner.refresh_from_db()
    assert acme.owner.email == "owner@acme.example.com"
    assert (acme.owner.language, acme.owner.time_zone) == ("zh-hans", "Asia/Tokyo")


def test_the_preferences_page_needs_a_signed_in_user() -> None:
    response = Client().post(reverse("accounts:preferences"),
                             {"language": "zh-hans", "time_zone": "UTC"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_the_user_time_zone_changes_a_rendered_timestamp(acme: TenantSetup) -> None:
    dataset = labelled_dataset(acme)
    with tenant_context(acme.tenant.pk):
        Dataset.objects.filter(pk=dataset.pk).update(
            created_at=datetime(2026, 12, 1, 23, 30, tzinfo=UTC))
    url = reverse("jobs:dataset_detail", kwargs={"pk": dataset.pk})
    client = acme.browser()
    assert "1 Dec 2026 23:30" in client.get(url).content.decode()
    acme.owner.time_zone = "Asia/Shanghai"  # UTC+8: the next day
    acme.owner.save(update_fields=["time_zone"])
    assert "2 Dec 2026 07:30" in client.get(url).content.decode()
    _speaks(acme.owner, "zh-hans")
    assert "2026年12月2日 07:30" in client.get(url).content.decode()


def test_numbers_and_dates_follow_the_language() -> None:
    day = date(2026, 3, 2)
    with translation.override("en"):
        assert date_format(day, "DATE_FORMAT") == "2 Mar 2026"
        assert quantity(1234567.5) == "1,234,567.5"
    with translation.override("zh-hans"):
        assert date_format(day, "DATE_FORMAT") == "2026年3月2日"
        assert date_format(day, "MONTH_DAY_FORMAT") == "3月2日"
        assert date_format(day, "YEAR_MONTH_FORMAT") == "2026年3月"
        # Django's zh_Hans would write "1234567.5"; config/formats groups by thousands.
        assert quantity(1234567.5) == "1,234,567.5"


def test_a_chinese_usage_page_groups_numbers_and_translates_meters(acme: TenantSetup) -> None:
    put_on_plan(acme, "pro")
    start, _ = month_bounds()
    record_usage(acme, Meter.API_CALLS, 250_000, key="calls", occurred_at=start)
    _speaks(acme.owner, "zh-hans")
    page = acme.browser().get("/usage/").content.decode()
    assert 'data-testid="used">250,000<' in page
    assert "API 调用次数" in page
    assert "本周期用量" in page


def test_a_refusal_shown_in_a_page_follows_the_language(acme: TenantSetup) -> None:
    viewer = acme.add_member(role="viewer")
    _speaks(viewer.user, "zh-hans")
    client = Client()
    client.force_login(viewer.user)
    response = client.get(reverse("dashboard:settings_api_keys"))
    assert response.status_code == 403
    assert "只有所有者和管理员可以执行此操作。" in response.content.decode()
