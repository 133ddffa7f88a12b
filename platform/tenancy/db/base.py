"""PostgreSQL backend that keeps the session's row-level-security settings in step with the
tenant context.

Before any statement runs on a connection, the backend makes sure the session settings
``app.tenant_id`` and ``app.rls_bypass`` equal the current context. It remembers what it last
set, so a request costs one extra round trip only when the tenant changes, and forgets on a
rollback (which reverts ``set_config``) or a new connection. A reused connection therefore
never carries the previous request's or task's tenant into the next one: with no tenant in
context the settings are emptied and the policies show no rows.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper

from tenancy.context import current_tenant_id, is_unscoped

_SYNC_SQL = "SELECT set_config('app.tenant_id', %s, false), set_config('app.rls_bypass', %s, false)"


class _TenantSyncMixin:
    db: DatabaseWrapper
    cursor: Any

    def _sync(self) -> None:
        wanted = (str(current_tenant_id() or ""), "on" if is_unscoped() else "off")
        if self.db.rls_settings != wanted:
            self.cursor.execute(_SYNC_SQL, wanted)
            self.db.rls_settings = wanted

    def execute(self, sql: Any, params: Any = None) -> Any:
        self._sync()
        return super().execute(sql, params)  # type: ignore[misc]

    def executemany(self, sql: Any, param_list: Any) -> Any:
        self._sync()
        return super().executemany(sql, param_list)  # type: ignore[misc]

    def copy(self, statement: Any, params: Any = None) -> Any:
        """psycopg 3 ``COPY``; used by the bulk write-back helper."""
        self._sync()
        return self.cursor.copy(statement, params)


class TenantCursorWrapper(_TenantSyncMixin, CursorWrapper):
    pass


class TenantCursorDebugWrapper(_TenantSyncMixin, CursorDebugWrapper):
    pass


class DatabaseWrapper(base.DatabaseWrapper):
    rls_settings: tuple[str, str] | None = None

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        self.rls_settings = None
        return super().get_new_connection(conn_params)

    def make_cursor(self, cursor: Any) -> CursorWrapper:
        return TenantCursorWrapper(cursor, self)

    def make_debug_cursor(self, cursor: Any) -> CursorDebugWrapper:
        return TenantCursorDebugWrapper(cursor, self)

    def _rollback(self) -> None:
        self.rls_settings = None
        super()._rollback()  # type: ignore[misc]

    # Savepoint statements go straight to the driver: syncing the settings first would fail
    # inside an aborted transaction, which is exactly when a savepoint is rolled back.
    def _savepoint(self, sid: str) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(self.ops.savepoint_create_sql(sid))

    def _savepoint_rollback(self, sid: str) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(self.ops.savepoint_rollback_sql(sid))
        self.rls_settings = None

    def _savepoint_commit(self, sid: str) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(self.ops.savepoint_commit_sql(sid))

    def _close(self) -> None:
        self.rls_settings = None
        super()._close()  # type: ignore[misc]
