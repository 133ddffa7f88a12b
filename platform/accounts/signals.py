"""Sign-in auditing, hooked to Django's auth signals so every sign-in path is covered."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from audit.models import AuditEvent
from audit.services import audit_record


@receiver(user_logged_in)
def _signed_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(action=AuditEvent.Action.SIGN_IN, actor_id=user.pk, target=user.email,
                 request=request)


@receiver(user_logged_out)
def _signed_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit_record(action=AuditEvent.Action.SIGN_OUT, actor_id=user.pk, target=user.email,
                     request=request)


@receiver(user_login_failed)
def _sign_in_failed(sender: Any, credentials: dict[str, Any], request: Any = None,
                    **kwargs: Any) -> None:
    # Never log the password; the email tried is what staff need to spot attacks.
    attempted = str(credentials.get("username") or credentials.get("email") or "")
    audit_record(action=AuditEvent.Action.SIGN_IN_FAILED, target=attempted, request=request)
