"""Document ingestion: bulk JSON and CSV through the API; idempotent on (source, external_id);
all or nothing, with errors naming the row and field; truncation of huge bodies; a scoring
job scheduled once after commit."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.finance_sentiment.models import Document
from apps.finance_sentiment.services import MAX_BODY_CHARS, scoring_schedule
from jobs.models import Job
from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from tests.finance.conftest import documents, watch

URL = "/api/v1/finance/documents"


def post(setup: TenantSetup, rows: object, **extra: object):
    return setup.api().post(URL, {"documents": rows}, format="json", **extra)


def count(setup: TenantSetup) -> int:
    with tenant_context(setup.tenant.pk):
        return Document.objects.count()


def test_bulk_create_tags_tickers_and_reports_created_rows(acme: TenantSetup) -> None:
    watch(acme, "AAPL", "Apple", ["iPhone maker"])
    response = post(acme, [
        {"external_id": "n-1", "title": "Apple beats estimates", "body": "Strong quarter.",
         "published_at": "2024-05-01T14:30:00Z", "url": "https://news.example.com/1",
         "language": "en"},
        {"external_id": "n-2", "title": "$TSLA slides", "tickers": ["msft"],
         "published_at": "2024-05-01"},
        {"body": "No title, only a body about the iPhone maker."},
    ])
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["created"], body["duplicates"], body["truncated"]) == (3, 0, False)
    assert [row["status"] for row in body["documents"]] == ["created"] * 3
    assert [row["row"] for row in body["documents"]] == [0, 1, 2]
    first, second, third = documents(acme)
    assert first.pk == body["documents"][0]["id"]
    assert (first.source, first.external_id, first.tickers) == ("api", "n-1", ["AAPL"])
    assert first.published_at == datetime(2024, 5, 1, 14, 30, tzinfo=UTC)
    assert (first.label, first.scored_at) == ("", None)
    assert second.tickers == ["MSFT", "TSLA"]
    assert second.published_at == datetime(2024, 5, 1, tzinfo=UTC)
    assert third.tickers == ["AAPL"]
    assert third.external_id.startswith("sha256:")  # no id, no URL: a content hash
    assert abs((third.published_at - datetime.now(UTC)).total_seconds()) < 60


def test_same_documents_again_are_duplicates_and_change_nothing(acme: TenantSetup) -> None:
    rows = [{"external_id": "a", "title": "One"}, {"url": "https://x.example.com/2",
                                                   "title": "Two"}]
    assert post(acme, rows).status_code == 201
    before = [(d.pk, d.title) for d in documents(acme)]
    again = post(acme, [{"external_id": "a", "title": "One, edited"},
                        {"url": "https://x.example.com/2", "title": "Two"},
                        {"external_id": "c", "title": "Three"},
                        {"external_id": "c", "title": "Three again in the same request"}])
    assert again.status_code == 201
    body = again.json()
    assert (body["created"], body["duplicates"]) == (1, 3)
    assert [row["status"] for row in body["documents"]] == [
        "duplicate", "duplicate", "created", "duplicate"]
    assert body["documents"][0]["id"] == before[0][0]
    assert body["documents"][2]["id"] == body["documents"][3]["id"]
    after = [(d.pk, d.title) for d in documents(acme)]
    assert after[:2] == before  # a duplicate is left unchanged
    assert count(acme) == 3
    only_duplicates = post(acme, [{"external_id": "a", "title": "One"}])
    assert only_duplicates.status_code == 200
    assert only_duplicates.json()["created"] == 0


def test_without_external_id_a_long_url_is_hashed(acme: TenantSetup) -> None:
    url = "https://news.example.com/" + "a" * 600
    assert post(acme, [{"url": url, "title": "Long"}]).status_code == 201
    assert post(acme, [{"url": url, "title": "Long"}]).json()["duplicates"] == 1
    [document] = documents(acme)
    assert (document.url, document.external_id[:7]) == (url, "sha256:")


def test_the_same_external_id_from_another_source_is_another_document(
    acme: TenantSetup
) -> None:
    assert post(acme, [{"external_id": "1", "title": "API"}]).status_code == 201
    csv = b"external_id,title\n1,CSV\n"
    response = acme.api().post(f"{URL}/upload", {"file": SimpleUploadedFile("d.csv", csv)},
                               format="multipart")
    assert response.status_code == 201, response.content
    assert sorted(d.source for d in documents(acme)) == ["api", "csv"]


@pytest.mark.parametrize(("row", "field", "fragment"), [
    ({"external_id": "x"}, "body", "title or a body"),
    ({"title": "   ", "body": ""}, "body", "title or a body"),
    ({"title": "t", "published_at": "yesterday"}, "published_at", "not a date"),
    ({"title": "t", "published_at": "2024-13-45"}, "published_at", "not a date"),
    ({"title": "t", "published_at": 1714572000}, "published_at", "must be a string"),
    ({"title": 42}, "title", "must be a string"),
    ({"title": "t", "tickers": "AAPL"}, "tickers", "list"),
    ({"title": "t", "tickers": ["not a ticker"]}, "tickers", "not a ticker"),
    ({"title": "t", "url": "javascript:alert(1)"}, "url", "not an http(s) URL"),
    ({"title": "t", "headline": "typo"}, "headline", "unknown field"),
    ({"title": "t", "external_id": "x" * 301}, "external_id", "longer than 300"),
    ({"title": "t", "published_at": "2999-01-01T00:00:00Z"}, "published_at", "future"),
])
def test_an_invalid_row_refuses_the_whole_request_naming_row_and_field(
    acme: TenantSetup, row: dict, field: str, fragment: str
) -> None:
    good = {"external_id": "good", "title": "Fine"}
    response = post(acme, [good, good | {"external_id": "good-2"}, row])
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_documents"
    [problem] = error["problems"]
    assert (problem["row"], problem["column"]) == (2, field)
    assert fragment in problem["message"]
    assert f"documents[2].{field}" in error["fields"]
    assert "row 2" in error["message"]
    assert count(acme) == 0  # nothing written, not even the good rows


def test_every_problem_is_listed(acme: TenantSetup) -> None:
    response = post(acme, [{"external_id": "a"}, {"title": "t", "published_at": "nope"},
                           "not an object"])
    problems = response.json()["error"]["problems"]
    assert [(p["row"], p["column"]) for p in problems] == [
        (0, "body"), (1, "published_at"), (2, None)]


def test_a_one_megabyte_body_is_truncated_and_flagged_not_refused(acme: TenantSetup) -> None:
    huge = "Shares of $ACME fall. " + "x" * (1024 * 1024)
    response = post(acme, [{"external_id": "big", "title": "Big", "body": huge},
                           {"external_id": "small", "title": "Small", "body": "ok"}])
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["truncated"] is True
    assert body["truncated_rows"] == [0]
    assert [row["truncated"] for row in body["documents"]] == [True, False]
    big, small = documents(acme)
    assert len(big.body) == MAX_BODY_CHARS
    assert big.truncated
    assert not small.truncated
    assert big.tickers == ["ACME"]
    detail = acme.api().get(f"{URL}/{big.pk}").json()
    assert detail["truncated"] is True
    assert len(detail["body"]) == MAX_BODY_CHARS


def test_more_than_a_thousand_documents_is_a_400(acme: TenantSetup) -> None:
    rows = [{"external_id": str(i), "title": f"t{i}"} for i in range(1001)]
    response = post(acme, rows)
    assert response.status_code == 400
    error = response.json()["error"]
    assert "1000" in error["message"]
    assert "documents" in error["fields"]
    assert count(acme) == 0
    assert post(acme, rows[:1000]).status_code == 201
    assert count(acme) == 1000


@pytest.mark.parametrize("payload", [{}, {"documents": "x"}, {"documents": {"a": 1}}, [1, 2]])
def test_the_envelope_must_hold_a_list(acme: TenantSetup, payload: object) -> None:
    response = acme.api().post(URL, payload, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"documents": [
        "a list of documents is required"]}


def test_malformed_json_and_nul_characters(acme: TenantSetup) -> None:
    response = acme.api().post(URL, b'{"documents": [', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"
    # A NUL cannot be stored in PostgreSQL text: refused with the field named, nothing kept.
    refused = post(acme, [{"external_id": "nul", "title": "A\x00B", "body": "c"}])
    assert refused.status_code == 400
    assert "documents[0].title" in json.dumps(refused.json())
    assert documents(acme) == []


def test_csv_upload_same_rules(acme: TenantSetup) -> None:
    watch(acme, "NVDA", "Nvidia")
    data = (
        "title,body,published_at,url,external_id,tickers\n"
        "Nvidia soars,Record demand,2024-05-02T09:00:00+02:00,https://n.example.com/1,n1,"
        "AMD;INTC\n"
        '"Quoted, title",,"Thu, 02 May 2024 10:00:00 GMT",,n2,\n'
        "\n"
    ).encode("utf-8-sig")
    response = acme.api().post(f"{URL}/upload", {"file": SimpleUploadedFile("docs.csv", data)},
                               format="multipart")
    assert response.status_code == 201, response.content
    assert response.json()["created"] == 2
    first, second = documents(acme)
    assert first.tickers == ["AMD", "INTC", "NVDA"]
    assert first.published_at == datetime(2024, 5, 2, 7, 0, tzinfo=UTC)
    assert (second.title, second.source) == ("Quoted, title", "csv")
    assert second.published_at == datetime(2024, 5, 2, 10, 0, tzinfo=UTC)
    again = acme.api().post(f"{URL}/upload", {"file": SimpleUploadedFile("docs.csv", data)},
                            format="multipart")
    assert (again.status_code, again.json()["duplicates"]) == (200, 2)


@pytest.mark.parametrize(("data", "row", "field", "fragment"), [
    (b"title,published_at\nok,2024-01-01\nbad,31/12/2024\n", 2, "published_at", "not a date"),
    # Rows count as a spreadsheet shows them: the blank line is row 3.
    (b"title,body\nok,fine\n,\n\nx,y,z\n", 4, None, "cells"),
    (b"title,sentiment\nok,positive\n", 0, "sentiment", "unknown column"),
    (b"published_at,url\n2024-01-01,https://x.example.com\n", 0, None, "'title' or a 'body'"),
    (b"", 0, None, "empty"),
    (b"title\n", None, None, "no documents"),
    (b"title\n\xff\xfe\n", None, None, "not UTF-8"),
])
def test_a_bad_csv_is_refused_naming_row_and_column(
    acme: TenantSetup, data: bytes, row: int | None, field: str | None, fragment: str
) -> None:
    response = acme.api().post(f"{URL}/upload", {"file": SimpleUploadedFile("d.csv", data)},
                               format="multipart")
    assert response.status_code == 400, response.content
    problem = response.json()["error"]["problems"][0]
    assert (problem["row"], problem["column"]) == (row, field)
    assert fragment in problem["message"]
    assert count(acme) == 0


def test_csv_upload_needs_a_file(acme: TenantSetup) -> None:
    response = acme.api().post(f"{URL}/upload", {}, format="multipart")
    assert response.status_code == 400
    assert "file" in response.json()["error"]["fields"]


def test_a_scoring_job_is_scheduled_once_after_commit(
    acme: TenantSetup, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        post(acme, [{"external_id": "1", "title": "One"}])
    with django_capture_on_commit_callbacks(execute=True):
        post(acme, [{"external_id": "2", "title": "Two"}])
    with django_capture_on_commit_callbacks(execute=True):
        post(acme, [{"external_id": "2", "title": "Two"}])  # nothing new: no scheduling
    with tenant_context(acme.tenant.pk):
        jobs = list(Job.objects.filter(kind="score_documents"))
        assert len(jobs) == 1  # debounced: the first one is still queued
        assert (jobs[0].status, jobs[0].params["selection"]) == ("queued", "unscored")
        Job.objects.filter(pk=jobs[0].pk).update(status=Job.Status.RUNNING)
        # A running job may have read past new documents: a new one is queued behind it.
        second = scoring_schedule()
        assert second is not None
        assert second.pk != jobs[0].pk
        assert scoring_schedule() == second


def test_no_scoring_job_without_unscored_documents(acme: TenantSetup) -> None:
    with tenant_context(acme.tenant.pk):
        assert scoring_schedule() is None


def test_published_at_accepts_offsets_and_naive_means_utc(acme: TenantSetup) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    post(acme, [
        {"external_id": "a", "title": "a", "published_at": "2024-05-01T10:00:00-04:00"},
        {"external_id": "b", "title": "b", "published_at": "2024-05-01T10:00:00"},
        {"external_id": "c", "title": "c", "published_at": (now + timedelta(hours=2)).isoformat()},
    ])
    a, b, c = documents(acme)
    assert a.published_at == datetime(2024, 5, 1, 14, tzinfo=UTC)
    assert b.published_at == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert c.published_at == now + timedelta(hours=2)  # within the day of tolerance


def test_request_too_large_is_refused_before_parsing(acme: TenantSetup, settings) -> None:
    settings.DATASET_MAX_BYTES = 1024
    body = io.BytesIO(b"x" * (2 * 1024 * 1024))
    response = acme.api().generic("POST", URL, body.getvalue(), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "request_too_large"
