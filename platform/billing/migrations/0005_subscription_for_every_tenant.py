"""Every tenant has a subscription from its creation (``billing.services.subscription_ensure``
runs as tenancy's tenant-created hook); the selectors no longer create one on first read. The
tenants that existed before get theirs here, as that first read would have made it: the
default plan for the current month."""

from django.db import migrations

from billing.periods import month_bounds
from billing.plans import default_plan, install_default_plans
from tenancy.context import unscoped


def subscribe_existing_tenants(apps, schema_editor):
    tenant_model = apps.get_model("tenancy", "Tenant")
    plan_model = apps.get_model("billing", "Plan")
    subscription_model = apps.get_model("billing", "Subscription")
    with unscoped():  # every tenant's row: staff-wide by nature
        tenant_ids = list(tenant_model.objects.exclude(
            pk__in=subscription_model.objects.values("tenant_id")).values_list("pk", flat=True))
        if not tenant_ids:
            return
        if not plan_model.objects.exists():
            install_default_plans(plan_model, apps.get_model("billing", "PlanMeter"))
        plan = default_plan(plan_model)
        start, end = month_bounds()
        subscription_model.objects.bulk_create([
            subscription_model(tenant_id=tenant_id, plan=plan, period_start=start,
                               period_end=end)
            for tenant_id in tenant_ids
        ])


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0004_seed_plans"),
        ("tenancy", "0001_initial"),
    ]

    # Backwards: nothing to undo (a subscription is what a first read used to create).
    operations = [migrations.RunPython(subscribe_existing_tenants, migrations.RunPython.noop)]
