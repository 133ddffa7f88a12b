"""Decimal helpers shared by billing: plain text for people and CSV, and money rounding."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.utils import numberformat
from django.utils.formats import get_format

CENT = Decimal("0.01")


def plain(value: Decimal) -> str:
    """``Decimal('800.000000')`` → ``'800'``, ``Decimal('0.500000')`` → ``'0.5'`` (never
    ``'8E+2'``)."""
    text = format(Decimal(value).normalize(), "f")
    return "0" if text == "-0" else text


def money(value: Decimal) -> Decimal:
    """Rounded to cents, half up (what an invoice shows and what is charged)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


BYTE_UNITS = ((Decimal(10**12), "TB"), (Decimal(10**9), "GB"), (Decimal(10**6), "MB"),
              (Decimal(10**3), "KB"))


def byte_size(value: Decimal | int | float) -> str:
    """Bytes for people, in decimal units as plans state them (1 GB = 10⁹ bytes):
    ``1_500_000_000`` → ``'1.5 GB'``, ``999`` → ``'999 B'``."""
    amount = Decimal(str(value))
    for size, unit in BYTE_UNITS:
        if abs(amount) >= size:
            return f"{plain(round(amount / size, 2 if abs(amount) < 10 * size else 1))} {unit}"
    return f"{plain(amount.quantize(Decimal(1)))} B"


def quantity(value: Decimal | int | float, *, is_bytes: bool = False) -> str:
    """A meter's quantity for people: bytes in KB/MB/GB, anything else grouped by thousands
    with at most two decimals (``1234.5`` → ``'1,234.5'``)."""
    if is_bytes:
        return byte_size(value)
    rounded = round(Decimal(str(value)), 2).normalize()
    # The active language's separators (config/formats), grouped whatever USE_THOUSAND_SEPARATOR.
    text = numberformat.format(rounded, get_format("DECIMAL_SEPARATOR"), grouping=get_format(
        "NUMBER_GROUPING"), thousand_sep=get_format("THOUSAND_SEPARATOR"), force_grouping=True)
    return "0" if text in ("-0", "0") else text
