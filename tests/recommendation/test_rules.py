"""Merchandising rules: pins at their slot, item and category boosts (a category's share of
the slots, topped up from its popular items), exclusions and consumed items winning over pins,
the reasons of each placed entry; the API's validation (400 naming the field) and another
tenant's rules (404, nothing changes), through the API and the dashboard page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.recommendation.models import Impression, Item
from apps.recommendation.rules.models import MerchandisingRule
from apps.recommendation.services import item_popularity_record
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.conftest import TenantSetup
from tests.recommendation.conftest import add_events, add_items, item_row, precompute

RULES = "/api/v1/recommendations/rules"
USER = "reader"


@pytest.fixture
def catalogue(acme: TenantSetup) -> dict[str, Item]:
    rows = [item_row(f"sf-{n}", f"Space {n}", ["science-fiction"]) for n in range(1, 9)]
    rows += [item_row(f"fan-{n}", f"Dragons {n}", ["fantasy"]) for n in range(1, 5)]
    rows += [item_row("seen", "Read already", ["crime"]), item_row("gone", "Sold out",
                                                                   ["crime"], available=False)]
    items = add_items(acme, rows)
    add_events(acme, [(USER, "seen", "purchase")])
    with tenant_context(acme.tenant.pk):
        item_popularity_record(popularity={items["fan-3"].pk: 5.0, items["fan-4"].pk: 4.0,
                                           items["sf-8"].pk: 1.0})
    # The user's list: science fiction only, then fan-1 far down.
    precompute(acme, {USER: [*(f"sf-{n}" for n in range(1, 8)), "fan-1"]})
    return items


def _rule(setup: TenantSetup, **body: Any) -> Any:
    return setup.api().post(RULES, body, format="json")


def _served(setup: TenantSetup, **query: Any) -> list[dict[str, Any]]:
    response = setup.api().get(f"/api/v1/recommendations/users/{USER}", {"k": 5, **query})
    assert response.status_code == 200, response.json()
    return response.json()["items"]


def test_a_pinned_item_is_served_at_its_slot_with_its_reason(
        acme: TenantSetup, catalogue: dict[str, Item]) -> None:
    before = _served(acme)
    assert [entry["item"] for entry in before] == ["sf-1", "sf-2", "sf-3", "sf-4", "sf-5"]
    assert all(entry["reasons"] == [] for entry in before)
    created = _rule(acme, kind="pin", item="fan-2", slot=2)
    assert created.status_code == 201, created.json()
    assert (created.json()["item"], created.json()["slot"]) == ("fan-2", 2)
    served = _served(acme)
    assert [entry["item"] for entry in served] == ["sf-1", "fan-2", "sf-2", "sf-3", "sf-4"]
    assert served[1]["reasons"] == ["Pinned at slot 2"]
    assert served[1]["source"] == "rule"
    # An item already in the list moves to its slot.
    _rule(acme, kind="pin", item="sf-4", slot=1)
    served = _served(acme)
    assert [entry["item"] for entry in served][:3] == ["sf-4", "fan-2", "sf-1"]
    assert served[0]["reasons"] == ["Pinned at slot 1"]
    assert served[0]["reason"] == "Because you liked “reader”"
    # The impressions keep the list's own source, not the rule's.
    with tenant_context(acme.tenant.pk):
        assert set(Impression.objects.values_list("source", flat=True)) == {"precomputed"}


def test_excluded_consumed_and_unavailable_pins_never_appear(
        acme: TenantSetup, catalogue: dict[str, Item]) -> None:
    for slot, item in ((1, "fan-2"), (2, "seen"), (3, "gone")):
        assert _rule(acme, kind="pin", item=item, slot=slot).status_code == 201
    served = [entry["item"] for entry in _served(acme, exclude=["fan-2", "sf-1"])]
    assert served == ["sf-2", "sf-3", "sf-4", "sf-5", "sf-6"]
    assert "fan-2" in [entry["item"] for entry in _served(acme)]


def test_a_category_boost_gets_its_share_of_the_slots(
        acme: TenantSetup, catalogue: dict[str, Item]) -> None:
    created = _rule(acme, kind="boost", category="Fantasy", share=0.4)
    assert created.status_code == 201, created.json()
    served = _served(acme)
    # Two of five slots: fan-1 pulled up from further down the candidates, and the most
    # popular fantasy item that was no candidate.
    assert [entry["item"] for entry in served] == ["fan-1", "fan-3", "sf-1", "sf-2", "sf-3"]
    assert served[0]["reasons"] == served[1]["reasons"] == ["Boosted: category Fantasy"]
    assert served[2]["reasons"] == []
    # A pin is placed last, over the boost; an item boost moves its item up.
    _rule(acme, kind="pin", item="sf-7", slot=1)
    _rule(acme, kind="boost", item="sf-5")
    served = _served(acme)
    assert [entry["item"] for entry in served] == ["sf-7", "sf-5", "fan-1", "fan-3", "sf-1"]
    assert served[1]["reasons"] == ["Boosted: item sf-5"]


def test_inactive_and_scheduled_rules_wait(acme: TenantSetup,
                                           catalogue: dict[str, Item]) -> None:
    later = (timezone.now() + timedelta(days=1)).isoformat()
    assert _rule(acme, kind="pin", item="fan-2", slot=2, starts_at=later).status_code == 201
    rule = _rule(acme, kind="pin", item="fan-4", slot=1, active=False).json()
    assert [entry["item"] for entry in _served(acme)][:2] == ["sf-1", "sf-2"]
    changed = acme.api().patch(f"{RULES}/{rule['id']}", {"active": True}, format="json")
    assert changed.status_code == 200, changed.json()
    assert _served(acme)[0]["item"] == "fan-4"


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "pin", "item": "nope", "slot": 1}, "item"),
    ({"kind": "boost", "item": "nope"}, "item"),
    ({"kind": "pin", "item": "fan-1"}, "slot"),
    ({"kind": "pin", "item": "fan-1", "slot": 0}, "slot"),
    ({"kind": "pin", "item": "fan-1", "slot": 101}, "slot"),
    ({"kind": "boost", "category": "fantasy", "share": 0.01}, "share"),
    ({"kind": "boost", "category": "fantasy", "share": 1.5}, "share"),
    ({"kind": "boost", "item": "fan-1", "category": "fantasy"}, "category"),
    ({"kind": "boost"}, "item"),
    ({"kind": "pin", "category": "fantasy", "slot": 1}, "item"),
    ({"kind": "shout", "item": "fan-1"}, "kind"),
])
def test_bad_rules_are_refused_naming_the_field(acme: TenantSetup, catalogue: dict[str, Item],
                                                body: dict[str, Any], field: str) -> None:
    response = _rule(acme, **body)
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]
    with tenant_context(acme.tenant.pk):
        assert not MerchandisingRule.objects.exists()


def test_two_pins_on_one_slot_are_refused(acme: TenantSetup,
                                          catalogue: dict[str, Item]) -> None:
    assert _rule(acme, kind="pin", item="fan-1", slot=3).status_code == 201
    second = _rule(acme, kind="pin", item="fan-2", slot=3)
    assert second.status_code == 400
    assert "slot" in second.json()["error"]["fields"]
    # A paused pin may share the slot.
    assert _rule(acme, kind="pin", item="fan-2", slot=3, active=False).status_code == 201


def test_another_tenants_rules_are_404_and_unchanged(
        acme: TenantSetup, globex: TenantSetup, catalogue: dict[str, Item]) -> None:
    rule = _rule(acme, kind="pin", item="fan-2", slot=2).json()
    other = globex.api()
    url = f"{RULES}/{rule['id']}"
    assert other.get(url).status_code == 404
    assert other.patch(url, {"slot": 5}, format="json").status_code == 404
    assert other.put(url, {"kind": "pin", "item": "fan-2", "slot": 5},
                     format="json").status_code == 404
    assert other.delete(url).status_code == 404
    assert other.get(RULES).json()["results"] == []
    assert len(acme.api().get(RULES).json()["results"]) == 1
    # acme's items are unknown to globex.
    assert _rule(globex, kind="pin", item="fan-2", slot=1).status_code == 400
    with tenant_context(acme.tenant.pk):
        stored = MerchandisingRule.objects.get()
        assert (stored.slot, stored.item_id) == (2, catalogue["fan-2"].pk)
    # globex's lists do not see acme's pins.
    add_items(globex, [item_row("g-1", "Globex book")])
    served = globex.api().get(f"/api/v1/recommendations/users/{USER}").json()["items"]
    assert [entry["item"] for entry in served] == ["g-1"]
    assert acme.api().get(url).json()["slot"] == 2


def test_the_rules_page_adds_lists_and_deletes(acme: TenantSetup,
                                               catalogue: dict[str, Item]) -> None:
    browser = acme.browser()
    page = browser.get(reverse("recs:rules"))
    assert page.status_code == 200
    assert "Add a rule" in page.content.decode()
    added = browser.post(reverse("recs:rules"), {"kind": "pin", "item": "fan-2", "slot": 1})
    assert added.status_code == 302
    refused = browser.post(reverse("recs:rules"), {"kind": "pin", "item": "nope", "slot": 2})
    assert refused.status_code == 400
    assert "unknown item" in refused.content.decode()
    html = browser.get(reverse("recs:rules")).content.decode()
    assert 'data-testid="rules"' in html
    assert "fan-2" in html
    preview = browser.get(reverse("recs:preview"), {"user": USER}).content.decode()
    assert "Pinned at slot 1" in preview
    with tenant_context(acme.tenant.pk):
        rule = MerchandisingRule.objects.get()
    viewer = acme.browser()
    viewer.force_login(acme.add_member(Role.VIEWER).user)
    assert viewer.get(reverse("recs:rules")).status_code == 200
    assert viewer.post(reverse("recs:rule_delete", args=[rule.pk])).status_code == 403
    assert browser.post(reverse("recs:rule_delete", args=[rule.pk])).status_code == 302
    with tenant_context(acme.tenant.pk):
        assert not MerchandisingRule.objects.exists()


def test_another_tenants_rule_pages_are_404(acme: TenantSetup, globex: TenantSetup,
                                            catalogue: dict[str, Item]) -> None:
    rule = _rule(acme, kind="pin", item="fan-2", slot=2).json()
    browser = globex.browser()
    assert browser.post(reverse("recs:rule_delete", args=[rule["id"]])).status_code == 404
    assert "fan-2" not in browser.get(reverse("recs:rules")).content.decode()
    refused = browser.post(reverse("recs:rules"), {"kind": "pin", "item": "fan-2", "slot": 1})
    assert refused.status_code == 400
    with tenant_context(acme.tenant.pk):
        assert MerchandisingRule.objects.count() == 1
    with tenant_context(globex.tenant.pk):
        assert not MerchandisingRule.objects.exists()
