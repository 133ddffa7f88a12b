from django.contrib import admin
from django.http import HttpRequest


class ConsoleSite(admin.AdminSite):
    """The staff console: staff only, and staff-wide (requests run ``unscoped()``, see
    ``accounts.middleware``)."""

    site_header = "AI Platform console"
    site_title = "AI Platform console"
    index_title = "Staff console"

    def has_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff)
