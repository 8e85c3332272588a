"""A hypothesis state machine over budgets: charges, budget changes, days passing in the advertiser's
time zone (across a daylight-saving change), ingestion, Redis losing its counters or everything, and
reconciliation. Whatever happens: Redis agrees with the ledger after reconciliation, the ledger holds
exactly the charges accepted (and not lost with the stream), what reports sum is the ledger, a day is
never charged over its budget unless Redis lost track (and then the excess is credited), and no
amount is negative or fractional."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Sum
from django.test import TestCase
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from campaigns.models import Campaign, LedgerEntry
from campaigns.models.budget import spend_and_today
from delivery import budget, ingest
from delivery.hot import redis_client
from tests.delivery.test_budget import charge_once
from tests.factories import AdvertiserFactory, CampaignFactory

UNIT = 1_000_000
ZONE = ZoneInfo("America/New_York")
# New York leaves daylight saving time at 2026-11-01 02:00 local: the machine's days cross it.
START = datetime(2026, 10, 31, 20, 0, tzinfo=UTC)


class Budgets(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        redis_client().flushdb()
        budget.forget_redis_state()
        advertiser = AdvertiserFactory(time_zone="America/New_York")
        self.campaign = CampaignFactory(
            advertiser=advertiser, budget_micros=20 * UNIT, status=Campaign.Status.ACTIVE
        )
        self.clock = START
        self.pending: list[tuple[date, int]] = []  # accepted, on the stream
        self.ingested: dict[date, int] = defaultdict(int)  # accepted and in the ledger
        self.max_budget: dict[date, int] = defaultdict(int)  # highest budget charged under, per day
        self.lost_days: set[date] = set()  # days whose counters Redis lost

    @property
    def day(self) -> date:
        return self.clock.astimezone(ZONE).date()

    @rule(amount=st.integers(min_value=1, max_value=9 * UNIT))
    def charge(self, amount: int) -> None:
        outcome = charge_once(self.campaign.pk, amount, at=self.clock)
        self.max_budget[self.day] = max(self.max_budget[self.day], self.campaign.budget_micros)
        if outcome.charged and not outcome.duplicate:
            self.pending.append((self.day, amount))

    @rule(hours=st.integers(min_value=1, max_value=30))
    def time_passes(self, hours: int) -> None:
        self.clock = min(self.clock + timedelta(hours=hours), START + timedelta(days=15))

    @rule(units=st.integers(min_value=1, max_value=40))
    def change_budget(self, units: int) -> None:
        with TestCase.captureOnCommitCallbacks(execute=True):
            self.campaign.budget_micros = units * UNIT
            self.campaign.save()

    @rule()
    def drain(self) -> None:
        ingest.drain("machine")
        for day, amount in self.pending:
            self.ingested[day] += amount
        self.pending.clear()

    @rule()
    def redis_loses_the_counters(self) -> None:
        budget.forget_redis_state()
        self.lost_days.update(day for day, _ in self.pending)
        self.lost_days.add(self.day)

    @rule()
    def redis_loses_everything(self) -> None:
        redis_client().flushdb()
        budget.forget_redis_state()
        self.pending.clear()  # the stream went with it: those charges were never billed
        self.lost_days.add(self.day)

    @rule()
    def reconcile(self) -> None:
        result = budget.reconcile(at=self.clock, wait_seconds=5)
        assert result.caught_up
        for day, amount in self.pending:
            self.ingested[day] += amount
        self.pending.clear()
        cid = self.campaign.pk
        in_ledger = budget.ledger_spend(cid, self.day)
        client = redis_client()
        assert int(client.get(budget.day_key(cid, self.day)) or 0) == in_ledger[0]
        assert int(client.get(budget.total_key(cid)) or 0) == in_ledger[1]

    @precondition(lambda self: not self.pending)
    @invariant()
    def the_ledger_is_what_was_accepted(self) -> None:
        entries = LedgerEntry.objects.filter(campaign=self.campaign)
        charged = dict(
            entries.filter(kind="charge").values_list("day").annotate(total=Sum("amount_micros")).order_by()
        )
        assert charged == {day: total for day, total in self.ingested.items() if total}
        assert not entries.filter(amount_micros__lte=0).exists()
        assert all(isinstance(amount, int) for amount in entries.values_list("amount_micros", flat=True))

    @invariant()
    def reports_sum_the_ledger(self) -> None:
        entries = LedgerEntry.objects.filter(campaign=self.campaign)
        signed = sum(e.signed_micros for e in entries)
        spend = spend_and_today({self.campaign.pk: self.day}).get(self.campaign.pk, (None,))[0]
        assert (spend.net_micros if spend else 0) == signed
        assert signed >= 0

    @invariant()
    def a_day_is_charged_over_its_budget_only_when_redis_lost_track(self) -> None:
        for day, total in self.ingested.items():
            if day not in self.lost_days:
                assert total <= self.max_budget[day]


@pytest.mark.django_db
def test_budgets_hold_whatever_happens(redis_client) -> None:
    run_state_machine_as_test(
        Budgets,
        settings=settings(
            max_examples=40,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


@pytest.mark.django_db
def test_credits_bring_every_recent_day_back_to_its_budget(redis_client) -> None:
    """After Redis lost track mid-day, reconciliation credits what was charged over the budget."""
    budget.forget_redis_state()
    campaign = CampaignFactory(budget_micros=10 * UNIT, status=Campaign.Status.ACTIVE)
    at = datetime(2026, 11, 20, 17, tzinfo=UTC)
    for _ in range(3):
        charge_once(campaign.pk, 3 * UNIT, at=at)  # 9, on the stream
    budget.forget_redis_state()
    for _ in range(3):
        charge_once(campaign.pk, 3 * UNIT, at=at)  # 9 more, against a rebuilt (empty) counter
    budget.reconcile(at=at)
    spend = spend_and_today({campaign.pk: date(2026, 11, 20)})[campaign.pk][0]
    assert (spend.charged_micros, spend.credited_micros, spend.net_micros) == (18 * UNIT, 8 * UNIT, 10 * UNIT)
