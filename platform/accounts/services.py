"""API keys, invitations, self-service sign-up and email verification."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts.models import ApiKey, Invitation, Scope, User
from accounts.tokens import email_verification_token
from audit.models import AuditEvent
from audit.services import audit_record
from config.errors import ServiceError
from tenancy.context import tenant_context, unscoped
from tenancy.models import Membership, Role, Tenant
from tenancy.selectors import tenant_slug_free
from tenancy.services import tenant_create

API_KEY_PREFIX = "aip"
# last_used_at is bookkeeping, not an audit trail: write it at most once a minute per key.
LAST_USED_RESOLUTION = timedelta(minutes=1)
INVITATION_LIFETIME = timedelta(days=7)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# --- API keys -------------------------------------------------------------------------------


class ApiKeyInvalid(Exception):
    """The presented key is unknown, malformed, revoked or expired (all give 401)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CreatedApiKey:
    key: ApiKey
    raw_key: str  # shown to the user once, never stored


@transaction.atomic
def api_key_create(
    *,
    name: str,
    scopes: list[str],
    created_by_id: int | None,
    expires_at: datetime | None = None,
    rate_limit_per_minute: int | None = None,
    request: HttpRequest | None = None,
) -> CreatedApiKey:
    name = name.strip()
    if not name:
        raise ValueError("name: " + _("a key needs a name"))
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown or not scopes:
        raise ValueError("scopes: " + _("choose from %(scopes)s")
                         % {"scopes": ", ".join(Scope.values)})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValueError("expires_at: " + _("must be in the future"))
    if created_by_id is not None and not User.objects.filter(
            pk=created_by_id, email_verified_at__isnull=False).exists():
        raise ValueError("email: " + _("verify your email address before creating API keys"))
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(24)
    key = ApiKey.objects.create(
        name=name[:100],
        prefix=prefix,
        secret_hash=_digest(secret),
        scopes=sorted(set(scopes)),
        created_by_id=created_by_id,
        expires_at=expires_at,
        rate_limit_per_minute=rate_limit_per_minute,
    )
    audit_record(
        action=AuditEvent.Action.API_KEY_CREATED,
        tenant_id=key.tenant_id,
        actor_id=created_by_id,
        target=f"{key.name} ({prefix})",
        request=request,
        details={"scopes": key.scopes},
    )
    return CreatedApiKey(key=key, raw_key=f"{API_KEY_PREFIX}_{prefix}_{secret}")


def api_key_authenticate(*, raw_key: str) -> ApiKey:
    """Resolve a presented key to its ApiKey, or raise :class:`ApiKeyInvalid`.

    Runs before any tenant is known, so the lookup by the public prefix is explicitly
    unscoped; the tenant then comes from the key itself.
    """
    parts = raw_key.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        raise ApiKeyInvalid("Malformed API key.")
    _, prefix, secret = parts
    with unscoped():
        key = ApiKey.objects.select_related("tenant").filter(prefix=prefix).first()
        if key is None or not hmac.compare_digest(key.secret_hash, _digest(secret)):
            raise ApiKeyInvalid("Unknown API key.")
        if key.revoked_at is not None:
            raise ApiKeyInvalid("This API key has been revoked.")
        now = timezone.now()
        if key.expires_at is not None and key.expires_at <= now:
            raise ApiKeyInvalid("This API key has expired.")
        if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
    return key


@transaction.atomic
def api_key_revoke(
    *, key_id: int, actor_id: int | None, request: HttpRequest | None = None
) -> ApiKey:
    key = ApiKey.objects.select_for_update().get(pk=key_id)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(
            action=AuditEvent.Action.API_KEY_REVOKED,
            tenant_id=key.tenant_id,
            actor_id=actor_id,
            target=f"{key.name} ({key.prefix})",
            request=request,
        )
    return key


# --- Invitations ----------------------------------------------------------------------------


class InvitationError(Exception):
    """An invitation that cannot be created or accepted; the message is shown to the user."""


@dataclass(frozen=True)
class CreatedInvitation:
    invitation: Invitation
    token: str


@transaction.atomic
def invitation_create(
    *, actor: Membership, email: str, role: str, request: HttpRequest | None = None
) -> CreatedInvitation:
    email = email.strip().lower()
    if not actor.has_role(Role.ADMIN):
        raise InvitationError(_("Only owners and admins can invite members."))
    if role not in Role.values:
        raise InvitationError(_("Unknown role %(role)r.") % {"role": role})
    if role == Role.OWNER and actor.role != Role.OWNER:
        raise InvitationError(_("Only an owner can invite another owner."))
    if Membership.objects.filter(user__email=email).exists():
        raise InvitationError(_("%(email)s is already a member.") % {"email": email})
    # An earlier pending invitation for the same address is replaced by this one.
    Invitation.objects.filter(email=email, accepted_at__isnull=True).delete()
    token = secrets.token_urlsafe(32)
    try:
        invitation = Invitation.objects.create(
            email=email,
            role=role,
            token_hash=_digest(token),
            invited_by_id=actor.user_id,
            expires_at=timezone.now() + INVITATION_LIFETIME,
        )
    except IntegrityError as error:  # a concurrent invitation for the same address
        raise InvitationError(_("%(email)s has just been invited.") % {"email": email}) from error
    audit_record(
        action=AuditEvent.Action.MEMBER_INVITED,
        tenant_id=invitation.tenant_id,
        actor_id=actor.user_id,
        target=email,
        request=request,
        details={"role": role},
    )
    tenant_name = actor.tenant.name
    link = reverse("accounts:invitation_accept", kwargs={"token": token})
    base_url = request.build_absolute_uri("/")[:-1] if request is not None else ""
    # In the inviter's language: the invitee has chosen none yet.
    subject = _("You are invited to %(workspace)s") % {"workspace": tenant_name}
    message = "\n\n".join([
        _("%(inviter)s invited you to join %(workspace)s as %(role)s.") % {
            "inviter": actor.user.email, "workspace": tenant_name, "role": Role(role).label},
        _("Accept the invitation: %(link)s") % {"link": f"{base_url}{link}"},
        ngettext("The link expires in %(days)d day.", "The link expires in %(days)d days.",
                 INVITATION_LIFETIME.days) % {"days": INVITATION_LIFETIME.days},
    ])
    transaction.on_commit(
        lambda: send_mail(
            subject=subject,
            message=message,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[email],
        )
    )
    return CreatedInvitation(invitation=invitation, token=token)


def invitation_by_token(*, token: str) -> Invitation | None:
    """The pending invitation for a token from an email link (before any tenant is known)."""
    with unscoped():
        invitation = (
            Invitation.objects.select_related("tenant")
            .filter(token_hash=_digest(token), accepted_at__isnull=True)
            .first()
        )
    if invitation is None or not invitation.is_pending:
        return None
    return invitation


@transaction.atomic
def invitation_accept(
    *, invitation: Invitation, user: User, request: HttpRequest | None = None
) -> Membership:
    if user.email.lower() != invitation.email:
        raise InvitationError(
            _("This invitation is for %(email)s; you are signed in as %(current)s.")
            % {"email": invitation.email, "current": user.email}
        )
    with tenant_context(invitation.tenant_id):
        locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if locked.accepted_at is not None:
            raise InvitationError(_("This invitation has already been used."))
        locked.accepted_at = timezone.now()
        locked.save(update_fields=["accepted_at"])
        membership, _created = Membership.objects.get_or_create(
            user=user, defaults={"role": locked.role}
        )
        if user.email_verified_at is None:  # the invitation link went to this address
            user.email_verified_at = locked.accepted_at
            user.save(update_fields=["email_verified_at"])
        audit_record(
            action=AuditEvent.Action.MEMBER_JOINED,
            tenant_id=invitation.tenant_id,
            actor_id=user.pk,
            target=user.email,
            request=request,
            details={"role": membership.role},
        )
    return membership


@transaction.atomic
def invitation_revoke(
    *, actor: Membership, invitation_id: int, request: HttpRequest | None = None
) -> None:
    if not actor.has_role(Role.ADMIN):
        raise InvitationError(_("Only owners and admins can revoke invitations."))
    invitation = Invitation.objects.filter(pk=invitation_id, accepted_at__isnull=True).first()
    if invitation is None:
        return
    invitation.delete()
    audit_record(
        action=AuditEvent.Action.INVITATION_REVOKED,
        tenant_id=invitation.tenant_id,
        actor_id=actor.user_id,
        target=invitation.email,
        request=request,
    )


# --- Sign-up and email verification ---------------------------------------------------------


class SignUpError(ServiceError):
    """A sign-up the rules refuse; ``fields`` names the form field concerned."""


EMAIL_TAKEN = gettext_lazy("An account with this email address already exists: sign in instead.")


@dataclass(frozen=True)
class SignedUp:
    user: User
    tenant: Tenant


@transaction.atomic
def user_sign_up(
    *, email: str, password: str, workspace_name: str, request: HttpRequest | None = None
) -> SignedUp:
    """A new account, unverified, owning a new workspace on the default (Free) plan, and the
    verification email sent once it all commits. The password is expected to have passed the
    validators already (the form runs them against the new user's attributes)."""
    email = User.objects.normalize_email(email.strip()).lower()
    workspace_name = workspace_name.strip()
    if not workspace_name:
        raise SignUpError(_("Name your workspace."), fields={"workspace_name": [_("required")]})
    taken = SignUpError(str(EMAIL_TAKEN), code="conflict", fields={"email": [str(EMAIL_TAKEN)]})
    if User.objects.filter(email__iexact=email).exists():
        raise taken
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password)
    except IntegrityError as error:  # the same address signing up at the same moment
        raise taken from error
    tenant = _tenant_for_sign_up(name=workspace_name[:200], owner_id=user.pk)
    audit_record(action=AuditEvent.Action.SIGNED_UP, tenant_id=tenant.pk, actor_id=user.pk,
                 target=email, request=request, details={"workspace": tenant.slug})
    email_verification_send(user=user, request=request)
    return SignedUp(user=user, tenant=tenant)


def _tenant_for_sign_up(*, name: str, owner_id: int) -> Tenant:
    # The free slug is read, then inserted: a concurrent sign-up may take it in between, so
    # try again (in a savepoint each time) with the next free one.
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return tenant_create(slug=tenant_slug_free(name=name), name=name,
                                     owner_id=owner_id)
        except IntegrityError:
            continue
    raise SignUpError(_("Could not reserve a workspace address; try again."), code="conflict")


def email_verification_link(*, user: User) -> str:
    """The path of ``user``'s verification link (valid for ``PASSWORD_RESET_TIMEOUT``)."""
    return reverse("accounts:email_verify", kwargs={
        "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
        "token": email_verification_token.make_token(user)})


def email_verification_send(*, user: User, request: HttpRequest | None = None) -> None:
    """Email ``user`` the link that verifies their address, once the transaction commits
    (the console email backend prints it locally). Nothing is sent for a verified address."""
    if user.email_verified_at is not None:
        return
    base_url = request.build_absolute_uri("/")[:-1] if request is not None else ""
    link = f"{base_url}{email_verification_link(user=user)}"
    recipient = user.email
    with translation.override(user.language or translation.get_language()):
        subject = _("Verify your email address")
        message = "\n\n".join([
            _("Welcome to the AI Platform."),
            _("Verify your email address: %(link)s") % {"link": link},
            _("The link expires in 3 days. Until then you can use your workspace, but not "
              "create API keys."),
        ])
    transaction.on_commit(lambda: send_mail(
        subject=subject,
        message=message,
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[recipient],
    ))


def email_verify(*, uidb64: str, token: str, request: HttpRequest | None = None) -> User | None:
    """Mark the address of the link's user verified; None for a bad, used or expired link.
    Runs before any tenant is known (the user may be signed out): users are not tenant rows."""
    try:
        user_id = int(urlsafe_base64_decode(uidb64).decode())
    except (ValueError, UnicodeDecodeError):
        return None
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user_id, is_active=True).first()
        if user is None or not email_verification_token.check_token(user, token):
            return None
        user.email_verified_at = timezone.now()
        user.save(update_fields=["email_verified_at"])
        audit_record(action=AuditEvent.Action.EMAIL_VERIFIED, actor_id=user.pk,
                     target=user.email, request=request)
    return user


# --- Preferences ----------------------------------------------------------------------------


def user_preferences_update(*, user: User, language: str | None = None,
                            time_zone: str | None = None) -> User:
    """Store the language and/or time zone ``user`` chose (None leaves one as it is); raises
    ValidationError naming the field for a language the platform lacks or an unknown zone.
    Only ``user``'s own row is written: callers pass ``request.user``, never an id from input."""
    changed: dict[str, str] = {}
    if language is not None:
        changed["language"] = language
    if time_zone is not None:
        changed["time_zone"] = time_zone
    for field, value in changed.items():
        setattr(user, field, value)
    user.full_clean(exclude=[f.name for f in User._meta.fields if f.name not in changed],
                    validate_unique=False, validate_constraints=False)
    if changed:
        user.save(update_fields=list(changed))
    return user
