"""Install the default plans (see ``billing.plans``); staff edit them in the console."""

from django.db import migrations

from billing.plans import install_default_plans


def seed(apps, schema_editor):
    install_default_plans(apps.get_model("billing", "Plan"), apps.get_model("billing", "PlanMeter"))


class Migration(migrations.Migration):
    dependencies = [("billing", "0003_plans_subscriptions_invoices")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
