from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm, BaseUserCreationForm

from accounts.models import User


class SignInForm(AuthenticationForm):
    """Django's sign-in form, labelled for an email login."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"] = forms.EmailField(
            label="Email",
            widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
        )
        self.error_messages["invalid_login"] = "That email and password don't match an account."


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
