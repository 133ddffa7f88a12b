from __future__ import annotations

from django import template

from tenancy.models import Membership

register = template.Library()


@register.filter
def has_role(membership: Membership | None, minimum: str) -> bool:
    """``{% if current_membership|has_role:"admin" %}``: hides controls the role can't use."""
    return membership is not None and membership.has_role(minimum)
