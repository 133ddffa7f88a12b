"""``dashboard.views.require_role``: the pages' one role check (the decorator's and the
in-view checks of a POST on a page that viewers may read)."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory

from dashboard.views import require_role
from tenancy.models import Role
from tests.conftest import TenantSetup


def test_require_role_words_the_refusal(acme: TenantSetup) -> None:
    request = RequestFactory().post("/")
    request.membership = acme.add_member(Role.VIEWER)  # type: ignore[attr-defined]
    with pytest.raises(PermissionDenied, match=r"^Your role cannot run jobs\.$"):
        require_role(request, Role.MEMBER, action="run jobs")
    with pytest.raises(PermissionDenied, match=r"^Only owners and admins can do this\.$"):
        require_role(request, Role.ADMIN)
    require_role(request, Role.VIEWER)  # enough: no refusal
