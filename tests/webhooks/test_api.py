"""``/api/v1/webhooks``: endpoints (secret shown once, rotate), private URLs refused unless
allowed, the delivery log; admin scope to change; and the cross-tenant 404s."""

from __future__ import annotations

import pytest

from accounts.services import api_key_create
from tenancy.context import tenant_context
from tests.conftest import TenantSetup, error_of
from webhooks.models import WebhookDelivery, WebhookEndpoint

URL = "/api/v1/webhooks"
LOOPBACK = "http://127.0.0.1:9/hook"


@pytest.fixture
def allow_private(settings: pytest.FixtureRequest) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True


def create(setup: TenantSetup, **body):
    return setup.api().post(URL, {"url": LOOPBACK, "events": ["job.succeeded"], **body},
                            format="json")


def stored(setup: TenantSetup, endpoint_id: int) -> WebhookEndpoint:
    with tenant_context(setup.tenant.pk):
        return WebhookEndpoint.objects.get(pk=endpoint_id)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/hook",
    "https://127.0.0.1/hook",
    "https://10.1.2.3/hook",
    "https://[::1]/hook",
    "https://169.254.169.254/latest/meta-data",
])
def test_private_and_loopback_urls_are_refused(acme: TenantSetup, url: str) -> None:
    response = acme.api().post(URL, {"url": url}, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert list(error["fields"]) == ["url"]
    with tenant_context(acme.tenant.pk):
        assert not WebhookEndpoint.objects.exists()


def test_create_shows_the_secret_once(acme: TenantSetup, allow_private: None) -> None:
    response = create(acme, description="CI")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert body["events"] == ["job.succeeded"]
    assert body["is_active"] is True
    assert stored(acme, body["id"]).secret == body["secret"]
    assert "secret" not in acme.api().get(f"{URL}/{body['id']}").json()
    assert all("secret" not in row for row in acme.api().get(URL).json()["results"])


@pytest.mark.parametrize(("body", "field"), [
    ({"events": ["job.exploded"]}, "events"),
    ({"events": "job.succeeded"}, "events"),
    ({"url": "not a url"}, "url"),
    ({"url": "ftp://127.0.0.1/hook"}, "url"),
    ({"url": None}, "url"),
])
def test_bad_input_names_the_field(acme: TenantSetup, allow_private: None, body: dict,
                                   field: str) -> None:
    response = create(acme, **body)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_update_checks_the_url_again(acme: TenantSetup, settings) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    endpoint_id = create(acme).json()["id"]
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = False
    refused = acme.api().patch(f"{URL}/{endpoint_id}", {"url": "https://10.0.0.1/x"},
                               format="json")
    assert refused.status_code == 400
    assert "url" in refused.json()["error"]["fields"]
    assert stored(acme, endpoint_id).url == LOOPBACK
    # Other settings change without re-checking the URL already registered.
    patched = acme.api().patch(f"{URL}/{endpoint_id}",
                               {"is_active": False, "events": ["job.failed", "job.failed"]},
                               format="json")
    assert patched.status_code == 200, patched.content
    assert patched.json()["events"] == ["job.failed"]
    assert "secret" not in patched.json()
    endpoint = stored(acme, endpoint_id)
    assert (endpoint.is_active, endpoint.events, endpoint.url) == (False, ["job.failed"],
                                                                   LOOPBACK)
    settings.WEBHOOKS_ALLOW_PRIVATE_URLS = True
    replaced = acme.api().put(f"{URL}/{endpoint_id}", {"url": "http://127.0.0.1:10/new"},
                              format="json")
    assert replaced.status_code == 200
    assert replaced.json()["events"] == []
    assert replaced.json()["is_active"] is True


def test_rotate_secret(acme: TenantSetup, allow_private: None) -> None:
    created = create(acme).json()
    rotated = acme.api().post(f"{URL}/{created['id']}/rotate-secret")
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_")
    assert new_secret != created["secret"]
    assert stored(acme, created["id"]).secret == new_secret


def test_delivery_log(acme: TenantSetup, allow_private: None) -> None:
    endpoint_id = create(acme).json()["id"]
    with tenant_context(acme.tenant.pk):
        endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
        for n in range(3):
            WebhookDelivery.objects.create(endpoint=endpoint, event="job.succeeded",
                                           payload={"id": n}, attempts=n,
                                           status=WebhookDelivery.Status.FAILED)
    response = acme.api().get(f"{URL}/{endpoint_id}/deliveries")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["payload"]["id"] for row in rows] == [2, 1, 0]
    assert rows[0]["status"] == "failed"


def test_delete(acme: TenantSetup, allow_private: None) -> None:
    endpoint_id = create(acme).json()["id"]
    assert acme.api().delete(f"{URL}/{endpoint_id}").status_code == 204
    assert acme.api().get(f"{URL}/{endpoint_id}").status_code == 404


def test_changing_webhooks_needs_the_admin_scope(acme: TenantSetup, allow_private: None) -> None:
    endpoint_id = create(acme).json()["id"]
    with tenant_context(acme.tenant.pk):
        writer = api_key_create(name="ci", scopes=["write"], created_by_id=None).raw_key
    client = acme.api(writer)
    assert client.get(URL).status_code == 200
    assert client.get(f"{URL}/{endpoint_id}/deliveries").status_code == 200
    for response in (
        client.post(URL, {"url": LOOPBACK}, format="json"),
        client.patch(f"{URL}/{endpoint_id}", {"url": LOOPBACK}, format="json"),
        client.post(f"{URL}/{endpoint_id}/rotate-secret"),
        client.delete(f"{URL}/{endpoint_id}"),
    ):
        assert response.status_code == 403
    with tenant_context(acme.tenant.pk):
        assert WebhookEndpoint.objects.count() == 1


def test_other_tenant_cannot_read_change_rotate_or_delete_a_webhook(
    acme: TenantSetup, globex: TenantSetup, allow_private: None
) -> None:
    created = create(acme).json()
    url = f"{URL}/{created['id']}"
    intruder = globex.api()
    assert intruder.get(URL).json()["results"] == []
    for response in (
        intruder.get(url),
        intruder.get(f"{url}/deliveries"),
        intruder.patch(url, {"url": "http://127.0.0.1:1/evil"}, format="json"),
        intruder.put(url, {"url": "http://127.0.0.1:1/evil"}, format="json"),
        intruder.post(f"{url}/rotate-secret"),
        intruder.delete(url),
    ):
        assert response.status_code == 404, response.content
    assert error_of(intruder.get(url)) == error_of(intruder.get(f"{URL}/999999"))
    endpoint = stored(acme, created["id"])
    assert (endpoint.url, endpoint.secret, endpoint.is_active) == (
        LOOPBACK, created["secret"], True)
