"""A base for migration operations that change one model's table in the database only
(row-level security, triggers): no state of their own, written in a migration by the model's
name.

    operations = [..., EnableRowLevelSecurity("apikey"), JobResultKey("prediction")]
"""

from __future__ import annotations

from typing import Any

from django.db import migrations


class TableOperation(migrations.operations.base.Operation):
    reversible = True
    reduces_to_sql = True

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    @staticmethod
    def table(state: Any, app_label: str, model_name: str) -> str:
        """A model's table name as of ``state``."""
        return str(state.apps.get_model(app_label, model_name)._meta.db_table)

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (self.__class__.__qualname__, [self.model_name], {})
