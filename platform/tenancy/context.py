"""The current tenant, carried in a ``contextvars`` value.

Set at the start of a request (middleware) or a task (from the job it loads) and always
cleared in ``finally``. Tenant-owned managers and PostgreSQL row-level security both read it.
Staff-wide code (console, sweeper, invoicing) steps outside it with :func:`unscoped`, a name
chosen to be easy to grep for in review.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

_tenant_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("tenant_id", default=None)
_unscoped: contextvars.ContextVar[bool] = contextvars.ContextVar("unscoped", default=False)


class TenantContextMissing(RuntimeError):
    """A tenant-owned table was queried with no tenant in context (fail closed)."""


def current_tenant_id() -> int | None:
    return _tenant_id.get()


def is_unscoped() -> bool:
    return _unscoped.get()


def require_tenant_id() -> int:
    tenant_id = _tenant_id.get()
    if tenant_id is None:
        raise TenantContextMissing(
            "No tenant in context: set one with tenant_context() or opt out with unscoped()."
        )
    return tenant_id


@contextmanager
def tenant_context(tenant_id: int | None) -> Iterator[None]:
    """Run the block as ``tenant_id`` (``None`` clears the tenant for the block)."""
    token = _tenant_id.set(tenant_id)
    scope_token = _unscoped.set(False)
    try:
        yield
    finally:
        _unscoped.reset(scope_token)
        _tenant_id.reset(token)


@contextmanager
def unscoped() -> Iterator[None]:
    """Opt out of tenant scoping for staff-wide code: managers and RLS see every tenant."""
    token = _unscoped.set(True)
    try:
        yield
    finally:
        _unscoped.reset(token)
