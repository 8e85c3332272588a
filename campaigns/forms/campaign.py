"""The campaign's forms: the setup steps (objective, then budget and schedule) and the edit page use
the same CampaignForm, so the field-by-field htmx validation checks exactly what saving checks.

Money is typed in the account currency and cleaned to micros (accounts.forms.MoneyField); dates and
times are typed in the account's time zone (the view activates it)."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from accounts.forms import MoneyField
from accounts.models import Advertiser
from campaigns.models import Campaign, ConversionEvent, Objective

DATETIME_FORMAT = "%Y-%m-%dT%H:%M"

OBJECTIVE_HELP = {
    Objective.AWARENESS: "Reach as many people as possible. You pay per thousand impressions (CPM).",
    Objective.TRAFFIC: "Send people to your website. You pay per click (CPC).",
    Objective.CONVERSIONS: "Get purchases, sign-ups or leads, optimised towards a target cost per action.",
}


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs, format=DATETIME_FORMAT)


class ObjectiveForm(forms.Form):
    """Step 1: what the campaign is for (fixed once it has ad groups)."""

    objective = forms.ChoiceField(choices=Objective.choices, widget=forms.RadioSelect)


class CampaignForm(forms.ModelForm):
    """Step 2 of the setup and the campaign's edit form: name, budget, schedule, frequency cap and,
    for a conversions campaign, the conversion event."""

    budget = MoneyField(label="Budget amount", help_text="In the account currency.")

    class Meta:
        model = Campaign
        fields = (
            "objective",
            "name",
            "budget_type",
            "pacing",
            "starts_at",
            "ends_at",
            "frequency_cap_impressions",
            "frequency_cap_period",
            "conversion_event",
        )
        labels = {
            "name": "Campaign name",
            "budget_type": "Budget type",
            "starts_at": "Start",
            "ends_at": "End",
            "frequency_cap_impressions": "Frequency cap",
            "frequency_cap_period": "Per",
            "conversion_event": "Conversion event",
        }
        help_texts = {
            "starts_at": "",
            "ends_at": "Optional for a daily budget; a lifetime budget needs one.",
            "frequency_cap_impressions": "Optional: at most this many impressions per person.",
            "conversion_event": "The action this campaign optimises for.",
        }
        widgets = {
            "objective": forms.HiddenInput,
            "budget_type": forms.RadioSelect,
            "pacing": forms.RadioSelect,
            "starts_at": DateTimeInput,
            "ends_at": DateTimeInput,
            "frequency_cap_impressions": forms.NumberInput(
                attrs={"min": 1, "max": 1000, "inputmode": "numeric"}
            ),
        }

    field_order = ("objective", "name", "budget_type", "budget", "pacing")

    def __init__(self, *args: Any, advertiser: Advertiser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.advertiser = advertiser
        self.instance.advertiser = advertiser
        budget = cast("MoneyField", self.fields["budget"])
        budget.currency = advertiser.currency
        budget.widget.attrs["data-currency"] = advertiser.currency
        if self.instance.pk:
            self.initial.setdefault("budget", self.instance.budget_micros)
        event = cast("forms.ModelChoiceField", self.fields["conversion_event"])
        # Only this account's events: another account's id in the form is "not one of the choices".
        event.queryset = ConversionEvent.objects.filter(advertiser=advertiser, is_active=True)
        event.empty_label = "Choose an event"
        period = cast("forms.TypedChoiceField", self.fields["frequency_cap_period"])
        period.choices = [("", "No cap"), *Campaign.FrequencyPeriod.choices]
        self.fields["ends_at"].required = False
        for name, field in self.fields.items():
            # The error slot next to each field (always rendered, empty when valid) describes it.
            described = [f"id_{name}-error"] + ([f"id_{name}_helptext"] if field.help_text else [])
            field.widget.attrs.setdefault("aria-describedby", " ".join(described))

    @property
    def objective(self) -> str:
        value = self["objective"].value()
        return value if value in Objective.values else ""

    @property
    def needs_conversion_event(self) -> bool:
        return self.objective == Objective.CONVERSIONS

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (
            self.needs_conversion_event
            and not data.get("conversion_event")
            and "conversion_event" not in self.errors
        ):
            self.add_error("conversion_event", "A conversions campaign needs a conversion event.")
        return data

    def clean_name(self) -> str:
        # The per-account uniqueness, next to the field (the model's constraint would only see it at
        # save: the advertiser is not a field of this form).
        name = self.cleaned_data["name"].strip()
        taken = Campaign.objects.filter(advertiser=self.advertiser, name=name).not_archived()
        if taken.exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("A campaign with this name already exists in this account.")
        return name

    def _post_clean(self) -> None:
        if self.cleaned_data.get("budget") is not None:
            self.instance.budget_micros = self.cleaned_data["budget"]
        super()._post_clean()  # type: ignore[misc]


class BudgetForm(forms.Form):
    """The budget edited in its cell of the campaigns list."""

    budget = MoneyField(label="Budget")

    def __init__(self, *args: Any, advertiser: Advertiser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        budget = cast("MoneyField", self.fields["budget"])
        budget.currency = advertiser.currency


class BulkForm(forms.Form):
    """Several campaigns of the list, and what to do with them."""

    ACTIONS = (
        ("pause", "Pause"),
        ("activate", "Activate"),
        ("archive", "Archive"),
        ("duplicate", "Duplicate"),
    )

    action = forms.ChoiceField(choices=ACTIONS)
    campaigns = forms.ModelMultipleChoiceField(
        queryset=Campaign.objects.none(),
        error_messages={
            "required": "Select at least one campaign.",
            "invalid_choice": "Some selected campaigns are not in this account.",
            "invalid_pk_value": "Some selected campaigns are not in this account.",
        },
    )

    def __init__(self, *args: Any, advertiser: Advertiser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        campaigns = cast("forms.ModelMultipleChoiceField", self.fields["campaigns"])
        campaigns.queryset = Campaign.objects.filter(advertiser=advertiser).select_related("advertiser")


SORTS = (
    "name", "status", "delivery", "budget", "spend_today", "spend", "impressions", "clicks", "ctr",
    "conversions", "cpa",
)  # fmt: skip
RANGES = (
    ("today", "Today"),
    ("yesterday", "Yesterday"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("custom", "Custom range"),
)


class CampaignListQuery(forms.Form):
    """The campaigns list's URL parameters. A value that does not clean is ignored (its default is
    used): a shared or hand-edited link still shows a page."""

    q = forms.CharField(required=False, max_length=200, label="Search campaigns")
    status = forms.ChoiceField(
        required=False,
        label="Status",
        choices=[("", "All but archived"), *Campaign.Status.choices, ("all", "All, with archived")],
    )
    objective = forms.ChoiceField(
        required=False, label="Objective", choices=[("", "All objectives"), *Objective.choices]
    )
    range = forms.ChoiceField(required=False, label="Date range", choices=RANGES)
    start = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    sort = forms.ChoiceField(required=False, choices=[(s, s) for key in SORTS for s in (key, f"-{key}")])
    page = forms.IntegerField(required=False, min_value=1)

    def value(self, name: str, default: Any = "") -> Any:
        if not hasattr(self, "cleaned_data"):
            self.is_valid()
        value = self.cleaned_data.get(name)
        return default if value in (None, "") else value
