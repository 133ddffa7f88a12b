"""Sets the tenant context for each request and clears it afterwards; applies the signed-in
user's language and time zone (UserPreferencesMiddleware, below).

The tenant comes from the API key (``Authorization: Bearer ...``) or from the signed-in
user's current tenant (kept in the session, checked against their memberships on every
request). Staff pages under ``/console/`` run unscoped: they are staff-wide by design.

It lives in accounts, above tenancy: it turns credentials (accounts' API keys, the session's
user) into a tenant, so it needs both, and tenancy needs neither accounts nor this module.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

import structlog
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from accounts.models import time_zone_names
from accounts.services import ApiKeyInvalid, api_key_authenticate
from tenancy.context import tenant_context, unscoped
from tenancy.http import tenant_request
from tenancy.selectors import resolve_session_membership

SUSPENDED_MESSAGE = _(
    "This workspace is suspended. Contact support or the workspace owner to reactivate it."
)


class TenantMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, http_request: HttpRequest) -> HttpResponse:
        request = tenant_request(http_request)
        request.tenant = None
        request.membership = None
        request.api_key = None
        request.api_key_error = None
        request.user_memberships = []

        if request.path.startswith("/console/") and request.user.is_staff:
            with unscoped():
                return self.get_response(request)

        authorization = request.headers.get("Authorization", "")
        if authorization[:7].lower() == "bearer ":
            try:
                key = api_key_authenticate(raw_key=authorization[7:].strip())
            except ApiKeyInvalid as error:
                request.api_key_error = error
            else:
                request.api_key = key
                request.tenant = key.tenant
        elif request.user.is_authenticated:
            membership = resolve_session_membership(request)
            if membership is not None:
                request.membership = membership
                request.tenant = membership.tenant

        tenant = request.tenant
        if tenant is not None and not tenant.is_active and not _exempt(request):
            return _suspended_response(request)

        tenant_id = tenant.pk if tenant is not None else None
        structlog.contextvars.bind_contextvars(tenant_id=tenant_id)
        with tenant_context(tenant_id):
            return self.get_response(request)


def _exempt(request: HttpRequest) -> bool:
    # Signing out and switching to another workspace stay possible while suspended.
    return request.path.startswith(("/accounts/", "/tenants/switch", "/static/"))


def _suspended_response(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"error": {"code": "tenant_suspended", "message": str(SUSPENDED_MESSAGE),
                       "fields": {}}},
            status=403,
        )
    return TemplateResponse(
        request, "tenancy/suspended.html", {"message": SUSPENDED_MESSAGE}, status=403
    ).render()


class UserPreferencesMiddleware:
    """Activates the signed-in user's language and time zone for the request.

    After LocaleMiddleware (which picked the language of the cookie or Accept-Language) and
    AuthenticationMiddleware: a user who chose a language sees it in every browser, and every
    rendered time is in their zone. The zone is deactivated afterwards so that the next request
    served by this thread starts from ``TIME_ZONE`` again.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated:
            if user.language and translation.check_for_language(user.language):
                translation.activate(user.language)
                request.LANGUAGE_CODE = translation.get_language()
            if user.time_zone in time_zone_names():
                timezone.activate(zoneinfo.ZoneInfo(user.time_zone))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
