from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEvent(models.Model):
    """An append-only record of a security-relevant action.

    Platform-owned rather than tenant-owned: a failed sign-in has no tenant, and the log is
    read by staff in the console. ``tenant`` is set whenever the action belongs to one.
    """

    class Action(models.TextChoices):
        SIGN_IN = "sign_in", _("Signed in")
        SIGN_IN_FAILED = "sign_in_failed", _("Failed sign-in")
        SIGN_IN_LOCKED = "sign_in_locked", _("Sign-in refused (too many failures)")
        SIGN_OUT = "sign_out", _("Signed out")
        API_KEY_CREATED = "api_key_created", _("API key created")
        API_KEY_REVOKED = "api_key_revoked", _("API key revoked")
        ROLE_CHANGED = "role_changed", _("Role changed")
        MEMBER_INVITED = "member_invited", _("Member invited")
        INVITATION_REVOKED = "invitation_revoked", _("Invitation revoked")
        MEMBER_JOINED = "member_joined", _("Member joined")
        MEMBER_REMOVED = "member_removed", _("Member removed")
        TENANT_STATUS_CHANGED = "tenant_status_changed", _("Tenant status changed")
        PASSWORD_RESET = "password_reset", _("Password reset")
        PASSWORD_RESET_REQUESTED = "password_reset_requested", _("Password reset requested")
        SIGNED_UP = "signed_up", _("Signed up")
        EMAIL_VERIFIED = "email_verified", _("Email verified")

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    action = models.CharField(max_length=40, choices=Action.choices)
    tenant = models.ForeignKey("tenancy.Tenant", null=True, blank=True, on_delete=models.SET_NULL)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    target = models.CharField(max_length=200, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering: ClassVar = ["-created_at"]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "-created_at"], name="audit_tenant_time")
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.target}".strip()
