"""Campaigns and ad groups: status transitions, the delivery state, bid strategies, and the database
constraints that back each rule when Python validation is bypassed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit import Actor
from accounts.models import Advertiser, AuditLog
from accounts.money import MAX_MICROS
from campaigns import services
from campaigns.models import (
    GOAL_BY_OBJECTIVE,
    STRATEGIES_BY_OBJECTIVE,
    AdGroup,
    BidStrategy,
    BillingEvent,
    Campaign,
    DeliveryState,
    Objective,
    OptimizationGoal,
    TransitionError,
)
from campaigns.models.campaign import recent_days_prefetch
from tests.factories import (
    AdGroupFactory,
    AdvertiserFactory,
    CampaignFactory,
    ConversionEventFactory,
    CreativeFactory,
    approved_creative,
    servable_campaign,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 6, 3, 14, 0, tzinfo=UTC)  # a Monday: 10:00 in New York


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path


def _messages(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return exc.value.message_dict


# Activation rules ---------------------------------------------------------------------------------


def test_a_new_campaign_is_a_draft() -> None:
    assert CampaignFactory().status == Campaign.Status.DRAFT


def test_a_campaign_with_a_servable_ad_group_can_be_activated_paused_and_resumed() -> None:
    campaign = servable_campaign()
    campaign.activate()
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.ACTIVE
    campaign.activate()  # again: nothing to do
    campaign.pause()
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.PAUSED
    campaign.pause()
    campaign.activate()
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.ACTIVE


def test_activation_needs_an_ad_group() -> None:
    with pytest.raises(TransitionError, match="at least one active ad group"):
        CampaignFactory().activate()


@pytest.mark.parametrize(
    "setup",
    ["creative_pending", "creative_rejected", "creative_paused", "creative_archived", "ad_group_paused"],
)
def test_activation_needs_an_active_ad_group_with_an_approved_active_creative(setup: str) -> None:
    campaign = CampaignFactory()
    ad_group = AdGroupFactory(campaign=campaign)
    if setup == "creative_pending":
        CreativeFactory(ad_group=ad_group)
    elif setup == "creative_rejected":
        CreativeFactory(ad_group=ad_group).reject(by=None, reasons=["low_image_quality"])
    elif setup == "creative_paused":
        approved_creative(ad_group=ad_group).pause()
    elif setup == "creative_archived":
        approved_creative(ad_group=ad_group).archive()
    else:
        approved_creative(ad_group=ad_group)
        ad_group.pause()
    with pytest.raises(TransitionError, match="approved, active creative"):
        campaign.activate()
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DRAFT


def test_the_approved_creative_must_be_in_an_active_ad_group() -> None:
    campaign = CampaignFactory()
    approved_creative(ad_group=AdGroupFactory(campaign=campaign, status=AdGroup.Status.PAUSED))
    CreativeFactory(ad_group=AdGroupFactory(campaign=campaign))  # active group, pending creative
    with pytest.raises(TransitionError):
        campaign.activate()


def test_activation_is_refused_after_the_end_date() -> None:
    campaign = servable_campaign(starts_at=NOW - timedelta(days=10), ends_at=NOW - timedelta(days=1))
    with time_machine.travel(NOW, tick=False), pytest.raises(TransitionError, match="end date has passed"):
        campaign.activate()


def test_activation_before_the_start_is_allowed_the_campaign_is_scheduled() -> None:
    campaign = servable_campaign(starts_at=NOW + timedelta(days=3))
    with time_machine.travel(NOW, tick=False):
        campaign.activate()
        assert campaign.delivery().state == DeliveryState.NOT_STARTED


def test_a_conversions_campaign_needs_its_conversion_event() -> None:
    campaign = servable_campaign(objective=Objective.CONVERSIONS)
    AdGroup.objects.filter(campaign=campaign).update(bid_strategy=BidStrategy.LOWEST_COST, bid_micros=None)
    with pytest.raises(TransitionError, match="conversion event"):
        campaign.activate()
    campaign.conversion_event = ConversionEventFactory(advertiser=campaign.advertiser)
    campaign.save()
    campaign.activate()
    assert campaign.status == Campaign.Status.ACTIVE


@pytest.mark.parametrize("status", [Advertiser.Status.SUSPENDED, Advertiser.Status.CLOSED])
def test_nothing_is_activated_on_an_inactive_account(status: str) -> None:
    campaign = servable_campaign(advertiser=AdvertiserFactory(status=status))
    with pytest.raises(TransitionError, match="account is not active"):
        campaign.activate()


def test_only_an_active_campaign_can_be_paused() -> None:
    with pytest.raises(TransitionError, match="Only an active campaign"):
        CampaignFactory().pause()


@pytest.mark.parametrize("before", ["draft", "active", "paused"])
def test_archived_is_final(before: str) -> None:
    campaign = servable_campaign()
    if before != "draft":
        campaign.activate()
    if before == "paused":
        campaign.pause()
    campaign.archive()
    campaign.archive()  # again: nothing to do
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.ARCHIVED
    with pytest.raises(TransitionError, match="archived campaign cannot be activated"):
        campaign.activate()
    with pytest.raises(TransitionError):
        campaign.pause()
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.ARCHIVED


def test_change_status_applies_the_rules_and_leaves_no_trace_when_refused() -> None:
    campaign = CampaignFactory()
    with pytest.raises(TransitionError):
        services.change_status(obj=campaign, action="activate", actor=Actor.system())
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DRAFT
    assert not AuditLog.objects.exists()


def test_ad_group_and_creative_archive_is_final() -> None:
    campaign = servable_campaign()
    ad_group = campaign.ad_groups.get()
    creative = ad_group.creatives.get()
    creative.archive()
    with pytest.raises(TransitionError):
        creative.activate()
    with pytest.raises(TransitionError):
        creative.pause()
    ad_group.archive()
    with pytest.raises(TransitionError):
        ad_group.activate()
    with pytest.raises(TransitionError):
        ad_group.pause()


def test_an_ad_group_of_an_archived_campaign_cannot_be_activated() -> None:
    campaign = servable_campaign()
    ad_group = campaign.ad_groups.get()
    ad_group.pause()
    campaign.archive()
    with pytest.raises(TransitionError, match="campaign is archived"):
        ad_group.activate()


def test_no_new_ad_group_in_an_archived_campaign() -> None:
    campaign = CampaignFactory()
    campaign.archive()
    with pytest.raises(ValidationError) as exc:
        services.create_ad_group(
            campaign=campaign, actor=Actor.system(), name="Late", bid_strategy=BidStrategy.MANUAL_CPM,
            bid_micros=1_000_000,
        )  # fmt: skip
    assert "campaign" in _messages(exc)


# Delivery state -----------------------------------------------------------------------------------


def _delivering(**kwargs: Any) -> Campaign:
    campaign = servable_campaign(starts_at=NOW - timedelta(days=1), **kwargs)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.ACTIVE)
    campaign.refresh_from_db()
    return campaign


def test_delivery_of_a_running_campaign() -> None:
    delivery = _delivering().delivery(at=NOW)
    assert delivery.state == DeliveryState.DELIVERING
    assert delivery.is_delivering


def test_delivery_draft_paused_archived() -> None:
    campaign = servable_campaign()
    assert campaign.delivery().state == DeliveryState.DRAFT
    campaign.activate()
    campaign.pause()
    assert campaign.delivery().state == DeliveryState.PAUSED
    assert not campaign.delivery().is_delivering
    campaign.archive()
    assert campaign.delivery().state == DeliveryState.ARCHIVED


def test_delivery_not_started_and_ended() -> None:
    campaign = _delivering(ends_at=NOW + timedelta(days=7))
    assert campaign.delivery(at=NOW - timedelta(days=2)).state == DeliveryState.NOT_STARTED
    assert campaign.delivery(at=NOW + timedelta(days=7)).state == DeliveryState.ENDED
    assert campaign.delivery(at=NOW + timedelta(days=7) - timedelta(seconds=1)).is_delivering


def test_delivery_on_an_inactive_account() -> None:
    campaign = _delivering()
    Advertiser.objects.filter(pk=campaign.advertiser_id).update(status=Advertiser.Status.SUSPENDED)
    campaign.refresh_from_db()
    delivery = campaign.delivery(at=NOW)
    assert delivery.state == DeliveryState.ACCOUNT_INACTIVE
    assert "Suspended" in delivery.reason


def test_delivery_without_active_ad_groups() -> None:
    campaign = _delivering()
    campaign.ad_groups.update(status=AdGroup.Status.PAUSED)
    assert campaign.delivery(at=NOW).state == DeliveryState.NO_AD_GROUPS


def test_delivery_without_approved_creatives() -> None:
    campaign = _delivering()
    campaign.ad_groups.get().creatives.get().pause()
    assert campaign.delivery(at=NOW).state == DeliveryState.NO_APPROVED_CREATIVES


def _monday_9_to_10() -> list[list[bool]]:
    grid = [[False] * 24 for _ in range(7)]
    grid[0][9] = True
    return grid


def test_delivery_follows_dayparting_in_the_advertiser_time_zone() -> None:
    campaign = _delivering(advertiser=AdvertiserFactory(time_zone="America/New_York"))
    AdGroup.objects.filter(campaign=campaign).update(targeting={"dayparting": _monday_9_to_10()})
    monday_0930_new_york = datetime(2024, 6, 3, 13, 30, tzinfo=UTC)
    assert campaign.delivery(at=monday_0930_new_york).is_delivering
    assert (
        campaign.delivery(at=monday_0930_new_york - timedelta(hours=1)).state
        == DeliveryState.OUTSIDE_DAYPARTING
    )
    assert (
        campaign.delivery(at=monday_0930_new_york + timedelta(hours=1)).state
        == DeliveryState.OUTSIDE_DAYPARTING
    )
    with time_machine.travel(monday_0930_new_york, tick=False):
        assert campaign.delivery().is_delivering
    with time_machine.travel(monday_0930_new_york + timedelta(days=1), tick=False):
        assert campaign.delivery().state == DeliveryState.OUTSIDE_DAYPARTING


def test_delivery_is_on_when_any_servable_ad_group_is_in_its_hours() -> None:
    campaign = _delivering(advertiser=AdvertiserFactory(time_zone="UTC"))
    AdGroup.objects.filter(campaign=campaign).update(targeting={"dayparting": _monday_9_to_10()})
    approved_creative(ad_group=AdGroupFactory(campaign=campaign, targeting={}))
    assert campaign.delivery(at=datetime(2024, 6, 4, 3, 0, tzinfo=UTC)).is_delivering


def test_delivery_of_a_prefetched_list_needs_no_query(django_assert_num_queries: Any) -> None:
    for _ in range(3):
        _delivering()
    campaigns = list(
        Campaign.objects.select_related("advertiser").prefetch_related(
            "ad_groups__creatives", recent_days_prefetch(NOW)
        )
    )
    with django_assert_num_queries(0):
        states = {campaign.delivery(at=NOW).state for campaign in campaigns}
    assert states == {DeliveryState.DELIVERING}


# Bid strategies, optimisation goal, billing event --------------------------------------------------

COMBINATIONS = [(objective, strategy) for objective in Objective.values for strategy in BidStrategy.values]


@pytest.mark.parametrize(("objective", "strategy"), COMBINATIONS)
def test_the_bid_strategy_must_suit_the_objective(objective: str, strategy: str) -> None:
    ad_group = AdGroupFactory.build(
        campaign=CampaignFactory(objective=objective),
        bid_strategy=strategy,
        bid_micros=None if strategy == BidStrategy.LOWEST_COST else 1_500_000,
    )
    if strategy in STRATEGIES_BY_OBJECTIVE[objective]:
        ad_group.full_clean()
        ad_group.save()
        assert ad_group.optimization_goal == GOAL_BY_OBJECTIVE[Objective(objective)]
        expected_billing = (
            BillingEvent.CLICK if strategy == BidStrategy.MANUAL_CPC else BillingEvent.IMPRESSION
        )
        assert ad_group.billing_event == expected_billing
    else:
        with pytest.raises(ValidationError) as exc:
            ad_group.full_clean()
        assert list(_messages(exc)) == ["bid_strategy"]


def test_billing_and_goal_follow_the_strategy_on_partial_saves() -> None:
    ad_group = AdGroupFactory(
        campaign=CampaignFactory(objective=Objective.TRAFFIC), bid_strategy="manual_cpc"
    )
    assert (ad_group.optimization_goal, ad_group.billing_event) == (
        OptimizationGoal.CLICKS,
        BillingEvent.CLICK,
    )
    ad_group.bid_strategy = BidStrategy.MANUAL_CPM
    ad_group.save(update_fields=["bid_strategy"])
    stored = AdGroup.objects.get(pk=ad_group.pk)
    assert (stored.optimization_goal, stored.billing_event) == (
        OptimizationGoal.CLICKS,
        BillingEvent.IMPRESSION,
    )
    assert stored.advertiser_id == ad_group.campaign.advertiser_id


def test_lowest_cost_has_no_bid_and_the_others_need_one() -> None:
    campaign = CampaignFactory(objective=Objective.AWARENESS)
    with pytest.raises(ValidationError) as exc:
        AdGroupFactory.build(campaign=campaign, bid_strategy="lowest_cost", bid_micros=1_000_000).full_clean()
    assert "leave it empty" in _messages(exc)["bid_micros"][0]
    with pytest.raises(ValidationError) as exc:
        AdGroupFactory.build(campaign=campaign, bid_strategy="manual_cpm", bid_micros=None).full_clean()
    assert "needs a bid" in _messages(exc)["bid_micros"][0]


def test_the_objective_cannot_change_to_one_its_ad_groups_do_not_suit() -> None:
    campaign = CampaignFactory(objective=Objective.TRAFFIC)
    AdGroupFactory(campaign=campaign, bid_strategy=BidStrategy.MANUAL_CPC)
    campaign.objective = Objective.AWARENESS
    with pytest.raises(ValidationError) as exc:
        campaign.full_clean()
    assert "objective" in _messages(exc)


def test_ad_group_names_are_unique_in_a_campaign_unless_archived() -> None:
    existing = AdGroupFactory(name="Retargeting")
    with pytest.raises(ValidationError):
        AdGroupFactory.build(campaign=existing.campaign, name="Retargeting").full_clean()
    with transaction.atomic(), pytest.raises(IntegrityError):
        AdGroupFactory(campaign=existing.campaign, name="Retargeting")
    existing.archive()
    AdGroupFactory(campaign=existing.campaign, name="Retargeting")


# Bad input refused by full_clean, with the field named ------------------------------------------


@pytest.mark.parametrize("budget", [0, -1, -50_000_000, MAX_MICROS + 1, 10**18])
def test_campaign_budget_out_of_range_is_refused(budget: int) -> None:
    with pytest.raises(ValidationError) as exc:
        CampaignFactory.build(advertiser=AdvertiserFactory(), budget_micros=budget).full_clean()
    assert list(_messages(exc)) == ["budget_micros"]


@pytest.mark.parametrize("bid", [0, -1, MAX_MICROS + 1])
def test_ad_group_bid_out_of_range_is_refused(bid: int) -> None:
    with pytest.raises(ValidationError) as exc:
        AdGroupFactory.build(campaign=CampaignFactory(), bid_micros=bid).full_clean()
    assert list(_messages(exc)) == ["bid_micros"]


def test_the_end_must_follow_the_start() -> None:
    start = NOW
    for end in (start, start - timedelta(minutes=1)):
        with pytest.raises(ValidationError) as exc:
            CampaignFactory.build(advertiser=AdvertiserFactory(), starts_at=start, ends_at=end).full_clean()
        assert _messages(exc)["ends_at"] == ["The end must be after the start."]


def test_a_lifetime_budget_needs_an_end() -> None:
    campaign = CampaignFactory.build(advertiser=AdvertiserFactory(), budget_type="lifetime", ends_at=None)
    with pytest.raises(ValidationError) as exc:
        campaign.full_clean()
    assert _messages(exc)["ends_at"] == ["A lifetime budget needs an end date."]


@pytest.mark.parametrize(("impressions", "period"), [(3, ""), (None, "day")])
def test_a_frequency_cap_needs_both_parts(impressions: int | None, period: str) -> None:
    campaign = CampaignFactory.build(
        advertiser=AdvertiserFactory(), frequency_cap_impressions=impressions, frequency_cap_period=period
    )
    with pytest.raises(ValidationError) as exc:
        campaign.full_clean()
    assert "frequency_cap_period" in _messages(exc)


def test_a_frequency_cap_of_zero_is_refused() -> None:
    campaign = CampaignFactory.build(
        advertiser=AdvertiserFactory(), frequency_cap_impressions=0, frequency_cap_period="day"
    )
    with pytest.raises(ValidationError) as exc:
        campaign.full_clean()
    assert "frequency_cap_impressions" in _messages(exc)


def test_the_conversion_event_must_belong_to_the_account() -> None:
    campaign = CampaignFactory.build(
        advertiser=AdvertiserFactory(),
        objective=Objective.CONVERSIONS,
        conversion_event=ConversionEventFactory(),
    )
    with pytest.raises(ValidationError) as exc:
        campaign.full_clean()
    assert _messages(exc)["conversion_event"] == ["The conversion event belongs to another account."]


def test_a_turned_off_conversion_event_is_refused_and_blocks_activation() -> None:
    campaign = servable_campaign(objective=Objective.CONVERSIONS)
    AdGroup.objects.filter(campaign=campaign).update(bid_strategy=BidStrategy.LOWEST_COST, bid_micros=None)
    campaign.conversion_event = ConversionEventFactory(advertiser=campaign.advertiser, is_active=False)
    with pytest.raises(ValidationError) as exc:
        campaign.full_clean()
    assert _messages(exc)["conversion_event"] == ["This conversion event is turned off."]

    campaign.save()
    with pytest.raises(TransitionError, match="turned off"):
        campaign.activate()
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DRAFT


def test_only_a_conversions_campaign_keeps_a_conversion_event() -> None:
    advertiser = AdvertiserFactory()
    campaign = CampaignFactory.build(
        advertiser=advertiser,
        objective=Objective.TRAFFIC,
        conversion_event=ConversionEventFactory(advertiser=advertiser),
    )
    campaign.full_clean()
    assert campaign.conversion_event is None


def test_campaign_names_are_unique_in_an_account_unless_archived() -> None:
    existing = CampaignFactory(name="Spring sale")
    with pytest.raises(ValidationError):
        CampaignFactory.build(advertiser=existing.advertiser, name="Spring sale").full_clean()
    CampaignFactory.build(advertiser=AdvertiserFactory(), name="Spring sale").full_clean()
    existing.archive()
    CampaignFactory.build(advertiser=existing.advertiser, name="Spring sale").full_clean()


def test_an_invalid_campaign_leaves_no_row_and_no_audit_entry() -> None:
    with pytest.raises(ValidationError) as exc:
        services.create_campaign(
            advertiser=AdvertiserFactory(), actor=Actor.system(), name="Broken",
            objective=Objective.AWARENESS, budget_micros=-5,
        )  # fmt: skip
    assert "budget_micros" in _messages(exc)
    assert not Campaign.objects.exists()
    assert not AuditLog.objects.exists()


def test_a_failure_after_the_insert_rolls_the_campaign_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_record(**kwargs: Any) -> None:
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(services, "record", broken_record)
    with pytest.raises(RuntimeError):
        services.create_campaign(
            advertiser=AdvertiserFactory(), actor=Actor.system(), name="Half", objective=Objective.AWARENESS,
            budget_micros=5_000_000,
        )  # fmt: skip
    assert not Campaign.objects.exists()


def test_an_invalid_ad_group_leaves_no_row_and_no_audit_entry() -> None:
    campaign = CampaignFactory()
    with pytest.raises(ValidationError) as exc:
        services.create_ad_group(
            campaign=campaign, actor=Actor.system(), name="Bad", bid_strategy=BidStrategy.MANUAL_CPM,
            bid_micros=1_000_000, targeting={"countries": ["US", "XX"]},
        )  # fmt: skip
    assert "targeting" in _messages(exc)
    assert not AdGroup.objects.exists()
    assert not AuditLog.objects.exists()


# Database constraints, with Python validation bypassed ------------------------------------------


def _refused(queryset: Any, **values: Any) -> None:
    with transaction.atomic(), pytest.raises(IntegrityError):
        queryset.update(**values)


@pytest.mark.parametrize("budget", [0, -1, MAX_MICROS + 1])
def test_db_refuses_a_budget_out_of_range(budget: int) -> None:
    campaign = CampaignFactory()
    _refused(Campaign.objects.filter(pk=campaign.pk), budget_micros=budget)
    assert Campaign.objects.get(pk=campaign.pk).budget_micros == campaign.budget_micros


@pytest.mark.parametrize("bid", [0, -1, MAX_MICROS + 1])
def test_db_refuses_a_bid_out_of_range(bid: int) -> None:
    ad_group = AdGroupFactory()
    _refused(AdGroup.objects.filter(pk=ad_group.pk), bid_micros=bid)


def test_db_refuses_a_bid_that_does_not_match_the_strategy() -> None:
    ad_group = AdGroupFactory(bid_strategy=BidStrategy.MANUAL_CPM, bid_micros=1_000_000)
    _refused(AdGroup.objects.filter(pk=ad_group.pk), bid_micros=None)
    _refused(AdGroup.objects.filter(pk=ad_group.pk), bid_strategy=BidStrategy.LOWEST_COST)


def test_db_refuses_an_end_before_or_at_the_start() -> None:
    campaign = CampaignFactory(starts_at=NOW)
    _refused(Campaign.objects.filter(pk=campaign.pk), ends_at=NOW - timedelta(days=1))
    _refused(Campaign.objects.filter(pk=campaign.pk), ends_at=NOW)


def test_db_refuses_a_lifetime_budget_without_end() -> None:
    campaign = CampaignFactory()
    _refused(Campaign.objects.filter(pk=campaign.pk), budget_type=Campaign.BudgetType.LIFETIME)


# (None, "day") once passed the CHECK: "impressions >= 1" is NULL for a NULL count.
@pytest.mark.parametrize(("impressions", "period"), [(3, ""), (0, "day"), (None, "day")])
def test_db_refuses_an_incomplete_frequency_cap(impressions: int | None, period: str) -> None:
    campaign = CampaignFactory()
    _refused(
        Campaign.objects.filter(pk=campaign.pk),
        frequency_cap_impressions=impressions,
        frequency_cap_period=period,
    )


def test_db_refuses_a_duplicate_campaign_name_unless_the_other_is_archived() -> None:
    existing = CampaignFactory(name="Always on")
    duplicate = CampaignFactory.build(advertiser=existing.advertiser, name="Always on")
    with transaction.atomic(), pytest.raises(IntegrityError):
        duplicate.save()
    Campaign.objects.filter(pk=existing.pk).update(status=Campaign.Status.ARCHIVED)
    duplicate.save()
    # Un-archiving the old one would now make two live campaigns of the same name.
    _refused(Campaign.objects.filter(pk=existing.pk), status=Campaign.Status.PAUSED)


def test_db_accepts_a_valid_campaign_saved_without_full_clean() -> None:
    campaign = CampaignFactory.build(
        advertiser=AdvertiserFactory(), budget_type="lifetime", ends_at=timezone.now() + timedelta(days=30),
        frequency_cap_impressions=5, frequency_cap_period="week",
    )  # fmt: skip
    campaign.save()
    assert campaign.pk
