"""The experiment pages (list with the start form, detail with the per-arm table, the
intervals chart and the call, stop and promote by role) and the CSV upload page (the API's
validation, the datasets page's problem table, all or nothing), with their cross-tenant
cases: another tenant's experiment is a 404 and nothing of it changes."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.recommendation.experiments.models import Experiment
from apps.recommendation.models import Interaction, Item
from jobs.models import ModelVersion
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.conftest import TenantSetup
from tests.recommendation.conftest import add_events, add_items, item_row
from tests.recommendation.test_experiments import make_version


@pytest.fixture
def versions(acme: TenantSetup) -> list[ModelVersion]:
    add_items(acme, [item_row("b1", "Dune")])
    add_events(acme, [("reader", "b1", "view")])
    return [make_version(acme, 1, active=True), make_version(acme, 2)]


def _start(setup: TenantSetup, **fields: Any) -> Any:
    return setup.browser().post(reverse("recs:experiments"), {
        "name": "v2 against v1", "arm_a": "1", "arm_b": "2", "traffic_b": 30,
        "metric": "ctr", **fields})


def test_start_an_experiment_and_read_its_page(acme: TenantSetup,
                                               versions: list[ModelVersion]) -> None:
    listing = acme.browser().get(reverse("recs:experiments"))
    assert listing.status_code == 200
    assert "Start an experiment" in listing.content.decode()
    started = _start(acme)
    assert started.status_code == 302
    with tenant_context(acme.tenant.pk):
        experiment = Experiment.objects.get()
    assert (experiment.arm_a_version_id, experiment.arm_b_version_id, experiment.traffic_b) == (
        versions[0].pk, versions[1].pk, 30)
    page = acme.browser().get(reverse("recs:experiment", args=[experiment.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Not enough data yet" in html
    assert 'data-testid="arms"' in html
    assert "v2" in html
    assert "Promote arm B (v2)" in html
    listing = acme.browser().get(reverse("recs:experiments")).content.decode()
    assert "v2 against v1" in listing
    assert "is running" in listing


def test_the_page_refuses_one_arm_twice_and_overlapping_experiments(
        acme: TenantSetup, versions: list[ModelVersion]) -> None:
    same = _start(acme, arm_b="1")
    assert same.status_code == 400
    assert "The two arms are the same" in same.content.decode()
    assert _start(acme).status_code == 302
    overlapping = _start(acme, name="another")
    assert overlapping.status_code == 400
    assert "is running; stop it" in overlapping.content.decode()
    with tenant_context(acme.tenant.pk):
        assert Experiment.objects.count() == 1


def test_viewers_read_members_stop_admins_promote(acme: TenantSetup,
                                                  versions: list[ModelVersion]) -> None:
    _start(acme)
    with tenant_context(acme.tenant.pk):
        experiment = Experiment.objects.get()
    viewer = acme.browser()
    viewer.force_login(acme.add_member(Role.VIEWER).user)
    assert viewer.get(reverse("recs:experiment", args=[experiment.pk])).status_code == 200
    assert viewer.post(reverse("recs:experiment_stop", args=[experiment.pk])).status_code == 403
    assert _start(acme, name="x").status_code == 400  # still running
    member = acme.browser()
    member.force_login(acme.add_member(Role.MEMBER).user)
    promote = reverse("recs:experiment_promote", args=[experiment.pk])
    assert member.post(promote, {"arm": "b"}).status_code == 403
    assert member.post(reverse("recs:experiment_stop",
                               args=[experiment.pk])).status_code == 302
    assert acme.browser().post(promote, {"arm": "b"}).status_code == 302
    with tenant_context(acme.tenant.pk):
        experiment.refresh_from_db()
        assert (experiment.status, experiment.winner) == ("stopped", "b")
        assert ModelVersion.objects.get(status="active") == versions[1]


def test_another_tenants_experiment_pages_are_404(acme: TenantSetup, globex: TenantSetup,
                                                  versions: list[ModelVersion]) -> None:
    _start(acme)
    with tenant_context(acme.tenant.pk):
        experiment = Experiment.objects.get()
    browser = globex.browser()
    assert browser.get(reverse("recs:experiment", args=[experiment.pk])).status_code == 404
    assert browser.post(reverse("recs:experiment_stop",
                                args=[experiment.pk])).status_code == 404
    assert browser.post(reverse("recs:experiment_promote", args=[experiment.pk]),
                        {"arm": "b"}).status_code == 404
    listing = browser.get(reverse("recs:experiments")).content.decode()
    assert "v2 against v1" not in listing
    # acme's versions are not offered to globex.
    refused = browser.post(reverse("recs:experiments"), {
        "name": "x", "arm_a": "1", "arm_b": "popularity", "traffic_b": 50, "metric": "ctr"})
    assert refused.status_code == 400
    with tenant_context(acme.tenant.pk):
        experiment.refresh_from_db()
        assert (experiment.status, experiment.winner) == ("running", "")
        assert ModelVersion.objects.get(status="active") == versions[0]
    with tenant_context(globex.tenant.pk):
        assert not Experiment.objects.exists()


def _upload(setup: TenantSetup, kind: str, text: str, client: Any = None) -> Any:
    client = client or setup.browser()
    return client.post(reverse("recs:upload"), {
        "kind": kind, "file": SimpleUploadedFile(f"{kind}.csv", text.encode(), "text/csv")})


def test_csv_upload_stores_a_good_file(acme: TenantSetup) -> None:
    assert acme.browser().get(reverse("recs:upload")).status_code == 200
    items = _upload(acme, "items", "external_id,title,categories\nb1,Dune,sf|classic\n"
                                   "b2,Emma,romance\n")
    assert items.status_code == 302
    events = _upload(acme, "events", "event_id,user,item,kind,value\ne1,u1,b1,rating,5\n"
                                     "e2,u1,b2,click,\n")
    assert events.status_code == 302
    with tenant_context(acme.tenant.pk):
        assert sorted(Item.objects.values_list("external_id", flat=True)) == ["b1", "b2"]
        assert Interaction.objects.count() == 2
    with tenant_context(acme.tenant.pk):
        assert Item.objects.get(external_id="b1").categories == ["sf", "classic"]


def test_a_bad_csv_row_is_named_in_the_problem_table_and_nothing_is_stored(
        acme: TenantSetup) -> None:
    add_items(acme, [item_row("b1")])
    refused = _upload(acme, "events", "event_id,user,item,kind,value\n"
                                      "e1,u1,b1,click,\n"          # good, but not stored
                                      "e2,u1,b1,rating,9\n"        # row 2: value
                                      "e3,u1,nope,click,\n")       # row 3: item
    assert refused.status_code == 400
    html = refused.content.decode()
    assert 'data-testid="problems"' in html
    assert "The file was refused; nothing was stored." in html
    rows = refused.context["refusal"].problems
    assert [(problem.row, problem.column) for problem in rows] == [(2, "value"), (3, "item")]
    assert "<code>value</code>" in html
    assert "unknown item" in html
    with tenant_context(acme.tenant.pk):
        assert not Interaction.objects.exists()
    bad_items = _upload(acme, "items", "external_id,title\nb9,\n")
    assert bad_items.status_code == 400
    assert [(p.row, p.column) for p in bad_items.context["refusal"].problems] == [(1, "title")]


def test_viewers_cannot_upload_and_uploads_stay_in_their_tenant(
        acme: TenantSetup, globex: TenantSetup) -> None:
    viewer = acme.browser()
    viewer.force_login(acme.add_member(Role.VIEWER).user)
    assert _upload(acme, "items", "external_id,title\nb1,Dune\n", viewer).status_code == 403
    add_items(acme, [item_row("b1", "Acme's Dune")])
    # globex uploads an event naming acme's item: unknown to globex, refused.
    refused = _upload(globex, "events", "event_id,user,item,kind\ne1,u1,b1,click\n")
    assert refused.status_code == 400
    assert _upload(globex, "items", "external_id,title\nb1,Globex's Dune\n").status_code == 302
    with tenant_context(acme.tenant.pk):
        assert Item.objects.get(external_id="b1").title == "Acme's Dune"
        assert not Interaction.objects.exists()
