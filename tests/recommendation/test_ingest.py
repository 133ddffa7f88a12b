"""Ingestion: item and user upserts, event batches (idempotent on the client's event id,
unknown users as stubs, unknown items refused), CSV uploads; bad input is a 400 naming the
row and field, and nothing is stored."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from apps.recommendation.models import EndUser, Interaction, Item
from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from tests.recommendation.conftest import add_items, item_row


def _counts(setup: TenantSetup) -> tuple[int, int, int]:
    with tenant_context(setup.tenant.pk):
        return Item.objects.count(), EndUser.objects.count(), Interaction.objects.count()


def test_items_are_created_then_updated_by_external_id(acme: TenantSetup) -> None:
    api = acme.api()
    first = api.post("/api/v1/items", {"items": [
        item_row("b1", "Dune", ["Science-Fiction", "classics"], attributes={"year": 1965}),
        item_row("b2", "Emma", available=False)]}, format="json")
    assert first.status_code == 200, first.json()
    assert first.json() == {"created": 2, "updated": 0}
    again = api.post("/api/v1/items", {"items": [item_row("b1", "Dune (new edition)")]},
                     format="json")
    assert again.json() == {"created": 0, "updated": 1}
    detail = api.get("/api/v1/items/b1").json()
    assert detail["title"] == "Dune (new edition)"
    assert detail["categories"] == ["fiction"]
    emma = api.get("/api/v1/items/b2").json()
    assert emma["available"] is False
    listed = api.get("/api/v1/items", {"available": "false"}).json()["results"]
    assert [row["external_id"] for row in listed] == ["b2"]


def test_duplicate_external_ids_in_one_batch_are_refused(acme: TenantSetup) -> None:
    response = acme.api().post("/api/v1/items", {"items": [
        item_row("b1"), item_row("b2"), item_row("b1")]}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_rows"
    assert "items[2].external_id" in error["fields"]
    assert "repeats row 0" in error["fields"]["items[2].external_id"][0]
    assert _counts(acme) == (0, 0, 0)


def test_item_rows_name_each_bad_field(acme: TenantSetup) -> None:
    response = acme.api().post("/api/v1/items", {"items": [
        {"external_id": "b1"}, {"external_id": "b2", "title": "T", "categories": "x" * 5000,
                                "colour": "red"}]}, format="json")
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert fields["items[0].title"] == ["is required"]
    assert "items[1].colour" in fields
    assert _counts(acme)[0] == 0


def test_events_store_once_per_event_id_and_create_stub_users(acme: TenantSetup) -> None:
    add_items(acme, [item_row("b1"), item_row("b2")])
    batch = {"events": [
        {"event_id": "e1", "user": "u1", "item": "b1", "kind": "view"},
        {"event_id": "e2", "user": "u1", "item": "b2", "kind": "rating", "value": 4.5,
         "occurred_at": "2026-01-05T10:00:00Z"},
        {"event_id": "e3", "user": "u2", "item": "b1", "kind": "PURCHASE"}]}
    first = acme.api().post("/api/v1/events", batch, format="json")
    assert first.status_code == 201, first.json()
    assert first.json() == {"created": 3, "duplicates": 0, "users_created": 2}
    second = acme.api().post("/api/v1/events", batch, format="json")
    assert second.status_code == 200
    assert second.json() == {"created": 0, "duplicates": 3, "users_created": 0}
    assert _counts(acme) == (2, 2, 3)
    with tenant_context(acme.tenant.pk):
        assert set(EndUser.objects.values_list("is_stub", flat=True)) == {True}
        rating = Interaction.objects.get(event_id="e2")
        assert (rating.kind, rating.value, rating.occurred_at.day) == ("rating", 4.5, 5)
    # Sending the user's record turns the stub into a full user.
    acme.api().post("/api/v1/end-users", {"users": [{"external_id": "u1",
                                                     "attributes": {"plan": "gold"}}]},
                    format="json")
    user = acme.api().get("/api/v1/end-users/u1").json()
    assert (user["is_stub"], user["attributes"]) == (False, {"plan": "gold"})


def test_an_unknown_item_refuses_the_whole_batch(acme: TenantSetup) -> None:
    add_items(acme, [item_row("b1")])
    response = acme.api().post("/api/v1/events", {"events": [
        {"event_id": "e1", "user": "u1", "item": "b1", "kind": "view"},
        {"event_id": "e2", "user": "u1", "item": "nope", "kind": "view"}]}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert "unknown item 'nope'" in error["fields"]["events[1].item"][0]
    assert error["problems"] == [{"row": 1, "column": "item",
                                  "message": error["fields"]["events[1].item"][0]}]
    assert _counts(acme) == (1, 0, 0)


def test_bad_event_values_are_refused(acme: TenantSetup) -> None:
    add_items(acme, [item_row("b1")])
    response = acme.api().post("/api/v1/events", {"events": [
        {"event_id": "e1", "user": "u1", "item": "b1", "kind": "rating", "value": -1},
        {"event_id": "e2", "user": "u1", "item": "b1", "kind": "rating", "value": 7},
        {"event_id": "e3", "user": "u1", "item": "b1", "kind": "like"},
        {"event_id": "e4", "user": "u1", "item": "b1", "kind": "view",
         "occurred_at": "yesterday"},
        {"event_id": "e1", "user": "u1", "item": "b1", "kind": "view"},
        {"event_id": "e6", "user": "u1", "item": "b1", "kind": "rating"}]}, format="json")
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert fields["events[0].value"] == ["must be a number of at least 0"]
    assert "at most 5 stars" in fields["events[1].value"][0]
    assert "'like' is not one of" in fields["events[2].kind"][0]
    assert "events[3].occurred_at" in fields
    assert "repeats row 0" in fields["events[4].event_id"][0]
    assert "needs a value" in fields["events[5].value"][0]
    assert _counts(acme) == (1, 0, 0)


def test_more_than_5000_events_in_one_request_is_refused(acme: TenantSetup) -> None:
    add_items(acme, [item_row("b1")])
    events = [{"event_id": f"e{i}", "user": "u1", "item": "b1", "kind": "view"}
              for i in range(5001)]
    response = acme.api().post("/api/v1/events", {"events": events}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "batch_too_large"
    assert "events" in response.json()["error"]["fields"]
    assert _counts(acme) == (1, 0, 0)
    accepted = acme.api().post("/api/v1/events", {"events": events[:5000]}, format="json")
    assert accepted.json()["created"] == 5000


def test_csv_uploads_all_or_nothing(acme: TenantSetup) -> None:
    api = acme.api()
    items_csv = (b"external_id,title,categories,available\n"
                 b"b1,Dune,science-fiction|classics,true\nb2,Emma,romance,false\n")
    response = api.post("/api/v1/items/upload",
                        {"file": SimpleUploadedFile("items.csv", items_csv)}, format="multipart")
    assert response.json() == {"created": 2, "updated": 0}
    assert api.get("/api/v1/items/b1").json()["categories"] == ["science-fiction", "classics"]

    bad = (b"event_id,user,item,kind,value\n"
           b"e1,u1,b1,rating,5\ne2,u1,b9,view,\ne3,u2,b2,rating,-2\n")
    refused = api.post("/api/v1/events/upload", {"file": SimpleUploadedFile("e.csv", bad)},
                       format="multipart")
    assert refused.status_code == 400
    problems = {(p["row"], p["column"]) for p in refused.json()["error"]["problems"]}
    assert problems == {(2, "item"), (3, "value")}
    assert _counts(acme) == (2, 0, 0)

    latin1 = "event_id,user,item,kind\ne1,Jos\xe9,b1,view\n".encode("latin-1")
    refused = api.post("/api/v1/events/upload", {"file": SimpleUploadedFile("e.csv", latin1)},
                       format="multipart")
    assert refused.status_code == 400
    assert "not UTF-8" in refused.json()["error"]["message"]

    good = b"event_id,user,item,kind,value\ne1,u1,b1,rating,5\ne2,u1,b2,view,\n"
    stored = api.post("/api/v1/events/upload", {"file": SimpleUploadedFile("e.csv", good)},
                      format="multipart")
    assert stored.status_code == 201
    assert stored.json() == {"created": 2, "duplicates": 0, "users_created": 1}


def test_deleting_an_item_removes_its_events(acme: TenantSetup) -> None:
    add_items(acme, [item_row("b1"), item_row("b2")])
    acme.api().post("/api/v1/events", {"events": [
        {"event_id": "e1", "user": "u1", "item": "b1", "kind": "view"},
        {"event_id": "e2", "user": "u1", "item": "b2", "kind": "view"}]}, format="json")
    assert acme.api().delete("/api/v1/items/b1").status_code == 204
    assert acme.api().get("/api/v1/items/b1").status_code == 404
    assert _counts(acme) == (1, 1, 1)
