"""Merchandising rules of the recommendation app: per-tenant pins and boosts applied to every
served list (``selectors.rules_apply``)."""
