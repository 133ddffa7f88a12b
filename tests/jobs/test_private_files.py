"""Uploaded datasets and model artefacts are never reachable by URL, in any mode: no media
route exists, and the only way to read one is a download view, which checks the tenant (another
tenant's file is the same 404 as a missing one) and needs a signed-in member or an API key."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import clear_url_caches, reverse
from rest_framework.test import APIClient

from tests.conftest import TenantSetup, error_of
from tests.jobs.conftest import LABELLED_CSV, labelled_dataset
from tests.jobs.test_api_models import make_version


@pytest.fixture(autouse=True)
def _media_root(settings: pytest.FixtureRequest, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture(params=[False, True], ids=["debug-off", "debug-on"])
def mode(request: pytest.FixtureRequest, settings) -> Iterator[bool]:  # noqa: ANN001
    """Both modes, with the URLconf built under each (a route added only under DEBUG, as
    Django's ``static()`` helper does, would show up here)."""
    import config.urls

    settings.DEBUG = request.param
    importlib.reload(config.urls)
    clear_url_caches()
    yield request.param
    settings.DEBUG = False
    importlib.reload(config.urls)
    clear_url_caches()


def _media_url(name: str) -> str:
    return settings.MEDIA_URL + name


@pytest.mark.usefixtures("mode")
def test_a_stored_dataset_has_no_public_url(acme: TenantSetup) -> None:
    dataset = labelled_dataset(acme)
    stored = Path(settings.MEDIA_ROOT) / dataset.file.name
    assert stored.read_bytes() == LABELLED_CSV  # the file is really there
    url = _media_url(dataset.file.name)
    for client in (Client(), acme.browser(), acme.api()):
        response = client.get(url)
        assert response.status_code == 404, url
        assert LABELLED_CSV not in response.content


@pytest.mark.usefixtures("mode")
def test_a_stored_model_artefact_has_no_public_url(acme: TenantSetup) -> None:
    version = make_version(acme, 1)
    assert (Path(settings.MEDIA_ROOT) / version.artifact.name).is_file()
    for client in (Client(), acme.browser(), acme.api()):
        response = client.get(_media_url(version.artifact.name))
        assert response.status_code == 404
        assert b"adapter-v1" not in response.content


def _download_urls(setup: TenantSetup) -> dict[str, tuple[str, bytes]]:
    dataset = labelled_dataset(setup)
    version = make_version(setup, 7)
    return {
        "dataset": (reverse("api:dataset-download", args=[dataset.pk]), LABELLED_CSV),
        "artefact": (reverse("api:model-version-download", args=[version.pk]), b"adapter-v7"),
    }


def test_downloads_refuse_anonymous_callers(acme: TenantSetup) -> None:
    for url, content in _download_urls(acme).values():
        for client in (Client(), APIClient()):
            response = client.get(url)
            assert response.status_code == 401, url
            assert response.json()["error"]["code"] == "not_authenticated"
            assert content not in response.content
        bad_key = APIClient(HTTP_AUTHORIZATION="Bearer not-a-key")
        assert bad_key.get(url).status_code == 401


def test_downloads_are_404_for_another_tenant(acme: TenantSetup, globex: TenantSetup) -> None:
    for kind, (url, content) in _download_urls(acme).items():
        missing = url.replace(url.split("/")[-2], "999999")
        for intruder in (globex.api(), globex.browser()):
            response = intruder.get(url)
            assert response.status_code == 404, kind
            assert content not in response.content
            assert error_of(response) == error_of(intruder.get(missing))


def test_downloads_serve_the_tenants_members_and_keys(acme: TenantSetup) -> None:
    viewer = acme.add_member(role="viewer")
    viewer_browser = Client()
    viewer_browser.force_login(viewer.user)
    for url, content in _download_urls(acme).values():
        for client in (acme.api(), acme.browser(), viewer_browser):
            response = client.get(url)
            assert response.status_code == 200, url
            assert b"".join(response.streaming_content) == content
            assert "attachment" in response["Content-Disposition"]
