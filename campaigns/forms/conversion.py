"""The conversion event form of the Ads Manager."""

from __future__ import annotations

from typing import Any

from django import forms

from accounts.forms import MoneyField
from accounts.models import Advertiser
from campaigns.models import ConversionEvent


class ConversionEventForm(forms.ModelForm):
    default_value_micros = MoneyField(
        label="Default value",
        required=False,
        allow_zero=True,
        help_text="Counted when a conversion arrives without a value. Leave empty for none.",
    )

    class Meta:
        model = ConversionEvent
        fields = (
            "name",
            "category",
            "click_window_days",
            "view_window_days",
            "counting",
            "default_value_micros",
            "is_active",
        )
        labels = {
            "click_window_days": "Click-through window (days)",
            "view_window_days": "View-through window (days)",
            "counting": "Count",
            "is_active": "Active (receives conversions)",
        }
        help_texts = {
            "name": "As your team calls it, such as “Checkout completed”.",
            "click_window_days": "A conversion up to this many days after a click counts (1 to 90).",
            "view_window_days": "… or after an impression without a click (0 to 30; 0 turns it off).",
            "counting": "Every conversion for purchases; one per click for sign-ups and leads.",
        }
        widgets = {
            "click_window_days": forms.NumberInput(attrs={"min": 1, "max": 90, "inputmode": "numeric"}),
            "view_window_days": forms.NumberInput(attrs={"min": 0, "max": 30, "inputmode": "numeric"}),
        }

    def __init__(self, *args: Any, advertiser: Advertiser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.advertiser = advertiser
        self.instance.advertiser = advertiser
        money = self.fields["default_value_micros"]
        money.currency = advertiser.currency  # type: ignore[attr-defined]
        money.widget.attrs["data-currency"] = advertiser.currency
        money.label = f"Default value ({advertiser.currency})"

    def clean_name(self) -> str:
        # The form has no advertiser field, so Django's unique check would skip this constraint.
        name = self.cleaned_data["name"].strip()
        taken = ConversionEvent.objects.filter(advertiser=self.advertiser, name__iexact=name)
        if self.instance.pk:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError("This account already has an event with this name.")
        return name
