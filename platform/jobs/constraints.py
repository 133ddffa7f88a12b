"""The composite foreign key of a job's result table, one migration line per table.

    operations = [..., JobResultForeignKey("prediction")]

``(tenant_id, job_id)`` references ``jobs_job (tenant_id, id)``, deferred to the end of the
transaction like Django's own keys (Django deletes a job's results before the job). Django
cannot declare a foreign key over two columns, hence this operation; ``jobs.models.JobResult``
says why the tables use one.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations


def constraint_name(table: str) -> str:
    return f"{table}_tenant_job_fk"


class JobResultForeignKey(migrations.operations.base.Operation):
    reversible = True
    reduces_to_sql = True

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any,
                          to_state: Any) -> None:
        table = to_state.apps.get_model(app_label, self.model_name)._meta.db_table
        jobs = to_state.apps.get_model("jobs", "Job")._meta.db_table
        quote = schema_editor.quote_name
        schema_editor.execute(
            f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(constraint_name(table))} "
            f"FOREIGN KEY (tenant_id, job_id) REFERENCES {quote(jobs)} (tenant_id, id) "
            "DEFERRABLE INITIALLY DEFERRED"
        )

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any,
                           to_state: Any) -> None:
        table = from_state.apps.get_model(app_label, self.model_name)._meta.db_table
        quote = schema_editor.quote_name
        schema_editor.execute(
            f"ALTER TABLE {quote(table)} DROP CONSTRAINT IF EXISTS {quote(constraint_name(table))}"
        )

    def describe(self) -> str:
        return f"Add the (tenant, job) foreign key of {self.model_name}"

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (self.__class__.__qualname__, [self.model_name], {})
