"""Budgets: charges checked and counted atomically in Redis, written once to the ledger, reconciled.

The races are run by real processes (fork) against the real Redis; the ledger is real PostgreSQL.
"""

from __future__ import annotations

import multiprocessing
import random
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from campaigns.models import Campaign, CampaignDay, LedgerEntry
from campaigns.models.budget import spend_and_today
from delivery import budget, ingest
from delivery.events import EventKind, new_event_id
from tests.delivery import race_worker
from tests.factories import CampaignFactory

UNIT = 1_000_000  # 1.00 of the account currency
NOON_NY = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)  # 12:00 in New York


def charge_once(campaign_id: int, amount: int, at: datetime = NOON_NY, event_id: str | None = None) -> Any:
    event_id = event_id or new_event_id(at)
    event = {
        "event_id": event_id,
        "at": int(at.timestamp() * 1000),
        "ip": None,
        "user_agent": "t",
        "ivt_reason": "",
    }
    return budget.charge(
        event_id=event_id,
        campaign_id=campaign_id,
        ad_group_id=1,
        creative_id=1,
        amount_micros=amount,
        reason="impression",
        at=at,
        event_kind=EventKind.IMPRESSION,
        event=event,
    )


def drain() -> None:
    ingest.drain("test-budget")


def ledger_total(campaign_id: int, **filters: Any) -> int:
    entries = LedgerEntry.objects.filter(campaign_id=campaign_id, kind=LedgerEntry.Kind.CHARGE, **filters)
    return int(entries.aggregate(total=Sum("amount_micros"))["total"] or 0)


@pytest.fixture
def campaign(db, redis_client) -> Campaign:
    budget.forget_redis_state()
    return CampaignFactory(budget_micros=100 * UNIT, status=Campaign.Status.ACTIVE)


def test_a_charge_counts_in_redis_and_lands_in_the_ledger_once(campaign) -> None:
    event_id = new_event_id(NOON_NY)
    first = charge_once(campaign.pk, 2 * UNIT, event_id=event_id)
    again = charge_once(campaign.pk, 2 * UNIT, event_id=event_id)
    assert first.charged and not first.duplicate and first.spent_today_micros == 2 * UNIT
    assert again.charged and again.duplicate
    drain()
    drain()
    entry = LedgerEntry.objects.get(campaign=campaign)
    assert (entry.kind, entry.reason, entry.amount_micros, entry.currency) == (
        "charge",
        "impression",
        2 * UNIT,
        "USD",
    )
    assert str(entry.event_id) == event_id
    assert entry.day == date(2026, 11, 20)  # the advertiser's day
    assert budget.ledger_spend(campaign.pk, date(2026, 11, 20)) == (2 * UNIT, 2 * UNIT)


def test_a_charge_over_the_budget_is_refused_and_stops_the_campaign_until_midnight(
    campaign, redis_client
) -> None:
    assert charge_once(campaign.pk, 99 * UNIT).charged
    refused = charge_once(campaign.pk, 2 * UNIT)
    assert not refused.charged
    assert charge_once(campaign.pk, UNIT).charged  # exactly up to the budget
    stop = int(redis_client.hget(budget.STOP_KEY, str(campaign.pk)))
    assert stop == int(datetime(2026, 11, 21, 5, 0, tzinfo=UTC).timestamp() * 1000)  # New York midnight
    drain()
    assert ledger_total(campaign.pk) == 100 * UNIT
    # Another day starts again.
    assert charge_once(campaign.pk, 5 * UNIT, at=NOON_NY - timedelta(days=1)).charged


def test_the_same_event_charged_twice_is_one_ledger_entry_even_when_redis_forgot(campaign) -> None:
    event_id = new_event_id(NOON_NY)
    charge_once(campaign.pk, 3 * UNIT, event_id=event_id)
    drain()
    budget.forget_redis_state()
    again = charge_once(campaign.pk, 3 * UNIT, event_id=event_id)  # Redis rebuilt from the ledger
    assert again.charged and again.spent_today_micros == 6 * UNIT  # Redis counted it again...
    drain()
    assert LedgerEntry.objects.filter(event_id=event_id).count() == 1  # ...the ledger did not
    result = budget.reconcile(at=NOON_NY)
    assert result.adjusted >= 1
    assert budget.ledger_spend(campaign.pk, date(2026, 11, 20)) == (3 * UNIT, 3 * UNIT)
    client = budget.redis_client()
    assert int(client.get(budget.day_key(campaign.pk, date(2026, 11, 20)))) == 3 * UNIT
    assert int(client.get(budget.total_key(campaign.pk))) == 3 * UNIT


def test_a_lifetime_budget_is_a_hard_cap_across_days(db, redis_client) -> None:
    budget.forget_redis_state()
    campaign = CampaignFactory(
        budget_type=Campaign.BudgetType.LIFETIME,
        budget_micros=10 * UNIT,
        starts_at=NOON_NY - timedelta(days=10),
        ends_at=NOON_NY + timedelta(days=30),
        status=Campaign.Status.ACTIVE,
    )
    accepted = sum(
        charge_once(campaign.pk, 3 * UNIT, at=NOON_NY - timedelta(days=d)).charged for d in range(6)
    )
    assert accepted == 3
    assert redis_client.hget(budget.STOP_KEY, str(campaign.pk)) == b"0"  # for good
    drain()
    assert ledger_total(campaign.pk) == 9 * UNIT


def test_lowering_the_budget_below_todays_spend_stops_it_at_once_and_raising_reopens(
    campaign, redis_client, django_capture_on_commit_callbacks
) -> None:
    charge_once(campaign.pk, 40 * UNIT, at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        campaign.budget_micros = 30 * UNIT
        campaign.save()
        # Before the commit, the lower cap already holds.
        assert redis_client.hget(budget.budget_key(campaign.pk), "daily") == str(30 * UNIT).encode()
    assert redis_client.hget(budget.STOP_KEY, str(campaign.pk)) is not None
    assert not charge_once(campaign.pk, UNIT, at=timezone.now()).charged
    with django_capture_on_commit_callbacks(execute=True):
        campaign.budget_micros = 80 * UNIT
        campaign.save()
    assert redis_client.hget(budget.STOP_KEY, str(campaign.pk)) is None
    assert charge_once(campaign.pk, UNIT, at=timezone.now()).charged


def test_a_budget_raise_is_not_loosened_before_its_transaction_commits(campaign, redis_client) -> None:
    charge_once(campaign.pk, UNIT, at=timezone.now())
    try:
        with transaction.atomic():
            campaign.budget_micros = 500 * UNIT
            campaign.save()
            assert redis_client.hget(budget.budget_key(campaign.pk), "daily") == str(100 * UNIT).encode()
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert redis_client.hget(budget.budget_key(campaign.pk), "daily") == str(100 * UNIT).encode()


def test_overspend_becomes_a_credit_once(campaign) -> None:
    day = date(2026, 11, 20)
    charge_once(campaign.pk, 60 * UNIT)  # on the stream, not yet in the ledger...
    budget.forget_redis_state()  # ...when Redis loses the counters
    assert charge_once(campaign.pk, 90 * UNIT).charged  # against a counter rebuilt from the ledger: 0
    drain()
    assert ledger_total(campaign.pk) == 150 * UNIT
    credits = budget.credit_overspend(at=NOON_NY)
    assert [(c.kind, c.reason, c.amount_micros, c.day) for c in credits] == [
        ("credit", "over_daily_budget", 50 * UNIT, day)
    ]
    assert budget.credit_overspend(at=NOON_NY) == []  # once
    spend = spend_and_today({campaign.pk: date(2026, 11, 20)})[campaign.pk][0]
    assert (spend.charged_micros, spend.credited_micros, spend.net_micros) == (
        150 * UNIT,
        50 * UNIT,
        100 * UNIT,
    )


def test_a_day_costs_at_most_its_highest_budget_not_the_lowered_one(
    campaign, django_capture_on_commit_callbacks
) -> None:
    now = timezone.now()
    charge_once(campaign.pk, 80 * UNIT, at=now)
    drain()
    with django_capture_on_commit_callbacks(execute=True):
        campaign.budget_micros = 50 * UNIT  # lowered after spending 80: delivery stops, no credit
        campaign.save()
    assert budget.credit_overspend(at=now) == []
    assert CampaignDay.objects.get(campaign=campaign).cap_micros == 100 * UNIT


# ---------------------------------------------------------------------------------------------------
# Races: real processes charging at once


def _processes(target: Any, args_per_process: list[tuple[Any, ...]]) -> tuple[list[Any], Any, Any]:
    context = multiprocessing.get_context("spawn")
    results, start = context.Queue(), context.Event()
    processes = [context.Process(target=target, args=(*args, results, start)) for args in args_per_process]
    for process in processes:
        process.start()
    return processes, results, start


def _collect(processes: list[Any], results: Any) -> list[Any]:
    collected = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    return collected


def _race(campaign_id: int, per_process: list[list[int]]) -> list[int]:
    info = budget.campaign_budget(campaign_id)
    budget.load_budget(campaign_id, at=NOON_NY)
    processes, results, start = _processes(
        race_worker.charge_many, [(info, amounts, NOON_NY) for amounts in per_process]
    )
    start.set()
    return [amount for accepted in _collect(processes, results) for amount in accepted]


@pytest.mark.django_db(transaction=True)
def test_race_to_the_cap_16_processes_charging_one_unit_accept_exactly_100(redis_client) -> None:
    budget.forget_redis_state()
    campaign = CampaignFactory(budget_micros=100 * UNIT, status=Campaign.Status.ACTIVE)
    accepted = _race(campaign.pk, [[UNIT] * 10 for _ in range(16)])
    assert len(accepted) == 100
    drain()
    assert LedgerEntry.objects.filter(campaign=campaign).count() == 100
    assert ledger_total(campaign.pk) == 100 * UNIT


@pytest.mark.django_db(transaction=True)
def test_race_with_random_prices_never_spends_over_the_budget(redis_client) -> None:
    budget.forget_redis_state()
    campaign = CampaignFactory(budget_micros=100 * UNIT, status=Campaign.Status.ACTIVE)
    rng = random.Random(7)
    amounts = [[rng.randint(1, 3 * UNIT) for _ in range(12)] for _ in range(16)]
    accepted = _race(campaign.pk, amounts)
    assert sum(accepted) <= 100 * UNIT
    assert sum(accepted) > 90 * UNIT  # it filled up
    drain()
    assert ledger_total(campaign.pk) == sum(accepted)


@pytest.mark.django_db(transaction=True)
def test_lowering_the_budget_in_the_race_no_charge_is_accepted_after_it_commits(redis_client) -> None:
    budget.forget_redis_state()
    campaign = CampaignFactory(budget_micros=100 * UNIT, status=Campaign.Status.ACTIVE)
    info = budget.campaign_budget(campaign.pk)
    budget.load_budget(campaign.pk, at=NOON_NY)
    processes, results, start = _processes(race_worker.charge_for, [(info, UNIT // 10, NOON_NY, 4.0)] * 8)
    start.set()
    day = budget.day_key(campaign.pk, date(2026, 11, 20))
    while int(redis_client.get(day) or 0) < 5 * UNIT:
        time.sleep(0.01)
    with transaction.atomic():
        campaign.budget_micros = 2 * UNIT  # below what is already spent
        campaign.save()
    spent_at_commit = int(redis_client.get(day))
    accepted = sum(_collect(processes, results))
    assert accepted >= 50
    # The counter did not move after the commit, while 8 processes kept charging for seconds.
    assert int(redis_client.get(day)) == spent_at_commit


# ---------------------------------------------------------------------------------------------------
# A stale or lost Redis


def test_a_redis_that_lost_everything_is_rebuilt_from_the_ledger(campaign, redis_client) -> None:
    for _ in range(3):
        charge_once(campaign.pk, 10 * UNIT)
    drain()
    redis_client.flushdb()
    budget._info_cache.clear()
    outcome = charge_once(campaign.pk, 10 * UNIT)
    assert outcome.charged and outcome.spent_today_micros == 40 * UNIT
    assert not charge_once(campaign.pk, 70 * UNIT).charged  # 40 + 70 > 100: the rebuilt counter holds


def test_reconcile_waits_for_ingestion_and_keeps_charges_made_meanwhile(campaign, redis_client) -> None:
    for _ in range(5):
        charge_once(campaign.pk, UNIT)
    # Nothing is drained yet: reconciliation drains up to its snapshot before comparing.
    result = budget.reconcile(at=NOON_NY)
    assert result.caught_up and result.adjusted == 0
    assert ledger_total(campaign.pk) == 5 * UNIT
    assert int(redis_client.get(budget.day_key(campaign.pk, date(2026, 11, 20)))) == 5 * UNIT
