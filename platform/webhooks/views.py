"""The webhook settings pages: endpoints (list, create, edit, delete), their events, secret
rotation (the new secret shown once) and the delivery log with retry.

Every member reads (the API's ``read`` scope does too); owners and admins change. Lookups go
through the tenant-scoped managers, so another tenant's endpoint or delivery is a 404, the
same as a missing one. The views call the webhooks services, like ``webhooks.api``.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from config.errors import ServiceError
from dashboard.views import require_role, workspace_view
from tenancy.models import Role
from webhooks.forms import WebhookEndpointForm
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import (
    webhook_delivery_retry,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_update,
)
from webhooks.urlcheck import UnsafeUrl

DELIVERIES_PAGE_SIZE = 25
# The secret of a just-created or rotated endpoint, kept in the session only between the
# POST and the redirected GET that shows it (popped there): a reload never shows it again.
NEW_SECRET_SESSION_KEY = "webhooks.new_secret"  # noqa: S105  (a session key, not a secret)


def _service_refusal(form: WebhookEndpointForm, error: ValueError) -> None:
    """The services refuse with ``ValueError("<field>: <message>")`` (``UnsafeUrl``: the URL)."""
    field, separator, detail = str(error).partition(": ")
    if isinstance(error, UnsafeUrl) or not separator or field not in form.fields:
        field, detail = "url", str(error)
    form.add_error(field, detail)


def _remember_secret(request: HttpRequest, endpoint: WebhookEndpoint) -> None:
    request.session[NEW_SECRET_SESSION_KEY] = {"tenant_id": endpoint.tenant_id,
                                               "endpoint_id": endpoint.pk,
                                               "secret": endpoint.secret}


def _new_secret(request: HttpRequest) -> dict | None:
    shown = request.session.pop(NEW_SECRET_SESSION_KEY, None)
    if shown is None or shown["tenant_id"] != request.tenant.pk:  # type: ignore[attr-defined]
        return None
    return shown


@require_http_methods(["GET", "HEAD", "POST"])
@workspace_view()
def endpoint_list(request: HttpRequest) -> HttpResponse:
    """The tenant's endpoints; POST (admins) registers one, whose secret the next GET shows."""
    form = WebhookEndpointForm()
    if request.method == "POST":
        require_role(request, Role.ADMIN, action=_("add webhook endpoints"))
        form = WebhookEndpointForm(request.POST)
        if form.is_valid():
            fields = form.cleaned_data
            try:
                endpoint = webhook_endpoint_create(url=fields["url"], events=fields["events"],
                                                   description=fields["description"])
                if not fields["is_active"]:
                    endpoint = webhook_endpoint_update(endpoint=endpoint,
                                                       changes={"is_active": False})
            except ValueError as error:
                _service_refusal(form, error)
            else:
                _remember_secret(request, endpoint)
                return redirect("webhooks:endpoint", endpoint.pk)
    return render(request, "webhooks/endpoints.html", {
        "endpoints": WebhookEndpoint.objects.order_by("-created_at", "-id"), "form": form,
    })


@require_http_methods(["GET", "HEAD", "POST"])
@workspace_view()
def endpoint_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One endpoint: its settings (POST by admins changes them) and its delivery log."""
    endpoint = get_object_or_404(WebhookEndpoint.objects.all(), pk=pk)
    form = WebhookEndpointForm(initial={"url": endpoint.url, "description": endpoint.description,
                                        "events": endpoint.events,
                                        "is_active": endpoint.is_active})
    if request.method == "POST":
        require_role(request, Role.ADMIN, action=_("change webhook endpoints"))
        form = WebhookEndpointForm(request.POST)
        if form.is_valid():
            try:
                webhook_endpoint_update(endpoint=endpoint, changes=dict(form.cleaned_data))
            except ValueError as error:
                _service_refusal(form, error)
            else:
                messages.success(request, _("The endpoint was saved."))
                return redirect("webhooks:endpoint", endpoint.pk)
        endpoint.refresh_from_db()  # a refused change leaves the stored one on the page
    deliveries = Paginator(
        WebhookDelivery.objects.filter(endpoint=endpoint).order_by("-created_at", "-id"),
        DELIVERIES_PAGE_SIZE).get_page(request.GET.get("page"))
    new_secret = _new_secret(request)
    if new_secret is not None and new_secret["endpoint_id"] != endpoint.pk:
        new_secret = None
    return render(request, "webhooks/endpoint.html", {
        "endpoint": endpoint, "form": form, "page": deliveries, "new_secret": new_secret,
    })


@require_POST
@workspace_view(Role.ADMIN)
def endpoint_delete(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint.objects.all(), pk=pk)
    webhook_endpoint_delete(endpoint=endpoint)
    messages.success(request, _("The endpoint %(url)s and its delivery log were deleted.")
                     % {"url": endpoint.url})
    return redirect("webhooks:endpoints")


@require_POST
@workspace_view(Role.ADMIN)
def endpoint_rotate_secret(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint.objects.all(), pk=pk)
    _remember_secret(request, webhook_endpoint_rotate_secret(endpoint=endpoint))
    return redirect("webhooks:endpoint", endpoint.pk)


@require_POST
@workspace_view(Role.ADMIN)
def delivery_retry(request: HttpRequest, pk: int, delivery_pk: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint.objects.all(), pk=pk)
    delivery = get_object_or_404(WebhookDelivery.objects.filter(endpoint=endpoint),
                                 pk=delivery_pk)
    try:
        webhook_delivery_retry(delivery=delivery)
    except ServiceError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Delivery #%(id)s is being sent again.") % {"id": delivery.pk})
    return redirect("webhooks:endpoint", endpoint.pk)


