"""The (tenant, job) key of a job's result table, checked once per statement, not per row.

    operations = [..., JobResultKey("prediction")]

What a foreign key ``(tenant_id, job_id) REFERENCES jobs_job (tenant_id, id)`` would enforce,
by statement-level triggers over the statement's transition tables:

- an ``INSERT`` or ``UPDATE`` of results fails when one of its (tenant, job) pairs is not a
  job; the jobs it names are locked ``FOR KEY SHARE`` (as a foreign key's check does), so a
  concurrent delete of one waits for this transaction and then sees its rows;
- a ``DELETE`` of jobs fails while results still name one of them (Django deletes a job's
  results first, as it does for its own keys);
- a job's (tenant, id) never changes (``jobs_job_key_immutable``, added by ``jobs`` 0002).

A foreign key checks each row with an index probe: 100,000 written results meant 100,000
probes of the same job, about half of a bulk write's time (``bench/writeback.py``). Here a
statement checks its distinct pairs, usually one. The checks run as the session's role, under
row-level security: the rows pass the table's policy only for the context tenant, whose jobs
are the ones visible, so a row naming another tenant's job fails as a missing job.

``jobs.models.JobResult`` declares the columns (without Django's own constraints);
``tests/jobs/test_services.py`` checks every such table has these triggers.
"""

from __future__ import annotations

from typing import Any

from config.schema_operations import TableOperation

CHECK_FUNCTION = "jobs_result_job_exists"
DELETE_FUNCTION = "jobs_job_results_absent"

# The functions are shared by all result tables; ``CREATE OR REPLACE`` keeps each table's
# migration self-contained. (Executed without parameters: ``%`` is PL/pgSQL's.)
FUNCTIONS_SQL = """
CREATE OR REPLACE FUNCTION jobs_result_job_exists() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing record;
BEGIN
    SELECT n.tenant_id, n.job_id INTO missing
    FROM (SELECT DISTINCT tenant_id, job_id FROM new_rows) AS n
    LEFT JOIN (
        SELECT j.tenant_id, j.id FROM jobs_job AS j
        WHERE (j.tenant_id, j.id) IN (SELECT tenant_id, job_id FROM new_rows)
        FOR KEY SHARE OF j
    ) AS found ON found.tenant_id = n.tenant_id AND found.id = n.job_id
    WHERE found.id IS NULL
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "%" violates its (tenant, job) key',
                        TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key (tenant_id, job_id)=(%s, %s) is not present in table '
                                  '"jobs_job".', missing.tenant_id, missing.job_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION jobs_job_results_absent() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    named record;
BEGIN
    EXECUTE format(
        'SELECT o.tenant_id, o.id FROM old_rows AS o WHERE EXISTS '
        '(SELECT 1 FROM %I AS r WHERE r.tenant_id = o.tenant_id AND r.job_id = o.id) LIMIT 1',
        TG_ARGV[0]) INTO named;
    IF named IS NOT NULL THEN
        RAISE EXCEPTION 'delete on table "jobs_job" violates the (tenant, job) key of "%"',
                        TG_ARGV[0]
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key (tenant_id, id)=(%s, %s) is still referenced from '
                                  'table "%s".', named.tenant_id, named.id, TG_ARGV[0]);
    END IF;
    RETURN NULL;
END
$$;
"""

# Statements one by one (``RunSQL`` runs a list's items as they are, without splitting).
IMMUTABLE_KEY_SQL = [
    """CREATE OR REPLACE FUNCTION jobs_job_key_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a job''s (tenant_id, id) cannot change'
        USING ERRCODE = 'foreign_key_violation';
END
$$""",
    """CREATE TRIGGER jobs_job_key_immutable BEFORE UPDATE OF tenant_id, id ON jobs_job
    FOR EACH ROW
    WHEN (OLD.tenant_id IS DISTINCT FROM NEW.tenant_id OR OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION jobs_job_key_immutable()""",
]

IMMUTABLE_KEY_REVERSE_SQL = [
    "DROP TRIGGER IF EXISTS jobs_job_key_immutable ON jobs_job",
    "DROP FUNCTION IF EXISTS jobs_job_key_immutable()",
]


def trigger_names(table: str) -> dict[str, str]:
    """The triggers of ``table``'s key: on the table itself (insert, update) and on jobs."""
    return {"insert": f"{table}_job_key_insert", "update": f"{table}_job_key_update",
            "delete": f"{table}_job_key_delete"}


class JobResultKey(TableOperation):
    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any,
                          to_state: Any) -> None:
        table = self.table(to_state, app_label, self.model_name)
        jobs = self.table(to_state, "jobs", "Job")
        quote, names = schema_editor.quote_name, trigger_names(table)
        schema_editor.execute(FUNCTIONS_SQL, None)
        for event in ("insert", "update"):
            schema_editor.execute(
                f"CREATE TRIGGER {quote(names[event])} AFTER {event.upper()} ON {quote(table)} "
                f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
                f"EXECUTE FUNCTION {CHECK_FUNCTION}()"
            )
        schema_editor.execute(
            f"CREATE TRIGGER {quote(names['delete'])} AFTER DELETE ON {quote(jobs)} "
            f"REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
            f"EXECUTE FUNCTION {DELETE_FUNCTION}('{table}')"
        )

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any,
                           to_state: Any) -> None:
        table = self.table(from_state, app_label, self.model_name)
        jobs = self.table(from_state, "jobs", "Job")
        quote, names = schema_editor.quote_name, trigger_names(table)
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {quote(names['delete'])} ON {quote(jobs)}")
        for event in ("insert", "update"):
            schema_editor.execute(
                f"DROP TRIGGER IF EXISTS {quote(names[event])} ON {quote(table)}")

    def describe(self) -> str:
        return f"Check the (tenant, job) key of {self.model_name} per statement"
