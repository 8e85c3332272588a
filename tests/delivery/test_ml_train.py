"""Training, judging and registering model versions, and serving them: on rows drawn from a known
truth, so that what the model should learn is known."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from delivery import engine
from delivery.ml import artifact, dataset, features, registry, train
from delivery.ml.serving import ModelScorer
from delivery.models import ModelVersion
from delivery.scoring import PriorScorer
from tests.delivery.serving import ad_request, fresh_index, live_ad_group, slot_for
from tests.factories import PlacementFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_client")]

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def synthetic(kind: str, n: int, *, seed: int = 1, base: float = -4.0) -> dataset.Rows:
    """Rows over the week before NOW whose truth depends on the creative, the device, the hour and
    whether the person follows what the ad is about."""
    rng = np.random.default_rng(seed)
    at = np.sort(rng.uniform((NOW - timedelta(days=7)).timestamp(), NOW.timestamp(), n))
    creative = rng.integers(1, 21, n)
    device = rng.integers(0, 3, n)
    interests = rng.integers(0, 4, n)
    segments = np.full(n, 1)
    hour = ((at // 3600) % 24).astype(np.int64)
    effect = np.linspace(-0.8, 0.8, 21)[creative] + np.array([0.0, 0.4, -0.5])[device]
    logit = base + effect + 1.0 * ((interests & segments) != 0) - 0.3 * (hour < 6)
    truth = 1 / (1 + np.exp(-logit))
    label = rng.random(n) < truth
    text = np.array(["desktop", "mobile", "tablet"], dtype=object)
    inputs = features.Inputs(
        country=np.full(n, "US", dtype=object), language=np.full(n, "en", dtype=object),
        age=rng.integers(18, 70, n).astype(np.float64), gender=np.full(n, "female", dtype=object),
        device_type=text[device], os=np.full(n, "android", dtype=object), interests=interests,
        topics=np.zeros(n, np.int64), placement=rng.integers(1, 4, n), publisher=np.ones(n, np.int64),
        local_hour=hour, weekday=((at // 86_400 + 3) % 7).astype(np.int64), format=np.zeros(n, np.int64),
        size=np.zeros(n, np.int64), segments=segments, advertiser=np.ones(n, np.int64),
        campaign=(creative % 3) + 1, ad_group=(creative % 6) + 1, creative=creative.astype(np.int64),
        exposures=rng.integers(0, 3, n), day=(at // 86_400).astype(np.int64),
    )  # fmt: skip
    return dataset.Rows(kind, at, inputs, label, truth)


@pytest.fixture
def rows() -> tuple[dataset.Rows, dataset.Rows]:
    return synthetic("ctr", 40_000), synthetic("cvr", 10_000, seed=2, base=-2.5)


def test_a_first_model_learns_the_truth_and_becomes_active(
    rows, django_capture_on_commit_callbacks, redis_client
):
    with django_capture_on_commit_callbacks(execute=True):
        version = train.train("ctr", now=NOW, rows=rows, trained_by="test")
    assert version.status == ModelVersion.Status.ACTIVE
    assert "against the priors'" in version.decision and version.decision.endswith("serves in their place.")
    assert version.metrics["compared_with"]["label"] == "the priors"
    assert int(redis_client.get(registry.VERSION_KEY)) == 1
    holdout, truth = version.metrics["holdout"], version.metrics["truth"]
    assert (
        version.rows_train == 28_000 and version.rows_calibration == 4_000 and version.rows_holdout == 8_000
    )
    assert truth["auc_ratio"] > 0.95
    assert truth["ne_gap"] < 0.02
    # ~1,500 training clicks: a calibration within sampling noise of it
    assert 0.75 < holdout["calibration"] < 1.25
    assert 0.8 < truth["calibration"] < 1.2
    assert {f["name"] for f in version.metrics["top_features"][:3]} & {
        "creative",
        "interest_match",
        "device_type",
    }
    assert len(version.metrics["reliability"]) == train.RELIABILITY_BINS
    assert sum(c["positives"] for c in version.metrics["per_campaign"]) == holdout["positives"]
    assert version.spec_fingerprint == features.SPEC
    assert artifact.load(bytes(version.artifact), expected_sha256=version.artifact_sha256).kind == "ctr"


def test_a_version_that_does_not_beat_the_active_one_stays_a_candidate(rows):
    first = train.train("ctr", now=NOW, rows=rows)
    second = train.train("ctr", now=NOW, rows=rows)  # the same rows: the same log loss, not better
    first.refresh_from_db()
    assert first.status == ModelVersion.Status.ACTIVE
    assert second.status == ModelVersion.Status.CANDIDATE
    assert second.number == 2
    assert second.metrics["compared_with"]["number"] == 1
    assert "not better, so it stays a candidate" in second.decision


def test_promotion_and_roll_back_keep_one_active_version(rows):
    first = train.train("ctr", now=NOW, rows=rows)
    second = train.train("ctr", now=NOW, rows=rows)
    registry.promote(second, by="staff@example.com")
    first.refresh_from_db()
    assert (first.status, registry.active("ctr")) == (ModelVersion.Status.RETIRED, second)
    back = registry.roll_back("ctr", by="staff@example.com")
    assert back == first and registry.active("ctr") == first
    assert ModelVersion.objects.filter(kind="ctr", status="active").count() == 1


def test_a_first_model_worse_than_the_priors_stays_a_candidate():
    # Labels unrelated to anything; twice the prior's rate while it trains, the prior's own after:
    # the model learns a rate the holdout no longer has, the prior (banner, 0.15%) has it exactly.
    ctr = synthetic("ctr", 40_000)
    rate = np.where(np.arange(len(ctr)) < len(ctr) * 0.8, 0.003, 0.0015)
    ctr.label = np.random.default_rng(5).random(len(ctr)) < rate
    ctr.truth = rate
    version = train.train("ctr", now=NOW, rows=(ctr, ctr))
    assert version.status == ModelVersion.Status.CANDIDATE
    assert version.decision.endswith("not better, so the priors keep serving.")
    mine, priors = (
        version.metrics["holdout"]["log_loss"],
        version.metrics["compared_with"]["holdout"]["log_loss"],
    )
    assert mine > priors * 1.05  # by a margin no machine's rounding can cross
    assert registry.active("ctr") is None


def test_an_empty_window_is_refused_with_the_reason():
    empty = synthetic("ctr", 10).take(slice(0, 0))
    with pytest.raises(train.TrainingError, match="no impressions with final labels"):
        train.train("ctr", now=NOW, rows=(empty, empty))
    assert not ModelVersion.objects.exists()


def test_too_few_positives_are_refused():
    ctr = synthetic("ctr", 2_000, base=-9.0)
    with pytest.raises(train.TrainingError, match="at least 30 are needed"):
        train.train("ctr", now=NOW, rows=(ctr, ctr))


def test_the_command_says_why_a_kind_was_not_trained(capsys):
    with pytest.raises(CommandError, match="no model was trained"):
        call_command("train_models", "--kind", "cvr")
    assert "cvr: not trained: no clicks with final labels" in capsys.readouterr().err


# Serving -------------------------------------------------------------------------------------------


def serve_one(scorer: ModelScorer):
    placement = PlacementFactory(floor_cpm_micros=100_000)
    live_ad_group()
    snapshot = fresh_index()
    request = ad_request(slot_for(placement), interests={"travel"})
    rows = np.arange(len(snapshot.creative_ids))
    return scorer.score(request, slot_for(placement), snapshot, rows, np.zeros(len(rows), np.int64))


def test_serving_swaps_to_the_promoted_model_without_a_restart(rows, django_capture_on_commit_callbacks):
    scorer = ModelScorer()
    prior_ctr, _ = serve_one(scorer)
    with django_capture_on_commit_callbacks(execute=True):
        version = train.train("ctr", now=NOW, rows=rows)
    scorer.refresh(force=True)
    assert scorer.models["ctr"].number == version.number
    pctr, pcvr = serve_one(scorer)
    assert (pctr > 0).all() and (pctr < 1).all() and not np.allclose(pctr, prior_ctr)
    assert "cvr" not in scorer.models  # no pCVR model yet: its priors answer
    assert (pcvr > 0).all()


def test_a_corrupt_or_incompatible_model_is_refused_and_the_last_good_one_kept(
    rows, django_capture_on_commit_callbacks
):
    scorer = ModelScorer()
    with django_capture_on_commit_callbacks(execute=True):
        good = train.train("ctr", now=NOW, rows=rows)
    scorer.refresh(force=True)
    document = json.loads(zlib.decompress(bytes(good.artifact)))
    document["spec_fingerprint"] = "0" * 64
    other_spec = zlib.compress(json.dumps(document).encode())
    for blob, message in (
        (bytes(good.artifact)[:-20] + b"x" * 20, "not a model artifact"),
        (other_spec, "another feature specification"),
    ):
        with pytest.raises(artifact.ArtifactError, match=message):
            artifact.load(blob)
        copied = {
            f.name: getattr(good, f.name)
            for f in ModelVersion._meta.concrete_fields
            if f.name not in ("id", "number", "status")
        }
        bad = ModelVersion.objects.create(
            **copied, number=ModelVersion.objects.count() + 1, status=ModelVersion.Status.CANDIDATE
        )
        ModelVersion.objects.filter(pk=bad.pk).update(artifact=blob, artifact_sha256=artifact.sha256(blob))
        bad.refresh_from_db()
        with pytest.raises(registry.RegistryError, match="cannot be served"):
            registry.promote(bad, by="staff")
        # Forced into the registry behind the registry's back, it is still not served.
        with django_capture_on_commit_callbacks(execute=True):
            ModelVersion.objects.filter(kind="ctr", status="active").update(status="retired")
            ModelVersion.objects.filter(pk=bad.pk).update(status="active")
            registry.signal_change()
        scorer.refresh(force=True)
        assert scorer.models["ctr"].number == good.number
        pctr, _ = serve_one(scorer)
        assert np.isfinite(pctr).all()
        ModelVersion.objects.filter(pk=bad.pk).update(status="retired")


def test_missing_features_are_scored_not_refused(rows):
    version = train.train("ctr", now=NOW, rows=rows)
    model = artifact.load(bytes(version.artifact))
    X = np.full((3, len(features.NAMES)), np.nan)
    p = model.predict(X)
    assert np.isfinite(p).all() and (p > 0).all() and (p < 1).all()
    with pytest.raises(ValueError, match="feature"):
        model.predict(np.zeros((2, 3)))


def test_the_engine_ranks_with_the_installed_model_scorer(rows, django_capture_on_commit_callbacks):
    assert isinstance(engine._state.scorer, ModelScorer)  # what the app installs
    with django_capture_on_commit_callbacks(execute=True):
        train.train("ctr", now=NOW, rows=rows)
    placement = PlacementFactory(floor_cpm_micros=100_000)
    live_ad_group()
    fresh_index()
    scorer = ModelScorer()  # a fresh one: the app's outlives this test's database
    scorer.refresh(force=True)
    previous = engine.set_scorer(scorer)
    try:
        decision = engine.decide(ad_request(slot_for(placement)))
    finally:
        engine.set_scorer(previous)
    [win] = decision.wins
    prior_ctr, _ = PriorScorer().score(
        decision.request, slot_for(placement), engine.snapshot(), np.array([0])
    )
    assert 0 < win.pctr < 1 and win.pctr != pytest.approx(float(prior_ctr[0]))


def test_both_models_serve_and_a_new_index_snapshot_is_encoded_afresh(
    rows, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        train.train("ctr", now=NOW, rows=rows)
        train.train("cvr", now=NOW, rows=rows)
    scorer = ModelScorer()
    scorer.refresh(force=True)
    assert set(scorer.models) == {"ctr", "cvr"}
    placement = PlacementFactory(floor_cpm_micros=100_000)
    live_ad_group()
    first = fresh_index()
    request = ad_request(slot_for(placement))
    rows_first = np.arange(len(first.creative_ids))
    pctr, pcvr = scorer.score(
        request, slot_for(placement), first, rows_first, np.zeros(len(rows_first), np.int64)
    )
    assert len(pctr) == len(pcvr) == 1
    live_ad_group()  # a creative the models never saw: the "other" category, its prior history
    second = fresh_index()
    rows_second = np.arange(len(second.creative_ids))
    pctr, pcvr = scorer.score(
        request, slot_for(placement), second, rows_second, np.zeros(len(rows_second), np.int64)
    )
    assert len(pctr) == len(pcvr) == 2
    assert ((pctr > 0) & (pctr < 1) & (pcvr > 0) & (pcvr < 1)).all()


def test_the_daily_task_trains_what_it_can_and_says_why_not_the_rest(caplog):
    from delivery.tasks import train_models

    with caplog.at_level("WARNING", logger="delivery.tasks"):
        assert train_models(trained_by="beat") == []
    assert "no new ctr model: no impressions with final labels" in caplog.text
    assert "no new cvr model: no clicks with final labels" in caplog.text
    assert not ModelVersion.objects.exists()
