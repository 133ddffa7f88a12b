"""Which tickers a text is about: pure functions, no database.

A document's tickers are the union of

- the tickers the sender gave explicitly;
- cashtags (``$AAPL``, ``$brk.b``): any symbol, on the watchlist or not; a ``$`` followed by a
  digit is money, not a cashtag;
- watchlist symbols written as whole words. Symbols of up to four characters match
  case-sensitively (``ON``, ``IT``, ``ALL`` are words too; "on" is not onsemi), longer ones in
  any case; one-letter symbols (``F``, ``T``) only as cashtags, since "A" starts sentences;
- the watchlist's company names and aliases, in any case, as whole words ("Apple's" counts,
  "Pineapple" does not).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

TICKER_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9.\-]{0,15}$")
CASHTAG_PATTERN = re.compile(r"(?<![\w$])\$([A-Za-z][A-Za-z0-9]{0,9}(?:[.\-][A-Za-z]{1,2})?)\b")
CASE_SENSITIVE_MAX_LENGTH = 4
# A word boundary that also works next to symbols such as "&" or "." inside a name.
_BEFORE = r"(?<![0-9A-Za-z_])"
_AFTER = r"(?![0-9A-Za-z_])"


def normalise_ticker(value: str) -> str | None:
    """The canonical (upper-case) form of a ticker, or None when it is not a valid symbol."""
    ticker = value.strip().lstrip("$").upper()
    return ticker if TICKER_PATTERN.match(ticker) else None


def cashtags(text: str) -> set[str]:
    return {match.upper() for match in CASHTAG_PATTERN.findall(text)
            if TICKER_PATTERN.match(match.upper())}


@dataclass(frozen=True)
class WatchItem:
    ticker: str
    company_name: str = ""
    aliases: tuple[str, ...] = ()


def _alternation(words: Iterable[str]) -> str:
    # Longest first, so that "Apple Inc" wins over "Apple" where both are listed.
    return "|".join(re.escape(word) for word in sorted(set(words), key=lambda w: (-len(w), w)))


@dataclass
class TickerMatcher:
    """Compiled once per watchlist (one regex per case rule), then applied to many texts."""

    symbols: dict[str, str] = field(default_factory=dict)  # exact symbol -> ticker
    folded: dict[str, str] = field(default_factory=dict)  # lower-cased name or symbol -> ticker
    _exact: re.Pattern[str] | None = None
    _any_case: re.Pattern[str] | None = None

    @classmethod
    def build(cls, watchlist: Iterable[WatchItem]) -> TickerMatcher:
        matcher = cls()
        for item in watchlist:
            ticker = item.ticker
            if 1 < len(ticker) <= CASE_SENSITIVE_MAX_LENGTH:
                matcher.symbols[ticker] = ticker
            elif len(ticker) > CASE_SENSITIVE_MAX_LENGTH:
                matcher.folded.setdefault(ticker.lower(), ticker)
            for name in (item.company_name, *item.aliases):
                name = " ".join(name.split())
                if len(name) >= 2:
                    matcher.folded.setdefault(name.lower(), ticker)
        if matcher.symbols:
            matcher._exact = re.compile(f"{_BEFORE}(?:{_alternation(matcher.symbols)}){_AFTER}")
        if matcher.folded:
            # Names may be written with any run of spaces between their words.
            names = _alternation(matcher.folded).replace(r"\ ", r"\s+")
            matcher._any_case = re.compile(f"{_BEFORE}(?:{names}){_AFTER}", re.IGNORECASE)
        return matcher

    def find(self, text: str) -> set[str]:
        found: set[str] = set()
        if self._exact is not None:
            found.update(self.symbols[match] for match in self._exact.findall(text))
        if self._any_case is not None:
            for match in self._any_case.findall(text):
                ticker = self.folded.get(" ".join(match.split()).lower())
                if ticker is not None:
                    found.add(ticker)
        return found


def extract_tickers(*, text: str, explicit: Iterable[str] = (),
                    matcher: TickerMatcher | None = None) -> list[str]:
    """Sorted tickers of a text: explicit ones (already validated), cashtags and watchlist
    matches."""
    found = {ticker for ticker in (normalise_ticker(value) for value in explicit) if ticker}
    found |= cashtags(text)
    if matcher is not None:
        found |= matcher.find(text)
    return sorted(found)
