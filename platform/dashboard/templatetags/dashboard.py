from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import template

from tenancy.models import Membership

register = template.Library()


@register.filter
def has_role(membership: Membership | None, minimum: str) -> bool:
    """``{% if current_membership|has_role:"admin" %}``: hides controls the role can't use."""
    return membership is not None and membership.has_role(minimum)


@register.filter
def entries(mapping: Any) -> list[tuple[Any, Any]]:
    """``{% for key, value in event.data|entries %}``: a mapping's pairs. Never write
    ``event.data.items`` for data whose keys users or jobs choose: the template language looks
    the key ``items`` up first, so a metric named ``items`` broke the page."""
    return list(mapping.items()) if isinstance(mapping, Mapping) else []
