"""Money is integer micros: parsing what people type, exactly, within the currency's minor units."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from hypothesis import example, given
from hypothesis import strategies as st

from accounts.money import (
    MAX_MICROS,
    MICROS_PER_UNIT,
    format_micros,
    micros_to_decimal,
    minor_units,
    parse_amount,
    validate_currency,
    validate_micros,
)

# Two, zero and three decimal places.
CURRENCIES = ("USD", "EUR", "GBP", "CHF", "JPY", "KRW", "KWD", "BHD")


def _code(exc: pytest.ExceptionInfo[ValidationError]) -> str | None:
    return exc.value.error_list[0].code


@st.composite
def amounts(draw: st.DrawFn) -> tuple[str, int]:
    """A currency and a valid amount in it, in micros: a whole number of the currency's minor units."""
    currency = draw(st.sampled_from(CURRENCIES))
    step = MICROS_PER_UNIT // 10 ** minor_units(currency)
    return currency, draw(st.integers(min_value=1, max_value=MAX_MICROS // step)) * step


def _plain(micros: int, currency: str) -> str:
    return f"{micros_to_decimal(micros):.{minor_units(currency)}f}"


@given(amounts())
@example(("USD", 10_000))
@example(("USD", MAX_MICROS))
@example(("JPY", 1_000_000))
@example(("KWD", 1_000))
def test_parse_amount_round_trips_the_plain_decimal_text(amount: tuple[str, int]) -> None:
    currency, micros = amount
    assert parse_amount(_plain(micros, currency), currency) == micros


@given(amounts())
def test_parse_amount_reads_back_what_format_micros_shows(amount: tuple[str, int]) -> None:
    currency, micros = amount
    shown = format_micros(micros, currency)  # "$1,234.50", "¥1,235", "KWD1,234.567"
    typed = re.sub(r"[^0-9.,]", "", shown)
    assert parse_amount(typed, currency) == micros


@given(amounts())
def test_parse_amount_is_exact_and_never_goes_through_float(amount: tuple[str, int]) -> None:
    currency, micros = amount
    text = _plain(micros, currency)
    parsed = parse_amount(text, currency)
    assert type(parsed) is int
    assert parsed == int(Decimal(text) * MICROS_PER_UNIT)
    assert parse_amount(Decimal(text), currency) == parsed


def test_parse_amount_is_exact_where_float_is_not() -> None:
    assert int(float("8.20") * MICROS_PER_UNIT) == 8_199_999  # the float trap
    assert parse_amount("8.20", "USD") == 8_200_000
    assert parse_amount(" 1,234.56 ", "USD") == 1_234_560_000
    assert parse_amount("12.500", "USD") == 12_500_000  # trailing zeros are not extra precision
    assert parse_amount(7, "JPY") == 7_000_000


@given(
    currency=st.sampled_from(CURRENCIES),
    whole=st.integers(min_value=0, max_value=10**6),
    last_digit=st.integers(min_value=1, max_value=9),
)
def test_parse_amount_refuses_more_decimals_than_the_currency_has(
    currency: str, whole: int, last_digit: int
) -> None:
    places = minor_units(currency)
    text = f"{whole}." + "0" * places + str(last_digit)
    with pytest.raises(ValidationError) as exc:
        parse_amount(text, currency)
    assert _code(exc) == "too_many_decimals"


@pytest.mark.parametrize(
    ("text", "currency"), [("0.5", "JPY"), ("12.345", "USD"), ("1.0001", "KWD"), ("0.001", "EUR")]
)
def test_parse_amount_too_many_decimals_examples(text: str, currency: str) -> None:
    with pytest.raises(ValidationError, match=f"{currency} amounts have at most"):
        parse_amount(text, currency)


@pytest.mark.parametrize(
    "text", ["", " ", "abc", "12.50 USD", "$12", "1.2.3", "NaN", "Infinity", "-inf", "1e", "--1"]
)
def test_parse_amount_refuses_what_is_not_a_number(text: str) -> None:
    with pytest.raises(ValidationError) as exc:
        parse_amount(text, "USD")
    assert _code(exc) == "invalid"


@pytest.mark.parametrize("text", ["0", "0.00", "-1", "-0.01"])
def test_parse_amount_refuses_zero_and_negative(text: str) -> None:
    with pytest.raises(ValidationError) as exc:
        parse_amount(text, "USD")
    assert _code(exc) == "not_positive"


def test_parse_amount_allows_zero_only_when_asked() -> None:
    assert parse_amount("0", "USD", allow_zero=True) == 0
    with pytest.raises(ValidationError):
        parse_amount("-1", "USD", allow_zero=True)


@pytest.mark.parametrize("text", ["1000000000.01", "1000000001", "1e12", "-2000000000"])
def test_parse_amount_refuses_absurdly_large_amounts(text: str) -> None:
    with pytest.raises(ValidationError) as exc:
        parse_amount(text, "USD")
    assert _code(exc) == "too_large"


def test_parse_amount_accepts_the_maximum() -> None:
    assert parse_amount("1000000000", "USD") == MAX_MICROS


@pytest.mark.parametrize("text", ["1e30", "1" + "0" * 40])
def test_parse_amount_says_too_large_for_huge_numbers(text: str) -> None:
    with pytest.raises(ValidationError) as exc:
        parse_amount(text, "USD")
    assert _code(exc) == "too_large"


@pytest.mark.parametrize("text", ["1,5", "12,50", "1,2,3"])
def test_parse_amount_refuses_a_comma_that_is_not_a_thousands_separator(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_amount(text, "EUR")


# validate_micros ----------------------------------------------------------------------------------


@given(st.integers(min_value=1, max_value=MAX_MICROS))
def test_validate_micros_accepts_the_whole_range(micros: int) -> None:
    validate_micros(micros)


@given(st.integers(min_value=MAX_MICROS + 1))
def test_validate_micros_refuses_above_the_maximum(micros: int) -> None:
    with pytest.raises(ValidationError) as exc:
        validate_micros(micros, allow_zero=True)
    assert _code(exc) == "too_large"


@given(st.integers(max_value=-1))
def test_validate_micros_refuses_negatives(micros: int) -> None:
    with pytest.raises(ValidationError) as exc:
        validate_micros(micros, allow_zero=True)
    assert _code(exc) == "not_positive"


def test_validate_micros_zero_only_when_allowed() -> None:
    validate_micros(0, allow_zero=True)
    with pytest.raises(ValidationError):
        validate_micros(0)


@pytest.mark.parametrize("value", [1.0, 12.5, Decimal(1), "1", True, None])
def test_validate_micros_refuses_what_is_not_a_whole_number_of_micros(value: object) -> None:
    with pytest.raises(ValidationError) as exc:
        validate_micros(value)  # type: ignore[arg-type]
    assert _code(exc) == "not_integer"


# Currencies --------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["USD", "EUR", "GBP", "JPY", "KWD"])
def test_validate_currency_accepts_iso_codes(code: str) -> None:
    validate_currency(code)


@pytest.mark.parametrize("code", ["usd", "ABC", "XAU", "US", ""])
def test_validate_currency_refuses_unknown_lowercase_and_metal_codes(code: str) -> None:
    with pytest.raises(ValidationError):
        validate_currency(code)
