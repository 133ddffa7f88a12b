"""The promotion gate (``jobs.gate``) and how ``model_version_create`` applies it: a version is
promoted only when at least as good as the better of the active version and the platform
default on the same validation rows; otherwise kept with a note naming both figures, which an
admin can override (audited); rollback to an earlier version; the first fine-tune is never
promoted just for being first."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from jobs.gate import gate_decide
from jobs.models import Job, ModelVersion
from jobs.services import model_version_activate, model_version_create
from tenancy.context import tenant_context
from tests.conftest import TenantSetup


def _gate(candidate: float, active: float | None, default: float | None) -> dict:
    entry = lambda f1: None if f1 is None else {"macro_f1": f1, "accuracy": f1}  # noqa: E731
    return {"macro_f1": candidate, "gate": {"candidate": entry(candidate),
                                           "active": entry(active), "default": entry(default)}}


def _create(setup: TenantSetup, metrics: dict, margin: float = 0.0,
            force: bool = False) -> ModelVersion:
    with tenant_context(setup.tenant.pk):
        job = Job.objects.create(app="finance_sentiment", kind="fine_tune", status="running")
        return model_version_create(job=job, label_map=["negative", "neutral", "positive"],
                                    metrics=metrics, artifact_name="a.zip", artifact=b"zip",
                                    base_model="tiny", method="head", margin=margin, force=force)


def test_decide_against_the_better_reference_with_a_margin() -> None:
    assert gate_decide(candidate=0.80, active=0.70, active_name="v2", default=0.81).promote is False
    assert gate_decide(candidate=0.81, active=0.70, active_name="v2", default=0.81).promote is True
    near = gate_decide(candidate=0.82, active=None, active_name="", default=0.81, margin=0.02)
    assert (near.promote, near.reference) == (False, "default")
    assert "margin 0.020" in near.note
    nothing = gate_decide(candidate=0.1, active=None, active_name="", default=None)
    assert nothing.promote is True
    assert "no active version and no platform default" in nothing.note


def test_a_first_fine_tune_worse_than_the_platform_default_stays_ready(acme: TenantSetup
                                                                      ) -> None:
    version = _create(acme, _gate(0.394, None, 0.812))
    assert version.status == ModelVersion.Status.READY
    assert "First version" not in version.promotion_note
    assert version.promotion_note.startswith("Not promoted: macro-F1 0.394 < platform default's "
                                             "0.812")
    assert "active version n/a, platform default 0.812" in version.promotion_note


def test_a_better_version_is_promoted_and_a_worse_one_names_both_figures(acme: TenantSetup
                                                                        ) -> None:
    first = _create(acme, _gate(0.85, None, 0.80))
    assert first.status == ModelVersion.Status.ACTIVE
    worse = _create(acme, _gate(0.83, 0.85, 0.80))
    assert worse.status == ModelVersion.Status.READY
    assert "v1 0.850, platform default 0.800" in worse.promotion_note
    margin = _create(acme, _gate(0.86, 0.85, 0.80), margin=0.05)
    assert margin.status == ModelVersion.Status.READY
    better = _create(acme, _gate(0.90, 0.85, 0.80), margin=0.05)
    assert better.status == ModelVersion.Status.ACTIVE
    with tenant_context(acme.tenant.pk):
        assert ModelVersion.objects.get(pk=first.pk).status == ModelVersion.Status.READY


def test_admin_activates_a_refused_version_anyway_audited_then_rolls_back(acme: TenantSetup
                                                                         ) -> None:
    good = _create(acme, _gate(0.85, None, 0.80))
    poor = _create(acme, _gate(0.40, 0.85, 0.80))
    with tenant_context(acme.tenant.pk):
        poor = model_version_activate(version=poor, actor="admin@acme", actor_id=acme.owner.pk)
        assert poor.status == ModelVersion.Status.ACTIVE
        assert poor.promotion_note.startswith("Activated by admin@acme despite the gate (Not "
                                              "promoted")
        good = model_version_activate(version=good, actor="admin@acme", actor_id=acme.owner.pk)
        assert good.promotion_note == "Rolled back from v2 by admin@acme"
        assert ModelVersion.objects.get(pk=poor.pk).status == ModelVersion.Status.READY
    events = list(AuditEvent.objects.filter(tenant_id=acme.tenant.pk,
                                            action="model_version.activate").order_by("id"))
    assert [(e.target, e.details["previous"], e.actor_id) for e in events] == [
        ("finance_sentiment v2", 1, acme.owner.pk), ("finance_sentiment v1", 2, acme.owner.pk)]


def test_forced_promotion_keeps_the_gate_s_figures_in_its_note(acme: TenantSetup) -> None:
    version = _create(acme, _gate(0.40, None, 0.80), force=True)
    assert version.status == ModelVersion.Status.ACTIVE
    assert version.promotion_note.startswith("Promoted by request (forced); not promoted: "
                                             "macro-F1 0.400")


@pytest.mark.parametrize("metrics", [{"macro_f1": 0.9}, {}])
def test_without_any_reference_the_version_is_promoted_saying_so(acme: TenantSetup,
                                                                metrics: dict) -> None:
    version = _create(acme, metrics)
    assert version.status == ModelVersion.Status.ACTIVE
    assert "no active version and no platform default" in version.promotion_note


def test_rollback_through_the_api_is_audited_and_another_tenant_cannot(
        acme: TenantSetup, globex: TenantSetup) -> None:
    first = _create(acme, _gate(0.85, None, 0.80))
    second = _create(acme, _gate(0.90, 0.85, 0.80))
    assert second.status == ModelVersion.Status.ACTIVE
    url = f"/api/v1/models/{first.pk}/activate"
    assert globex.api().post(url).status_code == 404
    with tenant_context(acme.tenant.pk):
        assert ModelVersion.objects.get(pk=first.pk).status == ModelVersion.Status.READY
    assert not AuditEvent.objects.filter(action="model_version.activate").exists()
    response = acme.api().post(url)
    assert response.status_code == 200, response.content
    assert response.json()["promotion_note"].startswith("Rolled back from v2 by ")
    [event] = AuditEvent.objects.filter(tenant_id=acme.tenant.pk,
                                        action="model_version.activate")
    assert (event.target, event.details["previous"]) == ("finance_sentiment v1", 2)
