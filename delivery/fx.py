"""Currency conversion between an advertiser's currency and the USD the auction prices in.

Placements and exchanges price in USD (OpenRTB's default `cur`); advertisers bid and pay in their own
ISO 4217 currency. The auction compares eCPMs in USD micros, and the price it clears at is converted
back to the advertiser's currency for billing.

Rates are units of USD per unit of the currency. The defaults are approximate market rates for the
currencies accounts use most, good enough for development and the demo; a deployment sets
`settings.FX_USD_PER_UNIT` (env `FX_USD_PER_UNIT`, JSON) from its bank or treasury to override or
extend them.
An advertiser in a currency with no rate does not serve, and the explanation says so; nothing is
ever converted with a guessed rate.

Conversions are exact rational arithmetic on integers (Fraction), rounded down: a converted bid is
never higher than what the advertiser set, and a price converted back never exceeds the bid.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache

from django.conf import settings

DEFAULT_USD_PER_UNIT: dict[str, str] = {
    "USD": "1",
    "EUR": "1.0842",
    "GBP": "1.2655",
    "CHF": "1.1312",
    "CAD": "0.7161",
    "AUD": "0.6518",
    "NZD": "0.5891",
    "JPY": "0.006478",
    "CNY": "0.13812",
    "HKD": "0.12853",
    "SGD": "0.7452",
    "INR": "0.011842",
    "KRW": "0.0007172",
    "SEK": "0.09388",
    "NOK": "0.09071",
    "DKK": "0.14536",
    "PLN": "0.25011",
    "CZK": "0.04318",
    "HUF": "0.002632",
    "BRL": "0.17254",
    "MXN": "0.04939",
    "ZAR": "0.05522",
    "TRY": "0.02896",
    "ILS": "0.2705",
    "AED": "0.27229",
}


@cache
def _rates(overrides: tuple[tuple[str, str], ...]) -> dict[str, Fraction]:
    merged = {**DEFAULT_USD_PER_UNIT, **dict(overrides)}
    return {code.upper(): Fraction(rate) for code, rate in merged.items() if Fraction(rate) > 0}


def rates() -> dict[str, Fraction]:
    overrides = getattr(settings, "FX_USD_PER_UNIT", {}) or {}
    return _rates(tuple(sorted((str(k), str(v)) for k, v in overrides.items())))


def has_rate(currency: str) -> bool:
    return currency.upper() in rates()


def to_usd_micros(amount_micros: int, currency: str) -> int | None:
    """An amount in `currency` micros as USD micros (rounded down); None when there is no rate."""
    if currency == "USD" and "USD" not in getattr(settings, "FX_USD_PER_UNIT", {}):
        return amount_micros
    rate = rates().get(currency.upper())
    if rate is None:
        return None
    return int(amount_micros * rate) if amount_micros >= 0 else -int(-amount_micros * rate)


def from_usd_micros(usd_micros: int, currency: str) -> int | None:
    """USD micros as micros of `currency` (rounded down); None when there is no rate."""
    if currency == "USD" and "USD" not in getattr(settings, "FX_USD_PER_UNIT", {}):
        return usd_micros
    rate = rates().get(currency.upper())
    if rate is None:
        return None
    return int(usd_micros / rate) if usd_micros >= 0 else -int(-usd_micros / rate)
