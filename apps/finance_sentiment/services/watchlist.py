"""Writes of the watchlist: the tickers a tenant follows, with the company name and aliases
that ingestion matches in text (``tickers.py``; the matcher is built by
``selectors.ticker_matcher``).

Tickers are normalised (upper case, ``$`` dropped) and unique per tenant: a duplicate is a
``FinanceError`` on the ``ticker`` field, never an ``IntegrityError``. Changing the watchlist
never rewrites stored documents: they keep the tickers they were given when ingested, and
removing a ticker keeps its documents, rollups and alerts.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from apps.finance_sentiment.models import WatchlistEntry
from apps.finance_sentiment.services.errors import FinanceError
from apps.finance_sentiment.tickers import normalise_ticker


def _clean_ticker(value: str, field_name: str = "ticker") -> str:
    ticker = normalise_ticker(value or "")
    if ticker is None:
        raise FinanceError(_("'%(value)s' is not a ticker symbol.") % {"value": value},
                           fields={field_name: [_("use letters, digits, '.' or '-', starting "
                                                  "with a letter or digit, at most 16")]})
    return ticker


def _clean_aliases(aliases: Iterable[str]) -> list[str]:
    cleaned: list[str] = []
    for alias in aliases:
        alias = " ".join(str(alias).split())
        if len(alias) > 200:
            raise FinanceError(_("An alias is too long."),
                               fields={"aliases": [_("at most 200 characters each")]})
        if alias and alias.lower() not in {existing.lower() for existing in cleaned}:
            cleaned.append(alias)
    if len(cleaned) > 50:
        raise FinanceError(_("Too many aliases."), fields={"aliases": [_("at most 50")]})
    return cleaned


@transaction.atomic
def watchlist_entry_create(*, ticker: str, company_name: str = "",
                           aliases: Iterable[str] = ()) -> WatchlistEntry:
    """Add a ticker to the watchlist. Documents ingested from now on are matched against it;
    documents already stored keep the tickers they were given."""
    entry = WatchlistEntry(ticker=_clean_ticker(ticker), company_name=company_name.strip(),
                           aliases=_clean_aliases(aliases))
    return _entry_save(entry)


@transaction.atomic
def watchlist_entry_update(*, entry: WatchlistEntry, changes: dict[str, Any]) -> WatchlistEntry:
    if "ticker" in changes:
        entry.ticker = _clean_ticker(changes["ticker"])
    if "company_name" in changes:
        entry.company_name = changes["company_name"].strip()
    if "aliases" in changes:
        entry.aliases = _clean_aliases(changes["aliases"])
    return _entry_save(entry)


def _entry_save(entry: WatchlistEntry) -> WatchlistEntry:
    """Save ``entry``, refusing a ticker already on the watchlist (its unique key)."""
    try:
        with transaction.atomic():
            entry.save()
    except IntegrityError:
        raise FinanceError(_("%(ticker)s is already on the watchlist.") % {"ticker": entry.ticker},
                           fields={"ticker": [_("already on the watchlist")]}) from None
    return entry


@transaction.atomic
def watchlist_entry_delete(*, entry: WatchlistEntry) -> None:
    """Remove the ticker from the watchlist; its documents, rollups and alerts stay."""
    entry.delete()

