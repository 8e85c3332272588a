"""Report tables format money as the rest of the product does, only faster."""

from __future__ import annotations

import pytest

from accounts.money import currency_codes, format_micros
from reporting.tables import format_money


@pytest.mark.parametrize("currency", sorted(currency_codes()))
def test_money_reads_as_accounts_money_formats_it(currency: str) -> None:
    for micros in (0, 1, 499_999, 500_000, 1_500_000, 2_500_000, -1_234_567, 123_456_789_012, 10**15):
        assert format_money(micros, currency) == format_micros(micros, currency)
