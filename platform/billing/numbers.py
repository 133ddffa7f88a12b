"""Decimal helpers shared by billing: plain text for people and CSV, and money rounding."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def plain(value: Decimal) -> str:
    """``Decimal('800.000000')`` → ``'800'``, ``Decimal('0.500000')`` → ``'0.5'`` (never
    ``'8E+2'``)."""
    text = format(Decimal(value).normalize(), "f")
    return "0" if text == "-0" else text


def money(value: Decimal) -> Decimal:
    """Rounded to cents, half up (what an invoice shows and what is charged)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)
