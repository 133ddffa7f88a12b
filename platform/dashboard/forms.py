from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Scope
from tenancy.models import Membership, Role


def add_service_error(form: forms.Form, error: Exception) -> None:
    """Put a service's refusal back on the form: each field it names gets its problems (others
    become form errors), so errors show next to the input they concern. ``error.fields`` maps
    field names to messages, as the applications' service errors do."""
    fields: dict[str, list[str]] = getattr(error, "fields", None) or {}
    if not fields:
        form.add_error(None, str(error))
    for name, problems in fields.items():
        for problem in problems:
            form.add_error(name if name in form.fields else None,
                           problem if name in form.fields else f"{name}: {problem}")


def grantable_roles(actor: Membership) -> list[tuple[str, str]]:
    """The roles ``actor`` may give; the tenancy services enforce the same rule."""
    return [(value, str(label)) for value, label in Role.choices
            if actor.role == Role.OWNER or value != Role.OWNER]


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("Email"),
                             widget=forms.EmailInput(attrs={"placeholder": "name@company.com"}))
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.MEMBER)

    def __init__(self, *args: Any, actor: Membership, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        role_field = self.fields["role"]
        assert isinstance(role_field, forms.ChoiceField)  # noqa: S101  (narrowing for mypy)
        role_field.choices = grantable_roles(actor)


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=100,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. Production backend")}))
    scopes = forms.MultipleChoiceField(label=_("Scopes"), choices=Scope.choices,
                                       initial=[Scope.READ],
                                       widget=forms.CheckboxSelectMultiple)
    expires_on = forms.DateField(
        required=False, label=_("Expires on"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Optional. The key stops working at the start of this day (UTC)."),
    )

    # The service reports bad input as ValueError("<field>: <message>").
    SERVICE_FIELDS = {"name": "name", "scopes": "scopes", "expires_at": "expires_on"}

    def expires_at(self) -> datetime | None:
        expires_on: date | None = self.cleaned_data.get("expires_on")
        if expires_on is None:
            return None
        return datetime.combine(expires_on, time.min, tzinfo=timezone.get_current_timezone())

    def add_service_error(self, error: ValueError) -> None:
        field, _, message = str(error).partition(": ")
        if message and field in self.SERVICE_FIELDS:
            self.add_error(self.SERVICE_FIELDS[field], message)
        else:  # e.g. "email: verify your email address ...": about the account, not a field
            text = message or str(error)
            self.add_error(None, text[:1].upper() + text[1:])
