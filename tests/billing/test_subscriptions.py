"""Every tenant gets its subscription when it is created; reads never create one."""

from __future__ import annotations

import importlib

from django.apps import apps

from billing.models import Meter, Subscription
from billing.periods import month_bounds
from billing.selectors import plan_limit, subscription_current, usage_summary
from billing.services import subscription_change_plan
from tenancy.context import tenant_context, unscoped
from tenancy.models import Tenant
from tenancy.services import tenant_create
from tests.conftest import TenantSetup

migration = importlib.import_module("billing.migrations.0005_subscription_for_every_tenant")


def test_a_new_tenant_starts_on_the_default_plan_for_this_month(db: None) -> None:
    tenant = tenant_create(slug="initech", name="Initech")
    with tenant_context(tenant.pk):
        subscription = Subscription.objects.select_related("plan").get()
    assert subscription.plan.code == "free"
    assert (subscription.period_start, subscription.period_end) == month_bounds()


def test_reads_of_a_tenant_without_a_subscription_write_nothing(db: None) -> None:
    bare = Tenant.objects.create(slug="bare", name="Bare")  # not through tenant_create
    with tenant_context(bare.pk):
        current = subscription_current()
        assert current.pk is None
        assert current.plan.code == "free"
        assert usage_summary().plan_code == "free"
        assert plan_limit(tenant_id=bare.pk, meter=Meter.API_CALLS) is not None
        assert not Subscription.objects.exists()

        subscription_change_plan(plan_code="pro")  # the first billing write creates it
        assert Subscription.objects.get().plan.code == "pro"


def test_the_data_migration_subscribes_the_tenants_that_have_none(acme: TenantSetup) -> None:
    bare = Tenant.objects.create(slug="bare", name="Bare")
    with tenant_context(acme.tenant.pk):
        subscription_change_plan(plan_code="pro")

    migration.subscribe_existing_tenants(apps, None)
    migration.subscribe_existing_tenants(apps, None)  # twice: nothing more

    with unscoped():
        plans = dict(Subscription.objects.values_list("tenant_id", "plan__code"))
    assert plans == {acme.tenant.pk: "pro", bare.pk: "free"}
