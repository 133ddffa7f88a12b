"""Ticker extraction: explicit tickers, cashtags, watchlist symbols and company names."""

from __future__ import annotations

import pytest

from apps.finance_sentiment.tickers import (
    TickerMatcher,
    WatchItem,
    cashtags,
    extract_tickers,
    normalise_ticker,
)

WATCHLIST = [
    WatchItem("AAPL", "Apple", ("Apple Inc", "iPhone maker")),
    WatchItem("ON", "onsemi", ()),
    WatchItem("F", "Ford Motor", ("Ford",)),
    WatchItem("GOOGL", "Alphabet", ("Google",)),
    WatchItem("T", "AT&T", ()),
    WatchItem("BRK.B", "Berkshire Hathaway", ()),
]


@pytest.fixture
def matcher() -> TickerMatcher:
    return TickerMatcher.build(WATCHLIST)


def test_normalise_ticker() -> None:
    assert normalise_ticker(" aapl ") == "AAPL"
    assert normalise_ticker("$msft") == "MSFT"
    assert normalise_ticker("brk.b") == "BRK.B"
    assert normalise_ticker("7203.T") == "7203.T"
    for invalid in ("", "AA PL", "-X", "TOOLONGTICKERSYMBOL", "A/B", "$"):
        assert normalise_ticker(invalid) is None


def test_cashtags_are_symbols_after_a_dollar_not_amounts() -> None:
    text = "$TSLA and $brk.b rally; $5B deal, US$AAPL, costs $100, ($NVDA)."
    assert cashtags(text) == {"TSLA", "BRK.B", "NVDA"}


def test_explicit_tickers_are_kept_even_if_not_mentioned(matcher: TickerMatcher) -> None:
    assert extract_tickers(text="Markets were calm.", explicit=["msft", "$AMZN"],
                           matcher=matcher) == ["AMZN", "MSFT"]


def test_short_symbols_are_case_sensitive_whole_words(matcher: TickerMatcher) -> None:
    assert extract_tickers(text="AAPL rises while ON slips", matcher=matcher) == ["AAPL", "ON"]
    assert extract_tickers(text="Shares went on rising; aapl is lower case", matcher=matcher) == []
    assert extract_tickers(text="AAPLX and XON are other words", matcher=matcher) == []
    assert extract_tickers(text="AAPL's results, (ON)", matcher=matcher) == ["AAPL", "ON"]


def test_long_symbols_match_in_any_case(matcher: TickerMatcher) -> None:
    assert extract_tickers(text="googl is up", matcher=matcher) == ["GOOGL"]


def test_one_letter_symbols_only_as_cashtags(matcher: TickerMatcher) -> None:
    assert extract_tickers(text="A new report. F grade. T is a letter.", matcher=matcher) == []
    assert extract_tickers(text="$F and $T move", matcher=matcher) == ["F", "T"]


def test_company_names_and_aliases_any_case_word_boundaries(matcher: TickerMatcher) -> None:
    assert extract_tickers(text="apple inc beats estimates", matcher=matcher) == ["AAPL"]
    assert extract_tickers(text="The iPhone   maker's quarter", matcher=matcher) == ["AAPL"]
    assert extract_tickers(text="Pineapple prices and applesauce", matcher=matcher) == []
    assert extract_tickers(text="GOOGLE and ford cut jobs", matcher=matcher) == ["F", "GOOGL"]
    assert extract_tickers(text="AT&T raises its dividend", matcher=matcher) == ["T"]
    assert extract_tickers(text="Berkshire Hathaway buys", matcher=matcher) == ["BRK.B"]


def test_everything_together_sorted_and_unique(matcher: TickerMatcher) -> None:
    text = "$AAPL: Apple and Alphabet (GOOGL) vs $TSLA; AAPL again"
    assert extract_tickers(text=text, explicit=["tsla"], matcher=matcher) == [
        "AAPL", "GOOGL", "TSLA"]


def test_no_watchlist_still_finds_cashtags() -> None:
    assert extract_tickers(text="$IBM up, Apple down") == ["IBM"]
    assert TickerMatcher.build([]).find("AAPL Apple") == set()
