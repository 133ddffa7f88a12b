"""Row-level security: the database itself refuses to show one tenant's rows to another."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.test import Client

from accounts.models import ApiKey
from tenancy.context import TenantContextMissing, tenant_context, unscoped
from tenancy.models import TenantOwnedModel
from tests.conftest import TenantSetup


def _raw_count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608  (fixed table names)
        return cursor.fetchone()[0]


def test_app_role_is_not_a_superuser_and_cannot_bypass_rls(db: None) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, False)


def test_every_tenant_owned_table_has_forced_rls(db: None) -> None:
    tables = [
        model._meta.db_table
        for model in apps.get_models()
        if issubclass(model, TenantOwnedModel)
    ]
    assert "accounts_apikey" in tables
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relrowsecurity AND relforcerowsecurity "
            "AND relname = ANY(%s)",
            [tables],
        )
        protected = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT tablename FROM pg_policies WHERE tablename = ANY(%s)", [tables])
        with_policy = {row[0] for row in cursor.fetchall()}
    assert protected == set(tables)
    assert with_policy == set(tables)


def test_raw_sql_without_tenant_sees_no_rows(acme: TenantSetup, globex: TenantSetup) -> None:
    assert _raw_count("accounts_apikey") == 0
    assert _raw_count("tenancy_membership") == 0


def test_raw_sql_with_tenant_sees_only_that_tenants_rows(
    acme: TenantSetup, globex: TenantSetup
) -> None:
    with tenant_context(acme.tenant.pk):
        with connection.cursor() as cursor:
            cursor.execute("SELECT DISTINCT tenant_id FROM accounts_apikey")
            assert [row[0] for row in cursor.fetchall()] == [acme.tenant.pk]
            cursor.execute("SELECT count(*) FROM accounts_apikey WHERE tenant_id = %s",
                           [globex.tenant.pk])
            assert cursor.fetchone()[0] == 0


def test_rls_refuses_writing_a_row_for_another_tenant(
    acme: TenantSetup, globex: TenantSetup
) -> None:
    from django.db import ProgrammingError

    with tenant_context(acme.tenant.pk), pytest.raises(ProgrammingError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE accounts_apikey SET tenant_id = %s WHERE id = %s",
                [globex.tenant.pk, acme.api_key.pk],
            )


def test_unscoped_sees_all_tenants(acme: TenantSetup, globex: TenantSetup) -> None:
    with unscoped():
        assert _raw_count("accounts_apikey") == 2
        assert ApiKey.objects.count() == 2


def test_manager_fails_closed_without_tenant(acme: TenantSetup) -> None:
    with pytest.raises(TenantContextMissing):
        list(ApiKey.objects.all())


def test_manager_scopes_to_current_tenant(acme: TenantSetup, globex: TenantSetup) -> None:
    with tenant_context(globex.tenant.pk):
        assert list(ApiKey.objects.values_list("tenant_id", flat=True)) == [globex.tenant.pk]
        assert not ApiKey.objects.filter(pk=acme.api_key.pk).exists()


def test_saving_a_row_for_another_tenant_raises(acme: TenantSetup, globex: TenantSetup) -> None:
    with tenant_context(globex.tenant.pk), unscoped():
        key = ApiKey.objects.get(pk=acme.api_key.pk)
    with tenant_context(globex.tenant.pk), pytest.raises(ValueError, match="other than"):
        key.save()


def test_tenant_setting_does_not_survive_into_the_next_request(
    acme: TenantSetup, settings: object
) -> None:
    """A request for tenant A on a persistent connection; the next, anonymous use of the same
    connection sees no tenant rows and the session setting is empty."""
    response = acme.api().get("/api/v1/me")
    assert response.status_code == 200
    connection_id = id(connection.connection)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('app.tenant_id', true)")
        assert cursor.fetchone()[0] in ("", None)
    assert _raw_count("accounts_apikey") == 0
    assert id(connection.connection) == connection_id  # the same, reused connection


def test_tenant_setting_is_reset_after_a_rolled_back_transaction(acme: TenantSetup) -> None:
    """set_config() inside a rolled-back transaction is undone by PostgreSQL; the backend must
    not believe the old value is still set."""
    with tenant_context(acme.tenant.pk):
        try:
            with transaction.atomic():
                assert _raw_count("accounts_apikey") == 1
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
        assert _raw_count("accounts_apikey") == 1
    assert _raw_count("accounts_apikey") == 0


def test_dashboard_request_does_not_leak_tenant_to_next_request(
    acme: TenantSetup, globex: TenantSetup
) -> None:
    assert acme.browser().get("/").status_code == 200
    response = Client().get("/api/v1/me")
    assert response.status_code == 401
    assert _raw_count("tenancy_membership") == 0


def test_failed_statement_in_savepoint_rolls_back_when_context_changed_inside(
    acme: TenantSetup,
) -> None:
    from django.db import ProgrammingError

    with pytest.raises(ProgrammingError), transaction.atomic():
        with tenant_context(acme.tenant.pk), connection.cursor() as cursor:
            cursor.execute("SELECT no_such_column FROM accounts_apikey")
    assert _raw_count("accounts_apikey") == 0
