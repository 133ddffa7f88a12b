from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class ConsoleAdminConfig(AdminConfig):
    """Django admin, replaced by the staff console site."""

    default_site = "console.site.ConsoleSite"


class ConsoleConfig(AppConfig):
    name = "console"
    label = "console"
    default_auto_field = "django.db.models.BigAutoField"
