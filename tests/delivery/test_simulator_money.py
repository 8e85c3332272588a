"""The simulator's traffic pays and converts through the real code: every valid billable event is one
ledger charge, budgets stop the spend, and conversions arrive by postback, attributed to their clicks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Sum
from numpy.random import PCG64, Generator

from campaigns.models import Campaign, Conversion, LedgerEntry
from delivery import budget, ingest
from delivery.models import ClickEvent, DecisionEvent, ImpressionEvent
from delivery.request import Win
from delivery.simulator import outcomes, runner
from tests.delivery.test_simulator_loop import inventory  # noqa: F401 - the fixture
from tests.factories import ConversionEventFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_client")]
START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)


@pytest.fixture(autouse=True)
def clean_budgets():
    budget.forget_redis_state()


def billable_event_ids(group) -> set[str]:
    decisions = DecisionEvent.objects.filter(campaign_id=group.campaign_id)
    ids = {str(e) for e in decisions.values_list("event_id", flat=True)}
    valid = {str(e) for e in ImpressionEvent.objects.filter(ivt_reason="").values_list("event_id", flat=True)}
    return ids & valid


def test_every_valid_billable_impression_is_one_charge_and_the_tally_is_the_ledger(inventory) -> None:  # noqa: F811
    _, _, group = inventory
    result = runner.run(hours=1, requests_per_hour=1_500, seed=11, start=START, n_users=3_000, inline=True)
    ingest.drain("test-money")
    charges = LedgerEntry.objects.filter(campaign_id=group.campaign_id, kind="charge")
    assert {str(e) for e in charges.values_list("event_id", flat=True)} == billable_event_ids(group)
    total = charges.aggregate(total=Sum("amount_micros"))["total"]
    assert total == result.tally.spend[(group.campaign_id, "USD")] > 0
    assert not result.tally.over_budget


def test_a_small_budget_stops_the_spend_at_the_budget(inventory) -> None:  # noqa: F811
    _, _, group = inventory
    Campaign.objects.filter(pk=group.campaign_id).update(budget_micros=2_000_000)  # 2.00 a day
    budget.forget_redis_state()
    result = runner.run(hours=2, requests_per_hour=1_500, seed=12, start=START, n_users=3_000, inline=True)
    ingest.drain("test-money")
    charged = LedgerEntry.objects.filter(campaign_id=group.campaign_id).aggregate(total=Sum("amount_micros"))
    assert charged["total"] <= 2_000_000 * 2  # at most the budget of each advertiser day touched
    assert result.tally.spend[(group.campaign_id, "USD")] == charged["total"]
    # Once stopped, the campaign stops winning: what was served free is a few impressions at most.
    assert result.tally.over_budget[(group.campaign_id, "USD")] < 50_000


def test_conversions_are_reported_by_postback_and_attributed_to_their_clicks(inventory) -> None:  # noqa: F811
    _, _, group = inventory
    ConversionEventFactory(advertiser=group.advertiser, name="Purchase", click_window_days=7)
    runner.run(hours=1, requests_per_hour=3_000, seed=13, start=START, n_users=3_000, inline=True)
    ingest.drain("test-money")
    # What the run itself drew and queued is reported first (how much depends on the run's draws).
    outcomes.report_due_conversions(13, datetime.now(UTC))
    already = set(Conversion.objects.values_list("click_id", flat=True))
    valid = ClickEvent.objects.filter(ivt_reason="").order_by("at")
    clicks = [c for c in valid if c.event_id not in already][:5]
    assert clicks
    # A few hours go by: the people who clicked buy, and the advertiser's server reports it.
    decisions = {
        d.event_id: d for d in DecisionEvent.objects.filter(event_id__in=[c.event_id for c in clicks])
    }
    due = [(win_of(decisions[c.event_id]), c.at + timedelta(minutes=20)) for c in clicks]
    outcomes.queue_conversions(13, due, Generator(PCG64(1)))
    assert outcomes.report_due_conversions(13, START) == 0  # not yet due
    assert outcomes.report_due_conversions(13, datetime.now(UTC)) == len(clicks)
    assert outcomes.report_due_conversions(13, datetime.now(UTC)) == 0  # each reported once
    conversions = Conversion.objects.filter(conversion_event__advertiser=group.advertiser).exclude(
        click_id__in=already
    )
    assert {c.click_id for c in conversions} == {c.event_id for c in clicks}
    for conversion in conversions:
        assert (conversion.attribution, conversion.campaign_id, conversion.source) == (
            "click",
            group.campaign_id,
            "postback",
        )
        assert conversion.value_micros > 0


def win_of(decision: DecisionEvent) -> Win:
    return Win(
        event_id=str(decision.event_id), slot_id=decision.slot_id, placement_id=decision.placement_id,
        advertiser_id=decision.advertiser_id, campaign_id=decision.campaign_id,
        ad_group_id=decision.ad_group_id, creative_id=decision.creative_id,
        bid_cpm_micros=decision.bid_cpm_micros, price_cpm_micros=decision.price_cpm_micros,
        price_micros=decision.price_micros, currency=decision.currency, billing_event=decision.billing_event,
        pctr=decision.pctr, pcvr=decision.pcvr, runner_up_cpm_micros=None,
    )  # fmt: skip
