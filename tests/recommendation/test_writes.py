"""What the write paths cost the shared HNSW index and the serving path: the popularity prior
is written only where it changes (every rewritten item row is a new entry in the HNSW
index), and a served list's impressions commit without waiting for the disk."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.recommendation.models import Impression, Item
from apps.recommendation.services import impressions_log, item_popularity_record
from tenancy.context import tenant_context
from tests.conftest import TenantSetup
from tests.recommendation.conftest import add_items, item_row


def _versions() -> dict[str, tuple[str, float]]:
    """Each item's row version (its ``ctid`` changes whenever the row is rewritten) and
    popularity."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT external_id, ctid::text, popularity "  # noqa: S608
                       f"FROM {Item._meta.db_table}")
        return {external_id: (ctid, popularity) for external_id, ctid, popularity in cursor}


def test_popularity_is_written_only_where_it_changes(acme: TenantSetup) -> None:
    items = add_items(acme, [item_row("a"), item_row("b"), item_row("c"), item_row("d")])
    with tenant_context(acme.tenant.pk):
        before = _versions()
        assert item_popularity_record(popularity={items["a"].pk: 2.0,
                                                  items["b"].pk: 1.0}) == 2
        first = _versions()
        assert {key: value for key, (_, value) in first.items()} == {
            "a": 2.0, "b": 1.0, "c": 0.0, "d": 0.0}
        # Items that stay at zero are not rewritten.
        assert first["c"] == before["c"]
        assert first["d"] == before["d"]
        # The same prior again writes nothing.
        assert item_popularity_record(popularity={items["a"].pk: 2.0,
                                                  items["b"].pk: 1.0}) == 0
        assert _versions() == first
        # A new prior: b drops out (reset to zero), a changes, c comes in, d is untouched.
        assert item_popularity_record(popularity={items["a"].pk: 3.0,
                                                  items["c"].pk: 0.5}) == 3
        second = _versions()
        assert {key: value for key, (_, value) in second.items()} == {
            "a": 3.0, "b": 0.0, "c": 0.5, "d": 0.0}
        assert second["d"] == before["d"]
        assert all(second[key][0] != first[key][0] for key in ("a", "b", "c"))


def test_popularity_never_touches_another_tenants_items(acme: TenantSetup,
                                                        globex: TenantSetup) -> None:
    ours = add_items(acme, [item_row("a")])
    theirs = add_items(globex, [item_row("g")])
    with tenant_context(globex.tenant.pk):
        item_popularity_record(popularity={theirs["g"].pk: 5.0})
    with tenant_context(acme.tenant.pk):
        # Globex's item id in acme's prior is not acme's item: nothing is written to it.
        assert item_popularity_record(popularity={ours["a"].pk: 1.0,
                                                  theirs["g"].pk: 9.0}) == 1
    with tenant_context(globex.tenant.pk):
        assert Item.objects.get().popularity == 5.0


@pytest.mark.django_db(transaction=True)
def test_impressions_commit_asynchronously_in_their_own_transaction_only(
        acme: TenantSetup) -> None:
    items = add_items(acme, [item_row("a"), item_row("b")])
    ids = [items["a"].pk, items["b"].pk]
    with tenant_context(acme.tenant.pk):
        with CaptureQueriesContext(connection) as queries:
            request_id = impressions_log(user_external_id="u1", item_ids=ids, source="popular")
        statements = [query["sql"] for query in queries.captured_queries]
        insert = next(n for n, sql in enumerate(statements) if sql.startswith("INSERT"))
        # Switched off inside the transaction that writes the rows, and only there.
        assert statements.index("SET LOCAL synchronous_commit = off") < insert
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone() == ("on",)
        assert list(Impression.objects.filter(request_id=request_id).order_by("position")
                    .values_list("item_id", flat=True)) == ids
        # Inside a caller's transaction the caller's other writes keep their durability.
        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
            impressions_log(user_external_id="u2", item_ids=ids, source="popular")
        assert not any("synchronous_commit" in query["sql"]
                       for query in queries.captured_queries)
        assert Impression.objects.filter(user_external_id="u2").count() == 2
