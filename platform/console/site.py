from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from console.json_fields import PrettyJSONAdminMixin


class ConsoleSite(admin.AdminSite):
    """The staff console: staff only, and staff-wide (requests run ``unscoped()``, see
    ``accounts.middleware``)."""

    site_header = "AI Platform console"
    site_title = "AI Platform console"
    index_title = "Staff console"

    def has_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        """Every model admin of the console shows JSON fields read-only and pretty-printed
        (``console.json_fields``), whichever app registers it."""
        base = admin_class or admin.ModelAdmin
        if not issubclass(base, PrettyJSONAdminMixin):
            base = type(base.__name__, (PrettyJSONAdminMixin, base),
                        {"__module__": base.__module__, "__qualname__": base.__qualname__})
        super().register(model_or_iterable, base, **options)
