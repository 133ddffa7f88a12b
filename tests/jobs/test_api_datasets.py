"""``/api/v1/datasets``: uploads (file and JSON rows), refusals that name row and column and
store nothing, list, detail, download, delete; and the cross-tenant 404s."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.conf import settings

from accounts.services import api_key_create
from jobs.models import Dataset
from tenancy.context import tenant_context
from tests.conftest import TenantSetup, error_of
from tests.jobs.conftest import LABELLED_CSV, labelled_dataset

URL = "/api/v1/datasets"


@pytest.fixture(autouse=True)
def _media_root(settings: pytest.FixtureRequest, tmp_path: Path) -> None:
    # Each test counts the files it stores: a private MEDIA_ROOT keeps that exact.
    settings.MEDIA_ROOT = str(tmp_path / "media")


def stored_files() -> int:
    return sum(1 for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file())


def dataset_count(setup: TenantSetup) -> int:
    with tenant_context(setup.tenant.pk):
        return Dataset.objects.count()


def upload(setup: TenantSetup, data: bytes, filename: str = "train.csv",
           purpose: str = "labelled", **extra: str):
    file = io.BytesIO(data)
    file.name = filename
    return setup.api().post(URL, {"app": "finance_sentiment", "purpose": purpose, "file": file,
                                  **extra}, format="multipart")


def assert_refused(response, setup: TenantSetup) -> list[dict]:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_dataset"
    assert error["fields"] == {}
    assert error["problems"]
    assert dataset_count(setup) == 0
    assert stored_files() == 0
    return error["problems"]


def test_upload_csv_records_rows_labels_and_checksum(acme: TenantSetup) -> None:
    response = upload(acme, LABELLED_CSV, name="Q1 headlines")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Q1 headlines"
    assert body["format"] == "csv"
    assert body["row_count"] == 6
    assert body["label_counts"] == {"negative": 2, "neutral": 2, "positive": 2}
    assert body["columns"] == ["text", "label"]
    assert len(body["sha256"]) == 64
    assert stored_files() == 1
    download = acme.api().get(f"{URL}/{body['id']}/download")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == LABELLED_CSV
    assert "attachment" in download["Content-Disposition"]


def test_upload_jsonl_with_bom(acme: TenantSetup) -> None:
    data = "\ufeff" + "\n".join(json.dumps({"text": t}) for t in ("up", "down", "flat"))
    response = upload(acme, data.encode(), filename="texts.jsonl", purpose="texts")
    assert response.status_code == 201, response.content
    assert response.json()["format"] == "jsonl"
    assert response.json()["row_count"] == 3


def test_upload_json_rows(acme: TenantSetup) -> None:
    rows = [{"text": "Stocks rally", "label": "positive"},
            {"text": "Bonds slump", "label": "bearish"}]
    response = acme.api().post(URL, {"app": "finance_sentiment", "purpose": "labelled",
                                     "name": "from json", "rows": rows}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["format"], body["row_count"], body["name"]) == ("jsonl", 2, "from json")
    assert body["label_counts"] == {"negative": 1, "positive": 1}
    stored = acme.api().get(f"{URL}/{body['id']}/download")
    lines = b"".join(stored.streaming_content).decode().splitlines()
    assert [json.loads(line) for line in lines] == rows


def test_json_rows_with_a_bad_label_name_row_and_column(acme: TenantSetup) -> None:
    rows = [{"text": "fine", "label": "positive"}, {"text": "odd", "label": "sideways"}]
    response = acme.api().post(URL, {"app": "finance_sentiment", "purpose": "labelled",
                                     "rows": rows}, format="json")
    problems = assert_refused(response, acme)
    assert problems[0]["row"] == 2
    assert problems[0]["column"] == "label"
    assert "sideways" in problems[0]["message"]


@pytest.mark.parametrize(("data", "row", "column", "words"), [
    pytest.param(b"text,sentiment\nup,positive\n", 0, "label", "missing",
                 id="missing-column"),
    pytest.param(b"text,label\nup,positive\ndown,terrible\n", 2, "label", "terrible",
                 id="unknown-label"),
    pytest.param(b"text,label\n,positive\n", 1, "text", "required", id="empty-cell"),
    pytest.param("text,label\ncafé opens,positive\n".encode("latin-1"), None, None, "UTF-8",
                 id="latin-1"),
    pytest.param(b"", None, None, "empty", id="empty-file"),
    pytest.param(b"text,label\n", None, None, "no rows", id="header-only"),
])
def test_bad_datasets_are_refused_naming_where_and_store_nothing(
    acme: TenantSetup, data: bytes, row: int | None, column: str | None, words: str
) -> None:
    problems = assert_refused(upload(acme, data), acme)
    assert problems[0]["row"] == row
    assert problems[0]["column"] == column
    assert words in problems[0]["message"]


def test_latin_1_refusal_names_the_line(acme: TenantSetup) -> None:
    data = "text,label\ncafé opens,positive\n".encode("latin-1")
    problems = assert_refused(upload(acme, data), acme)
    assert "line 2" in problems[0]["message"]
    assert "0xE9" in problems[0]["message"]


def test_over_the_size_limit_names_the_limit(acme: TenantSetup, settings) -> None:
    settings.DATASET_MAX_BYTES = 100
    problems = assert_refused(upload(acme, LABELLED_CSV), acme)
    assert "limit is 100 bytes" in problems[0]["message"]
    rows = [{"text": "x" * 200, "label": "positive"}]
    response = acme.api().post(URL, {"app": "finance_sentiment", "purpose": "labelled",
                                     "rows": rows}, format="json")
    assert "limit is 100 bytes" in assert_refused(response, acme)[0]["message"]


def test_a_request_far_over_the_limit_is_refused_before_it_is_read(
    acme: TenantSetup, settings
) -> None:
    settings.DATASET_MAX_BYTES = 1000
    big = b"text,label\n" + b"a long headline,positive\n" * 4000  # ~100 kB
    problems = assert_refused(upload(acme, big), acme)
    assert "limit is 1000 bytes" in problems[0]["message"]


def test_djangos_request_size_limits_do_not_apply_to_datasets(
    acme: TenantSetup, settings
) -> None:
    # Datasets are bounded by DATASET_MAX_BYTES, not by Django's 2.5 MB form-data defaults.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    rows = [{"text": f"headline number {n} about markets", "label": "neutral"}
            for n in range(300)]
    response = acme.api().post(URL, {"app": "finance_sentiment", "purpose": "labelled",
                                     "rows": rows}, format="json")
    assert response.status_code == 201, response.content
    big_csv = b"text,label\n" + b"a headline about markets,neutral\n" * 300
    response = upload(acme, big_csv)
    assert response.status_code == 201, response.content
    assert response.json()["row_count"] == 300


@pytest.mark.parametrize(("body", "field"), [
    ({"purpose": "labelled", "rows": [{"text": "a", "label": "positive"}]}, "app"),
    ({"app": "astrology", "purpose": "labelled", "rows": []}, "app"),
    ({"app": "finance_sentiment", "purpose": "horoscopes", "rows": [{"text": "a"}]}, "purpose"),
    ({"app": "finance_sentiment", "purpose": "labelled"}, "rows"),
    ({"app": "finance_sentiment", "purpose": "labelled", "rows": "text,label"}, "rows"),
    ({"app": "finance_sentiment", "purpose": "labelled", "rows": [1, 2]}, "rows"),
])
def test_bad_requests_name_the_field(acme: TenantSetup, body: dict, field: str) -> None:
    response = acme.api().post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert dataset_count(acme) == 0


def test_malformed_json_and_wrong_media_type_use_the_error_format(acme: TenantSetup) -> None:
    response = acme.api().post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"
    response = acme.api().post(URL, "app=finance_sentiment",
                               content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    response = acme.api().post(URL, {"app": "finance_sentiment", "purpose": "labelled"},
                               format="multipart")
    assert response.status_code == 400
    assert "file" in response.json()["error"]["fields"]


def test_list_filters_and_detail(acme: TenantSetup) -> None:
    labelled = labelled_dataset(acme)
    texts = upload(acme, b"text\nup\n", filename="t.csv", purpose="texts").json()
    ids = [row["id"] for row in acme.api().get(URL).json()["results"]]
    assert ids == [texts["id"], labelled.pk]
    filtered = acme.api().get(URL, {"purpose": "texts"}).json()["results"]
    assert [row["id"] for row in filtered] == [texts["id"]]
    assert acme.api().get(URL, {"app": "finance_sentiment"}).json()["results"]
    bad = acme.api().get(URL, {"app": "astrology"})
    assert bad.status_code == 400
    assert "app" in bad.json()["error"]["fields"]
    detail = acme.api().get(f"{URL}/{labelled.pk}").json()
    assert detail["row_count"] == 6


def test_delete_unused_dataset_removes_row_and_file(
    acme: TenantSetup, django_capture_on_commit_callbacks
) -> None:
    created = upload(acme, LABELLED_CSV).json()
    assert stored_files() == 1
    with django_capture_on_commit_callbacks(execute=True):
        response = acme.api().delete(f"{URL}/{created['id']}")
    assert response.status_code == 204
    assert dataset_count(acme) == 0
    assert stored_files() == 0
    assert acme.api().get(f"{URL}/{created['id']}").status_code == 404


def test_delete_a_dataset_used_by_a_job_is_a_conflict(acme: TenantSetup) -> None:
    dataset = labelled_dataset(acme)
    acme.api().post("/api/v1/jobs", {"app": "finance_sentiment", "kind": "fine_tune",
                                     "dataset": dataset.pk}, format="json")
    response = acme.api().delete(f"{URL}/{dataset.pk}")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert dataset_count(acme) == 1


def test_read_only_key_cannot_upload_or_delete(acme: TenantSetup) -> None:
    dataset = labelled_dataset(acme)
    with tenant_context(acme.tenant.pk):
        reader = api_key_create(name="reader", scopes=["read"], created_by_id=None).raw_key
    assert acme.api(reader).get(URL).status_code == 200
    file = io.BytesIO(LABELLED_CSV)
    file.name = "x.csv"
    response = acme.api(reader).post(URL, {"app": "finance_sentiment", "purpose": "labelled",
                                           "file": file}, format="multipart")
    assert response.status_code == 403
    assert acme.api(reader).delete(f"{URL}/{dataset.pk}").status_code == 403
    assert dataset_count(acme) == 1


def test_bad_ids_are_404_in_the_error_format(acme: TenantSetup) -> None:
    for url in (f"{URL}/abc", f"{URL}/99999999999999999999999", f"{URL}/999999",
                f"{URL}/abc/download"):
        response = acme.api().get(url)
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "not_found"


def test_other_tenant_cannot_read_download_or_delete_a_dataset(
    acme: TenantSetup, globex: TenantSetup
) -> None:
    dataset = labelled_dataset(acme)
    intruder = globex.api()
    url = f"{URL}/{dataset.pk}"
    assert intruder.get(URL).json()["results"] == []
    for response in (intruder.get(url), intruder.get(f"{url}/download"), intruder.delete(url)):
        assert response.status_code == 404
    assert error_of(intruder.get(url)) == error_of(intruder.get(f"{URL}/999999"))
    # Nor can it run a job on it.
    response = intruder.post("/api/v1/jobs", {"app": "finance_sentiment", "kind": "fine_tune",
                                              "dataset": dataset.pk}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"dataset": ["not found"]}
    with tenant_context(acme.tenant.pk):
        assert Dataset.objects.filter(pk=dataset.pk).exists()
    assert stored_files() == 1
