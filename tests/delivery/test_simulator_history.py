"""Fast history: the simulator's hours written straight into the event tables, rows that agree with
each other and with the ground truth, exposures that the gate counts, conversions attributed to their
clicks; and the models bench's comparison of rankings on the same traffic."""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from django.utils import timezone

from bench.model_world import compare_ranking
from campaigns.models import BidStrategy, Conversion, Creative, LedgerEntry, Objective
from delivery import engine
from delivery.events import STREAM
from delivery.gate import BudgetGate
from delivery.ml import dataset
from delivery.models import ClickEvent, DecisionEvent, ImpressionEvent, TruthEvent
from delivery.scoring import PriorScorer
from delivery.simulator import truth
from delivery.simulator.history import write_history
from tests.delivery.serving import fresh_index, live_ad_group
from tests.factories import ConversionEventFactory, PlacementFactory, PublisherFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_client")]

# Yesterday from 10:00 UTC: two hours of one UTC day, whatever the time the tests run.
START = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0) - timedelta(days=1)
HOUR_2 = START + timedelta(hours=1)


@pytest.fixture
def world(settings, tmp_path):
    """A banner and a native placement; an awareness campaign on both (CPM 3.00), and a traffic
    campaign on the banner, of an advertiser that reports purchases, whose CPC bid is worth more at
    the prior (2.50 x 0.15% x 1000 = 3.75): it wins the banner, the awareness campaign the native."""
    settings.MEDIA_ROOT = tmp_path
    publisher = PublisherFactory(domain="trailheadmag.com")
    PlacementFactory(publisher=publisher, key="mpu", sizes=["300x250"], daily_requests=200_000)
    PlacementFactory(
        publisher=publisher, key="feed", format=Creative.Format.NATIVE, sizes=[], daily_requests=100_000
    )
    long_ago = datetime.now(UTC) - timedelta(days=3)
    awareness = live_ad_group(bid_micros=3_000_000, starts_at=long_ago)
    live_ad_group(campaign=awareness.campaign, creative_format=Creative.Format.NATIVE, bid_micros=3_000_000)
    traffic = live_ad_group(
        objective=Objective.TRAFFIC,
        bid_strategy=BidStrategy.MANUAL_CPC,
        bid_micros=2_500_000,
        starts_at=long_ago,
    )
    ConversionEventFactory(advertiser=traffic.advertiser, name="Purchase")
    fresh_index()
    return awareness.campaign, traffic.campaign


def history_rows() -> dict[str, dict[str, Any]]:
    """Each decision's row with its impression, click and truth, by event id."""
    rows: dict[str, dict[str, Any]] = {
        str(d.event_id): {"decision": d} for d in DecisionEvent.objects.order_by("at")
    }
    for name, model in (("impression", ImpressionEvent), ("click", ClickEvent), ("truth", TruthEvent)):
        for event in model.objects.all():
            rows[str(event.event_id)][name] = event
    return rows


def test_a_history_writes_decisions_impressions_clicks_and_truth_that_agree(world, redis_client):
    awareness, traffic = world
    history = write_history(start=START, hours=2, requests_per_hour=600, seed=21, n_users=300)

    assert history.requests > 800 and history.invalid_requests > 0
    assert history.decisions == history.requests  # everyone is targeted, every bid clears the floor
    rows = history_rows()
    assert len(rows) == DecisionEvent.objects.count() == history.decisions
    assert ImpressionEvent.objects.count() == TruthEvent.objects.count() == history.impressions
    assert ClickEvent.objects.count() == history.clicks
    assert history.impressions == pytest.approx(0.95 * history.decisions, abs=60)
    for row in rows.values():
        decision = row["decision"]
        assert START <= decision.at < START + timedelta(hours=2)
        assert decision.source == "simulator" and decision.campaign_id in {awareness.pk, traffic.pk}
        # Every truth row has its decision and its impression; every impression its truth.
        assert ("impression" in row) == ("truth" in row)
        if "impression" not in row:
            assert "click" not in row
            continue
        impression, fact = row["impression"], row["truth"]
        assert impression.ivt_reason == "" and impression.ip and impression.user_agent
        assert decision.at < impression.at < decision.at + timedelta(seconds=3)
        assert 0 < fact.p_click < 1 and 0 < fact.p_conversion < 1
        # Clicks exactly where the truth says so: valid, after their impression.
        assert ("click" in row) == fact.clicked
        if fact.clicked:
            click = row["click"]
            assert click.ivt_reason == "" and click.had_impression and click.at > impression.at
        assert fact.clicked or not fact.converted
    decisions = [row["decision"] for row in rows.values()]
    assert sum(bool(d.interests) for d in decisions) > 0.5 * len(decisions)
    assert any(d.keywords for d in decisions)
    assert {d.campaign_id for d in decisions} == {awareness.pk, traffic.pk}
    # Nothing charged, nothing through the stream.
    assert not LedgerEntry.objects.exists()
    assert redis_client.xlen(STREAM) == 0


def test_decisions_carry_the_persons_exposures_that_the_gate_counts(world):
    write_history(start=START, hours=2, requests_per_hour=600, seed=22, n_users=300)

    # Each hour is decided in one batch: the gate reads the exposures as they were when it began.
    shown = set(ImpressionEvent.objects.values_list("event_id", flat=True))
    shown_first_hour = Counter(
        (d.user_key, d.campaign_id)
        for d in DecisionEvent.objects.filter(at__lt=HOUR_2)
        if d.event_id in shown
    )
    first = DecisionEvent.objects.filter(at__lt=HOUR_2)
    second = DecisionEvent.objects.filter(at__gte=HOUR_2)
    assert set(first.values_list("exposures", flat=True)) == {0}
    for d in second:
        assert d.exposures == shown_first_hour[(d.user_key, d.campaign_id)]
    assert max(second.values_list("exposures", flat=True)) >= 2  # the busiest people come back


def test_conversions_are_reported_by_postback_and_attributed_to_their_clicks(world, monkeypatch):
    _, traffic = world
    # A world where people click and buy a lot, for enough conversions in two small hours.
    monkeypatch.setattr(truth, "BASE_CTR", np.array([0.3, 0.3, 0.3]))
    monkeypatch.setattr(truth, "BASE_CVR", 0.9)
    history = write_history(start=START, hours=2, requests_per_hour=600, seed=23, n_users=300)

    conversions = list(Conversion.objects.all())
    assert len(conversions) == history.conversions > 5
    clicks = {c.event_id: c for c in ClickEvent.objects.all()}
    converted = set(TruthEvent.objects.filter(converted=True).values_list("event_id", flat=True))
    campaign_of = dict(DecisionEvent.objects.values_list("event_id", "campaign_id"))
    for conversion in conversions:
        # Only the advertiser that reports purchases, each for a click the truth converted.
        assert conversion.click_id in converted
        assert campaign_of[conversion.click_id] == traffic.pk
        assert (conversion.attribution, conversion.source) == ("click", "postback")
        assert conversion.attributed_event_id == conversion.click_id
        assert conversion.campaign_id == traffic.pk
        assert conversion.touch_at == clicks[conversion.click_id].at < conversion.occurred_at
        assert conversion.occurred_at < timezone.now()  # later ones have not happened yet
        assert conversion.value_micros > 0


def test_the_same_seed_gives_the_same_history(world, redis_client):
    def play(before: set[object]) -> tuple[tuple[int, ...], list[tuple[object, ...]]]:
        """The history's counts, and its rows (but for the events' random ids), in order."""
        history = write_history(start=START, hours=2, requests_per_hour=400, seed=24, n_users=300)
        truths = {t.event_id: t for t in TruthEvent.objects.exclude(event_id__in=before)}
        rows = []
        for d in DecisionEvent.objects.exclude(event_id__in=before):
            fact = truths.get(d.event_id)
            rows.append(
                (d.request_id, d.campaign_id, d.creative_id, d.exposures, d.price_micros, d.user_key)
                + ((fact.p_click, fact.p_conversion, fact.clicked, fact.converted) if fact else ())
            )
        counts = (
            history.requests,
            history.decisions,
            history.impressions,
            history.clicks,
            history.conversions,
        )
        return counts, sorted(rows)

    first = play(set())
    # The event tables are append-only: the second history's rows are the ones it adds.
    redis_client.flushdb()
    second = play(set(DecisionEvent.objects.values_list("event_id", flat=True)))
    assert second == first
    assert len(first[1]) == first[0][1] > 300


def test_simulate_fast_prints_the_counts(world):
    out = io.StringIO()
    call_command(
        "simulate",
        *["--fast", "--hours", "1", "--requests-per-hour", "300", "--users", "500", "--seed", "3"],
        stdout=out,
    )
    text = out.getvalue()
    for label in ("requests", "decisions", "impressions", "clicks", "conversions", "requests/s"):
        assert label in text
    assert DecisionEvent.objects.exists()


def test_a_history_outside_the_days_kept_is_refused(world):
    with pytest.raises(ValueError, match="days"):
        write_history(start=START - timedelta(days=400), hours=1, requests_per_hour=100, seed=1)


# Ranking compared --------------------------------------------------------------------------------


class EagerScorer:
    """Believes every ad is clicked one time in a hundred: CPC bids rank far above CPM ones."""

    name = "eager"

    def score(self, request, slot, snapshot, creative_rows, exposures):
        return np.full(len(creative_rows), 0.01), np.full(len(creative_rows), 0.03)


def test_rankings_are_compared_on_the_same_traffic_and_nothing_is_written(settings, tmp_path, redis_client):
    settings.MEDIA_ROOT = tmp_path
    PlacementFactory(key="mpu", sizes=["300x250"], daily_requests=100_000)
    long_ago = datetime.now(UTC) - timedelta(days=3)
    cpm = live_ad_group(bid_micros=3_000_000, starts_at=long_ago)
    cpc = live_ad_group(
        objective=Objective.TRAFFIC,
        bid_strategy=BidStrategy.MANUAL_CPC,
        bid_micros=1_500_000,
        starts_at=long_ago,
    )
    Creative.objects.filter(ad_group=cpm).update(category="sports")
    Creative.objects.filter(ad_group=cpc).update(category="cooking")
    fresh_index()
    installed, scorer = BudgetGate(), PriorScorer()
    app_gate, app_scorer = engine.set_gate(installed), engine._state.scorer
    engine.set_scorer(scorer)
    try:
        results = compare_ranking(
            {"prior": PriorScorer(), "prior again": PriorScorer(), "eager": EagerScorer()},
            start=START, hours=2, requests_per_hour=500, seed=5, n_users=400,
        )  # fmt: skip
        # The scorer and the gate in place before are back.
        assert engine._state.scorer is scorer
        assert engine.set_gate(app_gate) is installed
    finally:
        engine.set_gate(app_gate)
        engine.set_scorer(app_scorer)

    prior, again, eager = results["prior"], results["prior again"], results["eager"]
    # The same traffic and the same noise: the same ranking earns exactly the same.
    assert (prior.requests, prior.impressions, prior.spend_usd_micros) == (
        again.requests,
        again.impressions,
        again.spend_usd_micros,
    )
    assert prior.expected_clicks == again.expected_clicks
    assert prior.expected_conversions == again.expected_conversions
    for result in (prior, eager):
        assert result.requests == prior.requests > 500
        assert result.impressions == result.requests  # one slot each, every bid clears the floor
        assert 0 < result.expected_conversions < result.expected_clicks < 0.1 * result.impressions
        assert result.spend_usd_micros > 0
        assert 0 < result.conversions_per_dollar < result.clicks_per_dollar
    # At the prior the CPM bid (3.00) beats the CPC bid (1.50 x 0.15% x 1000 = 2.25) and pays 2.25;
    # the eager scorer puts the CPC bid first (15.00), which clears at the CPM bid, 3.00, and is
    # billed per click: 3.00 / 1000 / 1% = 0.30 a click, paid as often as the truth clicks.
    assert prior.spend_usd_micros == prior.impressions * 2_250
    assert eager.spend_usd_micros == pytest.approx(eager.expected_clicks * 300_000, abs=1)
    assert eager.expected_clicks != prior.expected_clicks
    # By what each kind of bid buys: the CPM ad at the prior, the CPC ad with the eager scorer.
    assert prior.by_goal["impressions"].impressions == prior.impressions
    assert eager.by_goal["clicks"].impressions == eager.impressions
    assert eager.by_goal["clicks"].spend_usd_micros == pytest.approx(eager.spend_usd_micros, abs=1)
    assert eager.by_goal["clicks"].expected_clicks == pytest.approx(eager.expected_clicks)
    # Nothing written.
    assert not DecisionEvent.objects.exists() and not TruthEvent.objects.exists()
    assert redis_client.dbsize() == 0


def test_the_models_read_a_history_back_as_labelled_rows(world, monkeypatch):
    """The training rows of delivery.ml.dataset are the valid impressions and clicks of the history,
    labelled by its clicks and by the conversions attributed within the label window."""
    _, traffic = world
    monkeypatch.setattr(truth, "BASE_CTR", np.array([0.3, 0.3, 0.3]))
    monkeypatch.setattr(truth, "BASE_CVR", 0.9)
    write_history(start=START, hours=2, requests_per_hour=600, seed=23, n_users=300)
    end = START + timedelta(hours=2)
    now = datetime.now(UTC)
    ctr = dataset.read("ctr", start=START, end=end, now=now)
    cvr = dataset.read("cvr", start=START, end=end, now=now)

    assert len(ctr) == ImpressionEvent.objects.count()
    assert int(ctr.label.sum()) == ClickEvent.objects.count()
    assert (np.diff(ctr.at) >= 0).all()  # in time order, for the split by time
    facts = dict(TruthEvent.objects.values_list("p_click", "clicked"))
    assert not np.isnan(ctr.truth).any() and set(ctr.truth.tolist()) <= set(facts)
    # Clicks of the advertiser that tracks conversions only: the others' are unlabelled.
    tracked = DecisionEvent.objects.filter(advertiser_id=traffic.advertiser_id).values_list(
        "event_id", flat=True
    )
    assert (
        len(cvr) == ClickEvent.objects.filter(event_id__in=list(tracked)).count() < ClickEvent.objects.count()
    )
    window = dataset.conversion_label_window()
    within = {
        c.attributed_event_id
        for c in Conversion.objects.filter(attribution="click")
        if c.occurred_at - c.touch_at <= window
    }
    assert int(cvr.label.sum()) == len(within) > 0
    converted_campaigns = set(cvr.inputs.campaign[cvr.label].tolist())
    assert converted_campaigns == {traffic.pk}  # only its advertiser reports conversions
    # Labels not final yet are left out: an hour after the end, no click has its day.
    assert len(dataset.read("cvr", start=START, end=end, now=end + timedelta(hours=1))) == 0
