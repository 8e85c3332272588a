"""List filters of the campaigns resources (django-filter). Querysets are already scoped to the
caller, so an id filter naming another tenant's object simply matches nothing."""

from __future__ import annotations

import django_filters

from accounts.api.filters import BooleanFilter, DateTimeFilter, IdFilter
from campaigns.models import AdGroup, BidStrategy, Campaign, ConversionEvent, Creative, Objective


class CampaignFilter(django_filters.FilterSet):
    advertiser = IdFilter(field_name="advertiser_id", help_text="An advertiser id.")
    status = django_filters.MultipleChoiceFilter(
        choices=Campaign.Status.choices, help_text="One or more statuses (repeat the parameter)."
    )
    objective = django_filters.ChoiceFilter(choices=Objective.choices)
    budget_type = django_filters.ChoiceFilter(choices=Campaign.BudgetType.choices)
    conversion_event = IdFilter(field_name="conversion_event_id", help_text="A conversion event id.")
    created_after = DateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Created at or after (ISO 8601)."
    )
    created_before = DateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="Created before (ISO 8601)."
    )
    starts_after = DateTimeFilter(
        field_name="starts_at", lookup_expr="gte", help_text="Starts at or after (ISO 8601)."
    )
    starts_before = DateTimeFilter(
        field_name="starts_at", lookup_expr="lt", help_text="Starts before (ISO 8601)."
    )
    ends_after = DateTimeFilter(
        field_name="ends_at", lookup_expr="gte", help_text="Ends at or after (ISO 8601)."
    )
    ends_before = DateTimeFilter(field_name="ends_at", lookup_expr="lt", help_text="Ends before (ISO 8601).")

    class Meta:
        model = Campaign
        fields = ("advertiser", "status", "objective", "budget_type", "conversion_event")


class AdGroupFilter(django_filters.FilterSet):
    advertiser = IdFilter(field_name="advertiser_id", help_text="An advertiser id.")
    campaign = IdFilter(field_name="campaign_id", help_text="A campaign id.")
    status = django_filters.MultipleChoiceFilter(
        choices=AdGroup.Status.choices, help_text="One or more statuses (repeat the parameter)."
    )
    bid_strategy = django_filters.ChoiceFilter(choices=BidStrategy.choices)

    class Meta:
        model = AdGroup
        fields = ("advertiser", "campaign", "status", "bid_strategy")


class CreativeFilter(django_filters.FilterSet):
    advertiser = IdFilter(field_name="advertiser_id", help_text="An advertiser id.")
    campaign = IdFilter(field_name="ad_group__campaign_id", help_text="A campaign id.")
    ad_group = IdFilter(field_name="ad_group_id", help_text="An ad group id.")
    status = django_filters.MultipleChoiceFilter(
        choices=Creative.Status.choices, help_text="One or more statuses (repeat the parameter)."
    )
    review_status = django_filters.MultipleChoiceFilter(
        choices=Creative.ReviewStatus.choices, help_text="One or more review statuses."
    )
    format = django_filters.ChoiceFilter(choices=Creative.Format.choices)

    class Meta:
        model = Creative
        fields = ("advertiser", "campaign", "ad_group", "status", "review_status", "format")


class ConversionEventFilter(django_filters.FilterSet):
    advertiser = IdFilter(field_name="advertiser_id", help_text="An advertiser id.")
    is_active = BooleanFilter(help_text="true or false.")

    class Meta:
        model = ConversionEvent
        fields = ("advertiser", "category", "is_active")
