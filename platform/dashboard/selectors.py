"""Reads for the dashboard pages. Every query runs through the tenant-scoped managers, so it
only ever sees the current tenant's rows."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import ApiKey, Invitation
from tenancy.models import Membership


@dataclass(frozen=True)
class WorkspaceOverview:
    member_count: int
    active_api_key_count: int
    pending_invitation_count: int


def workspace_overview() -> WorkspaceOverview:
    return WorkspaceOverview(
        member_count=Membership.objects.count(),
        active_api_key_count=api_key_list().filter(_active_key_filter()).count(),
        pending_invitation_count=invitation_pending_list()
        .filter(expires_at__gt=timezone.now()).count(),
    )


def _active_key_filter() -> Q:
    return Q(revoked_at__isnull=True) & (
        Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
    )


def api_key_list() -> QuerySet[ApiKey]:
    return ApiKey.objects.order_by("-created_at")


def invitation_pending_list() -> QuerySet[Invitation]:
    """Invitations not yet accepted, expired ones included so that admins can revoke them."""
    return Invitation.objects.filter(accepted_at__isnull=True).order_by("-created_at")
