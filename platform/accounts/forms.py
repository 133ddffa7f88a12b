from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.contrib.auth.forms import (
    AuthenticationForm,
    BaseUserCreationForm,
    PasswordResetForm,
    SetPasswordForm,
)
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts import throttle
from accounts.models import User, time_zone_names
from accounts.services import EMAIL_TAKEN
from audit.models import AuditEvent
from audit.services import audit_record
from config.clientaddr import client_address


class SignInForm(AuthenticationForm):
    """Django's sign-in form, labelled for an email login."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"] = forms.EmailField(
            label=_("Email"),
            widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
        )
        self.error_messages["invalid_login"] = _("That email and password don't match an account.")


class InvitationSignUpForm(BaseUserCreationForm):
    """Creates the account for an invited email address.

    The email comes from the invitation, never from the form, so the account can only be
    created for the address that was invited. It is set on the instance before validation so
    that the password validators can compare the password with it.
    """

    class Meta:
        model = User
        fields = ("first_name",)

    def __init__(self, *args: Any, email: str, **kwargs: Any) -> None:
        super().__init__(*args, instance=User(email=email), **kwargs)
        self.fields["first_name"].required = True
        self.fields["first_name"].widget.attrs.update(autofocus=True, autocomplete="given-name")


class SignUpForm(BaseUserCreationForm):
    """Self-service sign-up: email, password (twice, through the password validators) and
    the name of the workspace the person will own. The form only validates; the account and
    the workspace are created by ``accounts.services.user_sign_up``."""

    workspace_name = forms.CharField(
        label=_("Workspace name"), max_length=200,
        help_text=_("Your company or team; you can invite others to it later."),
        widget=forms.TextInput(attrs={"autocomplete": "organization"}))

    class Meta:
        model = User
        fields = ("email",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].widget.attrs.update(autofocus=True, autocomplete="email")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(EMAIL_TAKEN)
        return email

    def clean_workspace_name(self) -> str:
        name: str = self.cleaned_data["workspace_name"].strip()
        if not name:
            raise forms.ValidationError(_("Name your workspace."))
        return name

    def validate_unique(self) -> None:
        pass  # clean_email checks the address case-insensitively, with a clearer message


class ThrottledSignInForm(SignInForm):
    """The sign-in form with the account and address throttles (``accounts.throttle``):
    checked before the password, so a locked account learns nothing from a right guess."""

    def clean(self) -> dict[str, Any]:
        email = str(self.cleaned_data.get("username") or "")
        address = client_address(self.request) if self.request is not None else ""
        lock = throttle.sign_in_lock(email=email, address=address)
        if lock is not None:
            audit_record(action=AuditEvent.Action.SIGN_IN_LOCKED, target=email,
                         request=self.request, details={"scope": lock.scope})
            if lock.scope == "account":
                message = ngettext(
                    "Too many failed attempts for this account. Try again in %(minutes)d "
                    "minute, or reset your password to unlock it now.",
                    "Too many failed attempts for this account. Try again in %(minutes)d "
                    "minutes, or reset your password to unlock it now.", lock.minutes)
            else:
                message = ngettext(
                    "Too many failed sign-ins from your network. Try again in %(minutes)d "
                    "minute.",
                    "Too many failed sign-ins from your network. Try again in %(minutes)d "
                    "minutes.", lock.minutes)
            raise forms.ValidationError(message, code="locked",
                                        params={"minutes": lock.minutes})
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            if email:
                throttle.sign_in_failed(email=email, address=address)
            raise
        throttle.sign_in_clear(email=email)
        return cleaned


class ThrottledPasswordResetForm(PasswordResetForm):
    """Sends the reset email only within the throttles; the page reads the same either way
    (it never tells whether an account exists, nor whether a limit was reached)."""

    def save(self, *args: Any, **kwargs: Any) -> None:
        # PasswordResetView passes keywords only; the request is one of them.
        request: HttpRequest | None = kwargs.get("request")
        email = self.cleaned_data["email"]
        address = client_address(request) if request is not None else ""
        sent = throttle.password_reset_allowed(email=email, address=address)
        audit_record(action=AuditEvent.Action.PASSWORD_RESET_REQUESTED, target=email,
                     request=request, details={"sent": sent})
        if sent:
            super().save(*args, **kwargs)


class UnlockingSetPasswordForm(SetPasswordForm):
    """Setting a new password from a reset link also lifts a sign-in lock on the account."""

    def save(self, commit: bool = True) -> Any:
        user = super().save(commit=commit)
        throttle.sign_in_clear(email=user.email)
        return user


class PreferencesForm(forms.ModelForm):
    """The signed-in user's language and time zone (accounts.services.user_preferences_update
    stores them; the model's validator checks the zone against zoneinfo as well)."""

    time_zone = forms.ChoiceField(label=_("Time zone"), choices=())

    class Meta:
        model = User
        fields = ("language", "time_zone")
        labels: ClassVar = {"language": _("Language")}
        help_texts: ClassVar = {
            "language": _("Blank: the language of your browser."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        zone_field = self.fields["time_zone"]
        assert isinstance(zone_field, forms.ChoiceField)  # noqa: S101  (narrowing for mypy)
        zone_field.choices = [(name, name) for name in time_zone_names()]
        zone_field.help_text = _("Dates and times on every page are shown in this zone.")
