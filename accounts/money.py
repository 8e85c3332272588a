"""Money is an integer count of micros (1/1,000,000 of the currency unit), never a float.

Advertisers each have one ISO 4217 currency. Amounts typed by people are parsed here with Decimal,
limited to the currency's minor units (no 0.001 USD, no 0.5 JPY), and turned into micros.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import cache

from babel.numbers import format_currency, get_currency_precision, list_currencies
from django.core.exceptions import ValidationError

MICROS_PER_UNIT = 1_000_000
THOUSANDS = re.compile(r"-?\d{1,3}(,\d{3})+(\.\d*)?")
# The largest amount accepted anywhere (budgets, bids, floors): 1 billion currency units. Larger
# numbers are typing mistakes, and this keeps every sum of a day's spend far inside a bigint.
MAX_MICROS = 1_000_000_000 * MICROS_PER_UNIT


@cache
def currency_codes() -> frozenset[str]:
    # Babel also lists historic and fund codes (XAU, XDR...); keep those a person can be billed in.
    return frozenset(code for code in list_currencies() if not code.startswith("X") and len(code) == 3)


def currency_choices() -> list[tuple[str, str]]:
    return [(code, code) for code in sorted(currency_codes())]


def validate_currency(code: str) -> None:
    if code not in currency_codes():
        raise ValidationError(f"{code!r} is not an ISO 4217 currency code.", code="invalid_currency")


def minor_units(currency: str) -> int:
    return get_currency_precision(currency)


def validate_micros(value: int, *, allow_zero: bool = False) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError("Amounts are whole micros.", code="not_integer")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValidationError("The amount must be greater than zero.", code="not_positive")
    if value > MAX_MICROS:
        raise ValidationError("The amount is too large.", code="too_large")


def parse_amount(text: str | Decimal | int, currency: str, *, allow_zero: bool = False) -> int:
    """'12.50' in USD -> 12_500_000 micros. Refuses more decimals than the currency has."""
    raw = str(text).strip()
    if "," in raw:
        # Only as a thousands separator ("1,250.00"); "12,50" is ambiguous and refused, not guessed.
        if not THOUSANDS.fullmatch(raw):
            raise ValidationError("Write amounts with a dot for decimals, such as 1250.50.", code="invalid")
        raw = raw.replace(",", "")
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        raise ValidationError("Enter an amount such as 12.50.", code="invalid") from None
    if not amount.is_finite():
        raise ValidationError("Enter an amount such as 12.50.", code="invalid")
    if amount.copy_abs() > Decimal(MAX_MICROS) / MICROS_PER_UNIT:
        raise ValidationError("The amount is too large.", code="too_large")
    places = minor_units(currency)
    if amount != amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN):
        raise ValidationError(
            f"{currency} amounts have at most {places} decimal places.", code="too_many_decimals"
        )
    micros = int(amount * MICROS_PER_UNIT)
    validate_micros(micros, allow_zero=allow_zero)
    return micros


def micros_to_decimal(micros: int) -> Decimal:
    return Decimal(micros) / MICROS_PER_UNIT


def format_micros(micros: int, currency: str, locale: str = "en_US") -> str:
    return format_currency(micros_to_decimal(micros), currency, locale=locale)
