"""Form fields shared by the Ads Manager's forms (the API validates through the same models)."""

from __future__ import annotations

from typing import Any

from django import forms

from accounts.money import micros_to_decimal, minor_units, parse_amount


class MoneyField(forms.CharField):
    """An amount typed in the account currency ("12.50"), cleaned to integer micros.

    Set `currency` before validation (forms do it in __init__ from their advertiser). Refuses
    negative, zero (unless allow_zero), absurdly large, non-numeric and over-precise amounts, with the
    reason next to the field.
    """

    def __init__(self, *, currency: str = "USD", allow_zero: bool = False, **kwargs: Any) -> None:
        self.currency = currency
        self.allow_zero = allow_zero
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}))
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):  # micros from the model
            places = minor_units(self.currency)
            return f"{micros_to_decimal(value):.{places}f}"
        return value

    def to_python(self, value: Any) -> int | None:  # type: ignore[override]
        text = super().to_python(value)
        if text is None or text in self.empty_values:
            return None
        return parse_amount(text, self.currency, allow_zero=self.allow_zero)

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        attrs = super().widget_attrs(widget)
        attrs["data-currency"] = self.currency
        return attrs
