"""Input that used to answer 500 (issue 16, item 2): each is a 400 naming the field, or a 404
for an id, in the API's JSON error format, and nothing is stored."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.recommendation.models import EndUser, Item
from apps.support_bot import services as bot_services
from apps.support_bot.models import Conversation
from tenancy.context import tenant_context
from tests.conftest import TenantSetup

DEEP = "[" * 5000 + "]" * 5000
SHOP = "https://shop.example.com"


def _client(setup: TenantSetup) -> Client:
    return Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {setup.raw_key}")


def _error(response, status: int) -> dict:  # noqa: ANN001
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    return response.json()["error"]


@pytest.mark.parametrize("path", ["/api/v1/jobs", "/api/v1/items", "/api/v1/bot/conversations",
                                  "/api/v1/datasets", "/api/v1/bot/widget/conversations"])
def test_deeply_nested_json_is_a_400(acme: TenantSetup, path: str) -> None:
    client = _client(acme)
    if "/widget/" in path:  # the public widget: its key and an allowed origin instead
        with tenant_context(acme.tenant.pk):
            key = bot_services.bot_settings_update(
                changes={"widget_origins": [SHOP]}).widget_key
        client = Client(raise_request_exception=False, HTTP_X_WIDGET_KEY=key, HTTP_ORIGIN=SHOP)
    error = _error(client.post(path, DEEP, content_type="application/json"), 400)
    assert error["code"] == "malformed_request"
    assert "nested" in error["message"]


def test_json_nested_within_the_limit_still_parses(acme: TenantSetup) -> None:
    attributes: dict = {"leaf": 1}
    for _ in range(20):
        attributes = {"child": attributes}
    response = _client(acme).post(
        "/api/v1/items", {"items": [{"external_id": "a", "title": "A", "attributes": attributes}]},
        content_type="application/json")
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/v1/items", {"items": [{"external_id": "a", "title": "A",
                                  "attributes": {"colour": "re\u0000d"}}]},
     "items[0].attributes.colour"),
    ("/api/v1/end-users", {"users": [{"external_id": "u", "attributes": {"k\u0000": 1}}]},
     "users[0].attributes"),
    ("/api/v1/bot/conversations", {"context": {"na\u0000me": "x"}}, "context"),
])
def test_a_nul_character_in_json_is_a_400_naming_the_field(
        acme: TenantSetup, path: str, body: dict, field: str) -> None:
    error = _error(_client(acme).post(path, body, content_type="application/json"), 400)
    assert field in error["fields"], error
    with tenant_context(acme.tenant.pk):
        assert not Item.objects.exists()
        assert not EndUser.objects.exists()
        assert not Conversation.objects.exists()


@pytest.mark.parametrize("path", [
    "/api/v1/items/%00", "/api/v1/end-users/%00", "/api/v1/recommendations/users/%00",
    "/api/v1/items/" + "x" * 201, "/api/v1/end-users/" + "x" * 201,
    "/api/v1/recommendations/users/" + "x" * 201, "/api/v1/jobs/" + "9" * 201,
    "/api/v1/jobs/99999999999999999999", "/api/v1/bot/intents/" + "1" * 250,
])
def test_unusable_path_ids_are_404(acme: TenantSetup, path: str) -> None:
    assert _error(_client(acme).get(path), 404)["code"] == "not_found"


@pytest.mark.parametrize("path", ["/api/v1/jobs", "/api/v1/items", "/api/v1/jobs/1/predictions",
                                  "/api/v1/finance/documents"])
@pytest.mark.parametrize("cursor", ["cD1ub3QtYS1kYXRl", "bm90LWEtY3Vyc29y", "%00", "bz0tMQ=="])
def test_a_forged_cursor_is_a_400_naming_it(acme: TenantSetup, path: str, cursor: str) -> None:
    # p=not-a-date, "not-a-cursor", a NUL, o=-1; and the p=2026 on a date-time below.
    if path == "/api/v1/jobs/1/predictions":
        from jobs.models import Job
        with tenant_context(acme.tenant.pk):
            job = Job.objects.create(app="finance_sentiment", kind="score_documents", params={})
        path = f"/api/v1/jobs/{job.pk}/predictions"
    error = _error(_client(acme).get(f"{path}?cursor={cursor}"), 400)
    assert "cursor" in error["fields"]


@pytest.mark.parametrize("path", ["/api/v1/jobs", "/api/v1/items", "/api/v1/finance/documents"])
def test_a_cursor_position_that_is_no_date_time_is_a_400(acme: TenantSetup, path: str) -> None:
    error = _error(_client(acme).get(f"{path}?cursor=cD0yMDI2"), 400)  # "p=2026"
    assert "cursor" in error["fields"]


def test_the_cursors_the_api_returns_still_page(acme: TenantSetup) -> None:
    from jobs.models import Job
    with tenant_context(acme.tenant.pk):
        for _ in range(3):
            Job.objects.create(app="finance_sentiment", kind="score_documents", params={})
    client, seen, url = _client(acme), [], "/api/v1/jobs?page_size=2"
    while url:
        page = client.get(url).json()
        seen += [job["id"] for job in page["results"]]
        url = page["next"]
    assert len(seen) == len(set(seen)) == 3


@pytest.mark.parametrize("page_size", ["0", "-3", "abc", "100000"])
def test_an_invalid_page_size_is_a_400(acme: TenantSetup, page_size: str) -> None:
    error = _error(_client(acme).get(f"/api/v1/jobs?page_size={page_size}"), 400)
    assert "page_size" in error["fields"]


def test_a_valid_page_size_pages(acme: TenantSetup) -> None:
    response = _client(acme).get("/api/v1/jobs?page_size=5")
    assert response.status_code == 200


@pytest.mark.parametrize("value", ["2024-01-01T00:00:00+20:00", "0001-01-01T00:00:00+05:00",
                                   "9999-12-31T23:59:59-05:00"])
@pytest.mark.parametrize("path", ["/api/v1/finance/documents", "/api/v1/finance/trends"])
def test_an_out_of_range_time_is_a_400_naming_the_field(
        acme: TenantSetup, path: str, value: str) -> None:
    from urllib.parse import quote
    error = _error(_client(acme).get(f"{path}?from={quote(value)}"), 400)
    assert "from" in error["fields"]


@pytest.mark.parametrize("query", ["search=%00", "tag=a%00b", "intent=%00", "%00=1"])
def test_a_nul_character_in_a_query_string_is_a_400_naming_it(acme: TenantSetup,
                                                              query: str) -> None:
    path = "/api/v1/bot/utterances" if query.startswith("intent") else "/api/v1/bot/articles"
    error = _error(_client(acme).get(f"{path}?{query}"), 400)
    name = query.split("=")[0].replace("%00", "\\u0000")
    assert name in error["fields"], error
    assert error["request_id"]
