"""What the write paths cost the shared HNSW index: the popularity prior is written only
where it changes (every rewritten item row is a new entry in the HNSW index)."""

from __future__ import annotations

from django.db import connection

from apps.recommendation.models import Item
from apps.recommendation.services import item_popularity_record
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
