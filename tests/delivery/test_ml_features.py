"""The models' features: one definition for training rows and for serving, and their tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from campaigns.models import Creative
from delivery import engine, ingest
from delivery.ml import dataset, features
from delivery.ml.serving import ad_inputs, request_inputs
from delivery.simulator.outcomes import token_from_url
from delivery.tracking import record_impression, tracking_urls
from tests.delivery.serving import ad_request, fresh_index, live_ad_group, slot_for
from tests.factories import PlacementFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("redis_client")]


def test_a_logged_decision_encodes_exactly_as_serving_encoded_it():
    placement = PlacementFactory(floor_cpm_micros=100_000)
    group = live_ad_group()
    Creative.objects.filter(ad_group=group).update(category="travel")
    fresh_index()
    at = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)  # already the 21st in Paris: day and hour differ
    context = {
        "country": "FR", "region": "FR-IDF", "language": "fr", "age": 34, "gender": "female",
        "device_type": "mobile", "os": "ios", "interests": {"travel", "pets"},
        "keywords": {"cheap flights", "recipes"},
    }  # fmt: skip
    request = ad_request(slot_for(placement), at=at, **context)
    decision = engine.decide(request)
    [win] = decision.wins
    urls = tracking_urls(win, "http://testserver", user_key=request.user_key)
    assert record_impression(
        token_from_url(urls.impression_url), ip="192.0.2.1", user_agent="Mozilla/5.0", at=at
    ).counted
    ingest.drain("test-ml")

    rows = dataset.read(
        "ctr", start=at - timedelta(hours=1), end=at + timedelta(hours=1), now=at + timedelta(days=1)
    )
    assert len(rows) == 1
    tables = features.Tables(
        vocabularies={name: {} for name in features.VOCABULARY_FEATURES} | {"creative": {win.creative_id: 0}},
        creative_clicks=features.History.count(
            np.array([win.creative_id]), np.array([0]), np.array([500]), np.array([4])
        ),
    )
    trained = features.encode(rows.inputs, tables)

    snapshot = engine.snapshot()
    row = np.array([snapshot.creative_ids.tolist().index(win.creative_id)])
    served = features.encode(ad_inputs(snapshot), tables, groups=(features.AD_GROUP,))[row]
    features.encode(
        request_inputs(
            request, slot_for(placement), ad_inputs(snapshot).segments[row], np.array([win.exposures])
        ),
        tables,
        groups=(features.REQUEST_GROUP, features.PAIR_GROUP),
        out=served,
    )
    np.testing.assert_array_equal(trained, served)
    named = dict(zip(features.NAMES, trained[0].tolist(), strict=True))
    assert named["local_hour"] == 0 and named["weekday"] == 5  # 00:30 on Saturday in Paris
    assert named["interest_match"] == 1.0 and named["topic_match"] == 1.0
    assert named["age"] == 34 and named["interest_count"] == 2
    assert named["creative"] == 0 and named["campaign"] == 0  # known creative; campaign is "other"


def test_history_counts_only_the_days_before_each_row():
    history = features.History.count(
        ids=np.array([7, 7, 7, 9]), days=np.array([10, 10, 12, 10]),
        trials=np.array([1.0, 1.0, 1.0, 1.0]), successes=np.array([1.0, 0.0, 1.0, 0.0]),
    )  # fmt: skip
    trials, successes = history.lookup(np.array([7, 7, 7, 7, 9, 8]), np.array([10, 11, 12, 13, 99, 99]))
    assert trials.tolist() == [0, 2, 2, 3, 1, 0]
    assert successes.tolist() == [0, 1, 1, 2, 0, 0]
    totals = history.totals()
    assert totals.ids.tolist() == [7, 9] and totals.trials.tolist() == [3, 1]


def test_an_unknown_value_is_the_other_category_and_missing_is_nan():
    vocabulary = features.learn_vocabulary(np.array([5] * 30 + [6] * 25 + [7] * 3))
    assert vocabulary == {5: 0, 6: 1}
    inputs = request_like(n=3, placement=np.array([5, 7, -1]))
    X = features.encode(inputs, features.Tables(vocabularies={"placement": vocabulary}))
    column = X[:, features.COLUMN["placement"]]
    assert column[0] == 0 and column[1] == 2 and np.isnan(column[2])


def test_a_creative_never_seen_gets_its_smoothed_prior_not_zero():
    inputs = request_like(n=1, creative=np.array([123]))
    X = features.encode(inputs, features.Tables(ctr=0.01))
    assert X[0, features.COLUMN["creative_ctr"]] == pytest.approx(np.log(0.01 / 0.99))


def test_local_time_follows_daylight_saving():
    zone = features.zone_index("US", "US-NY")
    before = int(datetime(2026, 3, 8, 6, 30, tzinfo=UTC).timestamp())  # 01:30 EST
    after = int(datetime(2026, 3, 8, 7, 30, tzinfo=UTC).timestamp())  # 03:30 EDT
    hours, _ = features.local_time(np.array([zone, zone]), np.array([before, after]))
    assert hours.tolist() == [1, 3]
    assert features.local_time_one(zone, after) == (3, 6)


def request_like(n: int, **overrides: np.ndarray) -> features.Inputs:
    ints = np.zeros(n, dtype=np.int64)
    fields: dict[str, np.ndarray] = {
        "country": np.full(n, "US", dtype=object), "language": np.full(n, "en", dtype=object),
        "age": np.full(n, np.nan), "gender": np.full(n, "", dtype=object),
        "device_type": np.full(n, "desktop", dtype=object), "os": np.full(n, "windows", dtype=object),
        "interests": ints, "topics": ints, "placement": ints - 1, "publisher": ints - 1,
        "local_hour": ints, "weekday": ints, "format": ints, "size": ints, "segments": ints,
        "advertiser": ints, "campaign": ints, "ad_group": ints, "creative": ints, "exposures": ints,
        "day": ints + 20_000,
    }  # fmt: skip
    fields.update(overrides)
    return features.Inputs(**fields)
