"""The ad group editor's form: name, bid and the full targeting.

The targeting is validated once, by `Targeting.from_json`; this form only turns the widgets' values
into its JSON and puts each error it reports (`countries[2]`, `keywords[4]`...) next to the field it
came from. The choice lists below are for display: a value outside them still reaches from_json,
which names it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pycountry
from django import forms
from django.core.exceptions import ValidationError

from accounts.audit import Actor
from accounts.forms import MoneyField
from accounts.models import Advertiser
from campaigns import services
from campaigns.models import STRATEGIES_BY_OBJECTIVE, AdGroup, BidStrategy, Campaign
from campaigns.targeting import (
    DAYS,
    DEVICE_TYPES,
    HOURS,
    INTEREST_SEGMENTS,
    OPERATING_SYSTEMS,
    Gender,
    Targeting,
    country_codes,
    language_codes,
)

AGE_RANGE_CHOICES = [
    ("13-17", "13-17"),
    ("18-24", "18-24"),
    ("25-34", "25-34"),
    ("35-44", "35-44"),
    ("45-54", "45-54"),
    ("55-64", "55-64"),
    ("65-100", "65+"),
]
NAME_TAKEN = next(
    c.violation_error_message
    for c in AdGroup._meta.constraints
    if c.name == "ad_group_name_unique_per_campaign"
)
AGE_RANGE = re.compile(r"(\d{1,3})-(\d{1,3})")
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DEVICE_LABELS = {"desktop": "Desktop", "mobile": "Mobile", "tablet": "Tablet", "ctv": "Connected TV"}
OS_LABELS = {
    "android": "Android",
    "ios": "iOS",
    "windows": "Windows",
    "macos": "macOS",
    "linux": "Linux",
    "chromeos": "ChromeOS",
    "other": "Other",
}
TARGETING_FIELDS = (
    "countries",
    "regions",
    "languages",
    "age_ranges",
    "genders",
    "device_types",
    "operating_systems",
    "placements_include",
    "placements_exclude",
    "interests",
    "keywords",
    "dayparting",
)


def country_choices() -> list[tuple[str, str]]:
    names = {c.alpha_2: getattr(c, "common_name", c.name) for c in pycountry.countries}
    return sorted(((code, f"{names[code]} ({code})") for code in country_codes()), key=lambda c: c[1])


def language_choices() -> list[tuple[str, str]]:
    names = {lang.alpha_2: lang.name for lang in pycountry.languages if hasattr(lang, "alpha_2")}
    return sorted(((code, f"{names[code]} ({code})") for code in language_codes()), key=lambda c: c[1])


class UncheckedMultipleChoiceField(forms.MultipleChoiceField):
    """Choices to render; any submitted value passes through to Targeting.from_json, which judges it."""

    def valid_value(self, value: str) -> bool:
        return True


def checkboxes(choices: list[tuple[str, str]]) -> UncheckedMultipleChoiceField:
    return UncheckedMultipleChoiceField(choices=choices, required=False, widget=forms.CheckboxSelectMultiple)


class AdGroupForm(forms.Form):
    name = forms.CharField(max_length=200, label="Ad group name")
    bid_strategy = forms.ChoiceField(label="Bid strategy", widget=forms.RadioSelect)
    bid = MoneyField(
        required=False,
        label="Bid",
        help_text="Per thousand impressions (CPM), per click (CPC) or per action (CPA).",
    )
    countries = UncheckedMultipleChoiceField(required=False, help_text="Leave empty to reach every country.")
    languages = UncheckedMultipleChoiceField(required=False, help_text="Leave empty to reach every language.")
    age_ranges = checkboxes(AGE_RANGE_CHOICES)
    genders = checkboxes([(g, g.capitalize()) for g in Gender.ALL])
    device_types = checkboxes([(d, DEVICE_LABELS[d]) for d in DEVICE_TYPES])
    operating_systems = checkboxes([(o, OS_LABELS[o]) for o in OPERATING_SYSTEMS])
    placements_include = UncheckedMultipleChoiceField(
        required=False, label="Only these placements", help_text="Leave empty to run on every placement."
    )
    placements_exclude = UncheckedMultipleChoiceField(required=False, label="Never these placements")
    interests = checkboxes([(i, i.replace("_", " & ").capitalize()) for i in INTEREST_SEGMENTS])
    keywords = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text="One keyword or phrase per line.",
    )
    regions = forms.CharField(
        required=False,
        label="Regions",
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false", "autocapitalize": "characters"}),
        help_text="ISO 3166-2 codes, one per line (US-CA, FR-IDF). Leave empty for whole countries.",
    )
    schedule = forms.ChoiceField(
        choices=[("always", "Run all the time"), ("dayparting", "Run on a schedule")],
        initial="always",
        widget=forms.RadioSelect,
        label="Hours",
    )
    dayparting = UncheckedMultipleChoiceField(required=False, label="Hours when ads run")

    def __init__(
        self,
        *args: Any,
        campaign: Campaign,
        placements: list[tuple[int, str]],
        instance: AdGroup | None = None,
        **kwargs: Any,
    ) -> None:
        self.campaign = campaign
        self.advertiser: Advertiser = campaign.advertiser
        self.instance = instance
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = initial_from(instance)
        super().__init__(*args, **kwargs)
        fields: Any = self.fields  # choice fields, typed as plain Field by the stubs
        allowed = STRATEGIES_BY_OBJECTIVE[campaign.objective]
        fields["bid_strategy"].choices = [(s, BidStrategy(s).label) for s in allowed]
        fields["bid_strategy"].initial = allowed[0]  # the objective's natural strategy is ticked
        fields["bid"].currency = self.advertiser.currency
        fields["bid"].widget.attrs["data-currency"] = self.advertiser.currency
        fields["countries"].choices = country_choices()
        fields["languages"].choices = language_choices()
        for name in ("countries", "languages", "placements_include", "placements_exclude"):
            fields[name].widget.attrs.update({"data-searchable": "", "size": 8})
        placement_choices = [(str(pk), label) for pk, label in placements]
        fields["placements_include"].choices = placement_choices
        fields["placements_exclude"].choices = placement_choices
        fields["dayparting"].choices = [
            (f"{d}-{h}", f"{DAY_NAMES[d]} {h}:00") for d in range(DAYS) for h in range(HOURS)
        ]
        self.targeting: Targeting | None = None

    # Values the template needs ----------------------------------------------------------------

    def strategy(self) -> str:
        value = self["bid_strategy"].value()
        field: Any = self.fields["bid_strategy"]
        return str(value) if value else field.choices[0][0]

    def bid_hidden(self) -> bool:
        return self.strategy() == BidStrategy.LOWEST_COST

    def daypart_grid(self) -> list[tuple[str, list[tuple[str, int, bool]]]]:
        """Rows of (day name, [(value, hour, checked)]) for the 7 x 24 grid."""
        chosen = {str(v) for v in (self["dayparting"].value() or [])}
        all_open = self["schedule"].value() != "dayparting"  # the grid starts with every hour open
        return [
            (DAY_NAMES[d], [(f"{d}-{h}", h, all_open or f"{d}-{h}" in chosen) for h in range(HOURS)])
            for d in range(DAYS)
        ]

    # Validation -------------------------------------------------------------------------------

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        strategy, bid = data.get("bid_strategy"), data.get("bid")
        if strategy == BidStrategy.LOWEST_COST:
            data["bid"] = None  # the field is hidden for lowest cost: whatever it held is not a bid
        elif strategy and bid is None and "bid" not in self.errors:
            self.add_error("bid", f"{BidStrategy(strategy).label} needs a bid.")
        try:
            self.targeting = Targeting.from_json(self.targeting_json(data))
        except ValidationError as exc:
            for path, messages in exc.message_dict.items():
                field, index = split_path(path)
                for message in messages:
                    if field in ("keywords", "regions") and index is not None:
                        message = f"Line {index + 1}: {message}"
                    self.add_error(field if field in self.fields else None, message)
        self.check_placements(data)
        return data

    def targeting_json(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The widgets' values as the targeting JSON, untouched otherwise: from_json judges them."""
        keywords = data.get("keywords") or ""
        regions = data.get("regions") or ""
        hours = set(data.get("dayparting") or [])
        return {
            "countries": data.get("countries") or [],
            "languages": data.get("languages") or [],
            "age_ranges": [age_range(v) for v in data.get("age_ranges") or []],
            "genders": data.get("genders") or [],
            "device_types": data.get("device_types") or [],
            "operating_systems": data.get("operating_systems") or [],
            "placements_include": [placement_id(v) for v in data.get("placements_include") or []],
            "placements_exclude": [placement_id(v) for v in data.get("placements_exclude") or []],
            "interests": data.get("interests") or [],
            "keywords": [line for line in keywords.splitlines() if line.strip()],
            "dayparting": (
                [[f"{d}-{h}" in hours for h in range(HOURS)] for d in range(DAYS)]
                if data.get("schedule") == "dayparting"
                else None
            ),
            "regions": [line.strip() for line in regions.splitlines() if line.strip()],
        }

    def check_placements(self, data: dict[str, Any]) -> None:
        """Only active placements may be chosen (a tampered id is refused, not stored)."""
        field: Any = self.fields["placements_include"]
        offered = {value for value, _ in field.choices}
        for name in ("placements_include", "placements_exclude"):
            unknown = [v for v in data.get(name) or [] if str(v) not in offered]
            if unknown:
                self.add_error(name, f"Placement {', '.join(map(str, unknown))} is not available.")

    # Saving -----------------------------------------------------------------------------------

    def save(self, *, actor: Actor) -> AdGroup:
        """Create through the service, or update in place with an audit entry. A rule the model
        checks (a taken name...) comes back as a form error: ValidationError from here."""
        if self.targeting is None:
            raise ValueError("save() is for a valid form")
        fields = {
            "name": self.cleaned_data["name"],
            "bid_strategy": self.cleaned_data["bid_strategy"],
            "bid_micros": self.cleaned_data["bid"],
            "targeting": self.targeting.to_json(),
        }
        try:
            if self.instance is None:
                return services.create_ad_group(campaign=self.campaign, actor=actor, **fields)
            return services.update_ad_group(ad_group=self.instance, actor=actor, **fields)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                target = {"bid_micros": "bid", "targeting": None}.get(field, field)
                for message in messages:
                    if message == NAME_TAKEN:  # the unique constraint speaks for the whole row
                        target = "name"
                    self.add_error(target if target in self.fields else None, message)
            raise


def initial_from(ad_group: AdGroup) -> dict[str, Any]:
    targeting = ad_group.parsed_targeting
    return {
        "name": ad_group.name,
        "bid_strategy": ad_group.bid_strategy,
        "bid": ad_group.bid_micros,
        "countries": targeting.countries,
        "languages": targeting.languages,
        "age_ranges": [f"{r.min}-{r.max}" for r in targeting.age_ranges],
        "genders": targeting.genders,
        "device_types": targeting.device_types,
        "operating_systems": targeting.operating_systems,
        "placements_include": [str(pk) for pk in targeting.placements_include],
        "placements_exclude": [str(pk) for pk in targeting.placements_exclude],
        "interests": targeting.interests,
        "keywords": "\n".join(targeting.keywords),
        "regions": "\n".join(targeting.regions),
        "schedule": "always" if targeting.dayparting is None else "dayparting",
        "dayparting": [
            f"{d}-{h}" for d, day in enumerate(targeting.dayparting or []) for h, on in enumerate(day) if on
        ],
    }


def split_path(path: str) -> tuple[str, int | None]:
    """'countries[2]' -> ('countries', 2); 'dayparting' -> ('dayparting', None)."""
    name, _, rest = path.partition("[")
    index = rest.rstrip("]")
    return name, int(index) if index.isdigit() else None


def age_range(value: str) -> Any:
    match = AGE_RANGE.fullmatch(value)
    return {"min": int(match[1]), "max": int(match[2])} if match else value


def placement_id(value: str) -> Any:
    return int(value) if value.isdigit() else value
