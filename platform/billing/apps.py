from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    label = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from billing.services import subscription_for_new_tenant
        from tenancy.services import tenant_created_hook_register

        # Every tenant starts with its subscription (tenancy is below billing: it offers the
        # hook, billing registers).
        tenant_created_hook_register(subscription_for_new_tenant)
