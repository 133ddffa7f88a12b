"""Guard: every model with a key to ``Tenant`` is a ``TenantOwnedModel`` (scoped manager, tenant
filled from the context, row-level security in its migration), or is on the allow-list below
with the reason it is not.

A plain ``models.ForeignKey("tenancy.Tenant")`` on an ordinary model compiles, migrates and
works in every single-tenant test; only another tenant's request would see its rows. This test
makes that mistake fail at once instead.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from django.apps import apps
from django.db import connection, models

from tenancy.models import Tenant, TenantManager, TenantOwnedModel

# Models that name a tenant but are deliberately not tenant-owned. Each needs its reason.
ALLOWED_PLAIN_MODELS = {
    # A failed sign-in has no tenant (the key is nullable), and only staff read the log, in
    # the console, unscoped; see docs/ARCHITECTURE.md ("Platform-owned tables without RLS").
    "audit.AuditEvent",
}


def tenant_keys(model: type[models.Model]) -> list[str]:
    """The names of ``model``'s own relations (FK, one-to-one, many-to-many) to ``Tenant``."""
    return [field.name for field in model._meta.get_fields()
            if field.is_relation and not field.auto_created and field.related_model is Tenant]


def tenant_owned_violations(model_classes: Iterable[type[models.Model]],
                            allowed: Iterable[str] = ALLOWED_PLAIN_MODELS) -> list[str]:
    """What is wrong with ``model_classes``, one line per model; empty when nothing is."""
    allowed = set(allowed)
    problems = []
    for model in model_classes:
        label = model._meta.label
        keys = tenant_keys(model)
        if issubclass(model, TenantOwnedModel):
            if not isinstance(model._default_manager, TenantManager):
                problems.append(f"{label}: a TenantOwnedModel whose default manager "
                                f"({type(model._default_manager).__name__}) is not scoped")
        elif keys and label not in allowed:
            problems.append(f"{label}: has a key to Tenant ({', '.join(keys)}) but is not a "
                            "TenantOwnedModel (inherit it, or allow-list it with the reason)")
    return problems


def test_every_model_with_a_tenant_key_is_tenant_owned_or_allowed() -> None:
    assert tenant_owned_violations(apps.get_models()) == []


def test_the_allow_list_names_only_existing_models_with_a_tenant_key() -> None:
    # A stale entry would silently allow the next model to reuse the name.
    for label in ALLOWED_PLAIN_MODELS:
        model = apps.get_model(label)
        assert tenant_keys(model), f"{label} no longer has a key to Tenant"
        assert not issubclass(model, TenantOwnedModel), f"{label} is tenant-owned now"


def test_every_model_with_a_tenant_key_has_its_policy(db: None) -> None:
    """The same set from the other side: the tables of all models naming a tenant, except the
    allow-list, have forced row-level security and a policy (``tests/tenancy/test_rls.py``
    checks it for every ``TenantOwnedModel``)."""
    tables = {model._meta.db_table for model in apps.get_models()
              if tenant_keys(model) and model._meta.label not in ALLOWED_PLAIN_MODELS}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relrowsecurity AND c.relforcerowsecurity "
            "AND c.relname = ANY(%s) "
            "AND EXISTS (SELECT 1 FROM pg_policies p WHERE p.tablename = c.relname)",
            [sorted(tables)],
        )
        protected = {row[0] for row in cursor.fetchall()}
    assert sorted(tables - protected) == []


# --- The guard itself, on synthetic models (never migrated: the app label is a test one) ---


def _model(name: str, *bases: type[models.Model], **fields: object) -> type[models.Model]:
    meta = type("Meta", (), {"app_label": "guard_scratch"})
    attrs: dict[str, object] = {"__module__": __name__, "Meta": meta, **fields}
    return type(name, bases or (models.Model,), attrs)


@pytest.fixture
def scratch_app() -> object:
    """Synthetic models register in the app registry under ``guard_scratch``; forget them after
    the test so that ``apps.get_models()`` stays the project's."""
    yield None
    apps.all_models.pop("guard_scratch", None)
    apps.clear_cache()


def test_guard_flags_a_plain_model_with_a_tenant_key(scratch_app: object) -> None:
    plain = _model("PlainNote", tenant=models.ForeignKey(Tenant, on_delete=models.CASCADE))
    assert tenant_owned_violations([plain]) == [
        "guard_scratch.PlainNote: has a key to Tenant (tenant) but is not a TenantOwnedModel "
        "(inherit it, or allow-list it with the reason)"
    ]
    assert tenant_owned_violations([plain], allowed={"guard_scratch.PlainNote"}) == []


def test_guard_flags_a_key_under_another_name(scratch_app: object) -> None:
    plain = _model("Transfer", source=models.ForeignKey("tenancy.Tenant", models.CASCADE,
                                                        related_name="+"))
    assert tenant_owned_violations([plain]) == [
        "guard_scratch.Transfer: has a key to Tenant (source) but is not a TenantOwnedModel "
        "(inherit it, or allow-list it with the reason)"
    ]


def test_guard_flags_a_tenant_owned_model_with_an_unscoped_manager(scratch_app: object) -> None:
    leaky = _model("LeakyNote", TenantOwnedModel, objects=models.Manager())
    assert tenant_owned_violations([leaky]) == [
        "guard_scratch.LeakyNote: a TenantOwnedModel whose default manager (Manager) is not "
        "scoped"
    ]


def test_guard_accepts_a_tenant_owned_model(scratch_app: object) -> None:
    assert tenant_owned_violations([_model("Note", TenantOwnedModel)]) == []
