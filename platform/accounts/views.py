"""Sign-up, email verification, sign-in, password reset and invitation pages.

Sign-in, sign-out and password reset are Django's own views, configured in ``urls.py``.

Sign-up signs the new owner in at once: an unverified account can use its workspace (and
follow the getting-started checklist) but cannot create API keys until the link of the
verification email is followed; every page says so in a banner with a resend button.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.utils.translation import override as translation_override
from django.views import i18n
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.forms import InvitationSignUpForm, PreferencesForm, SignUpForm
from accounts.models import User
from accounts.services import (
    InvitationError,
    SignUpError,
    email_verification_send,
    email_verify,
    invitation_accept,
    invitation_by_token,
    user_preferences_update,
    user_sign_up,
)
from tenancy.services import tenant_switch

BACKEND = "django.contrib.auth.backends.ModelBackend"

INVITATION_TEMPLATE = "accounts/invitation.html"


def invitation_accept_view(request: HttpRequest, token: str) -> HttpResponse:
    """One page for every situation the invitee can be in; see the template for each state."""
    invitation = invitation_by_token(token=token)
    if invitation is None:
        return render(request, "accounts/invitation_invalid.html", status=404)
    context = {"invitation": invitation}

    if request.user.is_authenticated:
        if request.user.email.lower() != invitation.email:
            return render(request, INVITATION_TEMPLATE, {**context, "state": "wrong_account"},
                          status=403)
        if request.method == "POST":
            try:
                invitation_accept(invitation=invitation, user=request.user, request=request)
            except InvitationError as error:
                messages.error(request, str(error))
            else:
                return _joined(request, invitation.tenant_id, invitation.tenant.name)
        return render(request, INVITATION_TEMPLATE, {**context, "state": "accept"})

    if User.objects.filter(email__iexact=invitation.email).exists():
        login_url = reverse("accounts:login") + "?" + urlencode({"next": request.path})
        return render(request, INVITATION_TEMPLATE,
                      {**context, "state": "sign_in", "login_url": login_url})

    form = InvitationSignUpForm(request.POST or None, email=invitation.email)
    if request.method == "POST" and form.is_valid():
        try:
            # One transaction: a failed acceptance must not leave an account behind.
            with transaction.atomic():
                user = form.save()
                invitation_accept(invitation=invitation, user=user, request=request)
        except InvitationError as error:
            form.add_error(None, str(error))
        else:
            login(request, user, backend=BACKEND)
            return _joined(request, invitation.tenant_id, invitation.tenant.name)
    return render(request, INVITATION_TEMPLATE, {**context, "state": "sign_up", "form": form})


def _joined(request: HttpRequest, tenant_id: int, tenant_name: str) -> HttpResponse:
    # Land the new member in the workspace they just joined, not in their previous one.
    tenant_switch(request=request, tenant_id=tenant_id)
    messages.success(request, _("Welcome to %(workspace)s.") % {"workspace": tenant_name})
    return redirect("dashboard:home")


@require_http_methods(["GET", "POST"])
def sign_up_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("dashboard:home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            signed_up = user_sign_up(email=form.cleaned_data["email"],
                                     password=form.cleaned_data["password1"],
                                     workspace_name=form.cleaned_data["workspace_name"],
                                     request=request)
        except SignUpError as error:
            for field, problems in error.fields.items():
                for problem in problems:
                    form.add_error(field if field in form.fields else None, problem)
            if not error.fields:
                form.add_error(None, str(error))
        else:
            login(request, signed_up.user, backend=BACKEND)
            # The language the person signed up in stays theirs in every browser.
            user_preferences_update(user=signed_up.user, language=get_language())
            tenant_switch(request=request, tenant_id=signed_up.tenant.pk)
            messages.success(request, _(
                "Welcome to %(workspace)s. We sent a link to %(email)s: follow it to verify "
                "your address.") % {"workspace": signed_up.tenant.name,
                                    "email": signed_up.user.email})
            return redirect("dashboard:home")
    return render(request, "accounts/signup.html", {"form": form},
                  status=400 if form.is_bound else 200)


@require_safe
def email_verify_view(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """Works signed in or out (the link may be opened in another browser)."""
    user = email_verify(uidb64=uidb64, token=token, request=request)
    if user is None:
        already = request.user.is_authenticated and request.user.email_verified_at is not None
        return render(request, "accounts/verify_invalid.html", {"already_verified": already},
                      status=200 if already else 404)
    messages.success(request, _("Thank you: %(email)s is verified.") % {"email": user.email})
    if request.user.is_authenticated and request.user.pk == user.pk:
        return redirect("dashboard:home")
    return redirect("accounts:login")


@require_POST
@login_required
def email_verification_resend_view(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if user.email_verified_at is None:
        email_verification_send(user=user, request=request)
        messages.success(request, _("We sent a new verification link to %(email)s.")
                         % {"email": user.email})
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        back = reverse("dashboard:home")
    return redirect(back)


@require_POST
def language_set_view(request: HttpRequest) -> HttpResponse:
    """Django's ``set_language`` (the cookie, the safe redirect to ``next``), and for a
    signed-in user the choice saved on their account, which the middleware applies."""
    response = i18n.set_language(request)
    language = request.POST.get("language", "")
    if request.user.is_authenticated and language in dict(settings.LANGUAGES):
        user_preferences_update(user=request.user, language=language)
    return response


@require_http_methods(["GET", "POST"])
@login_required
def preferences_view(request: HttpRequest) -> HttpResponse:
    """The signed-in user's own language and time zone: always ``request.user``'s row."""
    user: User = request.user  # type: ignore[assignment]
    form = PreferencesForm(request.POST or None, instance=user)
    if request.method == "POST" and form.is_valid():
        user = user_preferences_update(user=user, language=form.cleaned_data["language"],
                                       time_zone=form.cleaned_data["time_zone"])
        response = redirect("accounts:preferences")
        # The cookie follows the choice, so that pages before sign-in (and after sign-out)
        # keep it; blank hands the choice back to the browser.
        if user.language:
            response.set_cookie(settings.LANGUAGE_COOKIE_NAME, user.language,
                                samesite="Lax", max_age=settings.LANGUAGE_COOKIE_AGE)
        else:
            response.delete_cookie(settings.LANGUAGE_COOKIE_NAME)
        with translation_override(user.language or get_language()):
            messages.success(request, _("Your language and time zone are saved."))
        return response
    return render(request, "accounts/preferences.html", {"form": form},
                  status=400 if form.is_bound else 200)
