"""Row-level security for tenant-owned tables, one migration line per table.

    operations = [..., EnableRowLevelSecurity("apikey")]

The policy admits a row when its ``tenant_id`` equals the session setting ``app.tenant_id``
(kept in step with the tenant context by ``tenancy.db``) or when staff-wide code opted out
with ``unscoped()`` (``app.rls_bypass = 'on'``). ``FORCE`` applies it to the table owner too,
which is the role the application connects as.
"""

from __future__ import annotations

from typing import Any

from config.schema_operations import TableOperation

POLICY_NAME = "tenant_isolation"

_PREDICATE = (
    "current_setting('app.rls_bypass', true) = 'on' "
    "OR tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::bigint"
)


class EnableRowLevelSecurity(TableOperation):
    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any,
                          to_state: Any) -> None:
        table = schema_editor.quote_name(self.table(to_state, app_label, self.model_name))
        schema_editor.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        schema_editor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        schema_editor.execute(
            f"CREATE POLICY {POLICY_NAME} ON {table} USING ({_PREDICATE}) WITH CHECK ({_PREDICATE})"
        )

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any,
                           to_state: Any) -> None:
        table = schema_editor.quote_name(self.table(from_state, app_label, self.model_name))
        schema_editor.execute(f"DROP POLICY IF EXISTS {POLICY_NAME} ON {table}")
        schema_editor.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        schema_editor.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")

    def describe(self) -> str:
        return f"Enable row-level security on {self.model_name}"
