from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from audit.models import AuditEvent
from config.clientaddr import client_address


def client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return client_address(request) or None


def audit_record(
    *,
    action: str,
    tenant_id: int | None = None,
    actor_id: int | None = None,
    target: str = "",
    request: HttpRequest | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        action=action,
        tenant_id=tenant_id,
        actor_id=actor_id,
        target=target[:200],
        ip_address=client_ip(request),
        details=details or {},
    )
