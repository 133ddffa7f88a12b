"""The business users' pages. Each view checks access, calls one service or selector and
renders; every query is scoped to the current tenant by the tenant-owned managers, so an id
from another tenant is simply not found (404)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.models import ApiKey, Invitation
from accounts.services import (
    InvitationError,
    api_key_create,
    api_key_revoke,
    invitation_create,
    invitation_revoke,
)
from dashboard import selectors
from dashboard.forms import ApiKeyCreateForm, InviteForm, grantable_roles
from dashboard.home import home_sections
from tenancy.models import ROLE_RANK, Membership, Role
from tenancy.selectors import membership_list
from tenancy.services import (
    MembershipError,
    membership_change_role,
    membership_remove,
    tenant_switch,
)

View = Callable[..., HttpResponse]

# The raw key of a just-created API key, kept in the session only between the POST and the
# redirected GET that shows it (popped there), so a reload never shows it again.
NEW_API_KEY_SESSION_KEY = "dashboard.new_api_key"


def workspace_view(minimum_role: str | None = None) -> Callable[[View], View]:
    """A page of the current workspace: signed in, a member, and at least ``minimum_role``."""

    def decorator(view: View) -> View:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            membership: Membership | None = request.membership  # type: ignore[attr-defined]
            if membership is None:
                return render(request, "dashboard/no_workspace.html")
            if minimum_role is not None:
                require_role(request, minimum_role)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def require_role(request: HttpRequest, minimum_role: str, *, action: str | None = None) -> None:
    """The one role check of the pages: 403 unless the member's role is at least
    ``minimum_role``. Views check inside themselves only where one method needs more than the
    page (a POST on a page viewers may read); ``action`` words the refusal ("Your role cannot
    <action>."), else it names the roles allowed."""
    membership: Membership = request.membership  # type: ignore[attr-defined]
    if not membership.has_role(minimum_role):
        raise PermissionDenied(_("Your role cannot %(action)s.") % {"action": action} if action
                               else _roles_allowed_message(minimum_role))


# The roles as a refusal names them ("Only owners and admins can do this.").
ROLE_PLURALS = {Role.OWNER: gettext_lazy("owners"), Role.ADMIN: gettext_lazy("admins"),
                Role.MEMBER: gettext_lazy("members"), Role.VIEWER: gettext_lazy("viewers")}


def _roles_allowed_message(minimum_role: str) -> str:
    allowed = [str(ROLE_PLURALS[Role(value)]) for value, _label in Role.choices
               if ROLE_RANK[Role(value)] >= ROLE_RANK[Role(minimum_role)]]
    return _("Only %(roles)s can do this.") % {"roles": _(" and ").join(allowed)}


# --- Overview and tenant switcher -----------------------------------------------------------


@require_safe
@workspace_view()
def home(request: HttpRequest) -> HttpResponse:
    """The workspace's home: its figures, and each application's live figures with, until it
    is set up, a getting-started checklist ticked from the tenant's data (``dashboard.home``)."""
    return render(request, "dashboard/home.html", {
        "overview": selectors.workspace_overview(),
        "sections": home_sections(base_url=request.build_absolute_uri("/")[:-1]),
    })


@require_POST
@login_required
def tenant_switch_view(request: HttpRequest) -> HttpResponse:
    try:
        tenant_id = int(request.POST.get("tenant", ""))
    except ValueError:
        raise Http404 from None
    # Not a member gives the same 404 as a tenant that does not exist.
    if not tenant_switch(request=request, tenant_id=tenant_id):
        raise Http404
    # Back to the overview: the page we came from may show the previous tenant's objects.
    return redirect("dashboard:home")


# --- Settings: workspace and members --------------------------------------------------------


@require_safe
@workspace_view()
def settings_workspace(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/settings/workspace.html")


@dataclass(frozen=True)
class MemberRow:
    membership: Membership
    manageable: bool  # shows the controls; the tenancy services decide


def _member_row(actor: Membership, membership: Membership) -> MemberRow:
    manageable = (
        actor.has_role(Role.ADMIN)
        and membership.pk != actor.pk
        and (membership.role != Role.OWNER or actor.role == Role.OWNER)
    )
    return MemberRow(membership=membership, manageable=manageable)


@require_http_methods(["GET", "POST"])
@workspace_view()
def settings_members(request: HttpRequest) -> HttpResponse:
    """The members list for everyone; POST (owners and admins) invites someone."""
    actor: Membership = request.membership  # type: ignore[attr-defined]
    form = InviteForm(actor=actor)
    if request.method == "POST":
        if not actor.has_role(Role.ADMIN):
            raise PermissionDenied(_("Only owners and admins can invite members."))
        form = InviteForm(request.POST, actor=actor)
        if form.is_valid():
            try:
                invitation_create(actor=actor, request=request, **form.cleaned_data)
            except InvitationError as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, _("Invitation sent to %(email)s.")
                                 % {"email": form.cleaned_data["email"]})
                return redirect("dashboard:settings_members")
    return render(request, "dashboard/settings/members.html", {
        "rows": [_member_row(actor, m) for m in membership_list()],
        "invitations": selectors.invitation_pending_list().select_related("invited_by"),
        "invite_form": form,
        "role_choices": grantable_roles(actor),
    })


@require_POST
@workspace_view(Role.ADMIN)
def member_change_role(request: HttpRequest, pk: int) -> HttpResponse:
    """Plain POST (redirects with a flash) or htmx (answers with the updated table row)."""
    actor: Membership = request.membership  # type: ignore[attr-defined]
    membership = get_object_or_404(Membership.objects.select_related("user"), pk=pk)
    error = None
    try:
        membership = membership_change_role(actor=actor, membership_id=membership.pk,
                                            role=request.POST.get("role", ""), request=request)
    except MembershipError as exc:
        error = str(exc)
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "dashboard/settings/_member_row.html", {
            "row": _member_row(actor, membership),
            "role_choices": grantable_roles(actor),
            "row_error": error,
            "row_saved": error is None,
        })
    if error:
        messages.error(request, error)
    else:
        role = membership.get_role_display()
        messages.success(request, _("%(email)s is now %(role)s.")
                         % {"email": membership.user.email, "role": role})
    return redirect("dashboard:settings_members")


@require_POST
@workspace_view(Role.ADMIN)
def member_remove(request: HttpRequest, pk: int) -> HttpResponse:
    actor: Membership = request.membership  # type: ignore[attr-defined]
    membership = get_object_or_404(Membership.objects.select_related("user"), pk=pk)
    try:
        membership_remove(actor=actor, membership_id=membership.pk, request=request)
    except MembershipError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("%(email)s was removed from the workspace.")
                         % {"email": membership.user.email})
    return redirect("dashboard:settings_members")


@require_POST
@workspace_view(Role.ADMIN)
def invitation_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    invitation = get_object_or_404(Invitation, pk=pk, accepted_at__isnull=True)
    actor: Membership = request.membership  # type: ignore[attr-defined]
    invitation_revoke(actor=actor, invitation_id=invitation.pk, request=request)
    messages.success(request, _("The invitation for %(email)s was revoked.")
                     % {"email": invitation.email})
    return redirect("dashboard:settings_members")


# --- Settings: API keys ---------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@workspace_view(Role.ADMIN)
def settings_api_keys(request: HttpRequest) -> HttpResponse:
    """The tenant's keys; POST creates one, whose secret the next GET shows once."""
    form = ApiKeyCreateForm()
    if request.method == "POST":
        form = ApiKeyCreateForm(request.POST)
        if form.is_valid():
            try:
                created = api_key_create(
                    name=form.cleaned_data["name"],
                    scopes=form.cleaned_data["scopes"],
                    expires_at=form.expires_at(),
                    created_by_id=request.user.pk,
                    request=request,
                )
            except ValueError as error:
                form.add_service_error(error)
            else:
                request.session[NEW_API_KEY_SESSION_KEY] = {
                    "tenant_id": created.key.tenant_id,
                    "key_id": created.key.pk,
                    "raw_key": created.raw_key,
                }
                return redirect("dashboard:settings_api_keys")

    new_key = request.session.pop(NEW_API_KEY_SESSION_KEY, None)
    if new_key is not None and new_key["tenant_id"] != request.tenant.pk:  # type: ignore[attr-defined]
        new_key = None
    return render(request, "dashboard/settings/api_keys.html", {
        "api_keys": selectors.api_key_list().select_related("created_by"),
        "form": form,
        "new_key": new_key,
    })


@require_POST
@workspace_view(Role.ADMIN)
def api_key_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(ApiKey, pk=pk)
    api_key_revoke(key_id=key.pk, actor_id=request.user.pk, request=request)
    messages.success(request, _("The key “%(name)s” was revoked.") % {"name": key.name})
    return redirect("dashboard:settings_api_keys")
