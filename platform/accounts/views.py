"""Sign-in, password reset and invitation pages.

Sign-in, sign-out and password reset are Django's own views, configured in ``urls.py``;
only invitation acceptance needs a view of its own.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode

from accounts.forms import InvitationSignUpForm
from accounts.models import User
from accounts.services import InvitationError, invitation_accept, invitation_by_token
from tenancy.services import tenant_switch

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
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return _joined(request, invitation.tenant_id, invitation.tenant.name)
    return render(request, INVITATION_TEMPLATE, {**context, "state": "sign_up", "form": form})


def _joined(request: HttpRequest, tenant_id: int, tenant_name: str) -> HttpResponse:
    # Land the new member in the workspace they just joined, not in their previous one.
    tenant_switch(request=request, tenant_id=tenant_id)
    messages.success(request, f"Welcome to {tenant_name}.")
    return redirect("dashboard:home")
