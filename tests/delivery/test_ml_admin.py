"""The model registry in the admin (delivery/admin_models.py): the list, the model card with its
charts, promotion, roll-back and "Train now", and who may do what."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import lightgbm
import numpy as np
import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.models import AuditLog, User
from delivery.ml import artifact, features, registry
from delivery.ml.charts import feature_chart, log_domain, reliability_chart
from delivery.models import ModelVersion
from tests.admin_helpers import changelist_queries, messages_of
from tests.conftest import Tenants, client_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:delivery_modelversion_changelist"
WINDOW_END = datetime(2026, 11, 20, tzinfo=UTC)

METRICS: dict[str, Any] = {
    "holdout": {
        "rows": 40_000,
        "positives": 212,
        "auc": 0.74123,
        "log_loss": 0.031234,
        "ne": 0.91234,
        "calibration": 1.042,
        "base_rate": 0.0053,
    },
    "truth": {
        "rows": 40_000,
        "auc": 0.7789,
        "log_loss": 0.0301,
        "ne": 0.8811,
        "calibration": 1.013,
        "auc_ratio": 0.9516,
        "ne_gap": 0.0312,
    },
    "per_campaign": [
        {
            "campaign_id": 7,
            "name": "Winter boots",
            "rows": 30_000,
            "positives": 160,
            "predicted": 171.2,
            "calibration": 1.07,
            "truth_expected": 165.0,
        },
        {
            "campaign_id": 9,
            "name": "Summer sale",
            "rows": 10_000,
            "positives": 52,
            "predicted": 31.0,
            "calibration": 0.596,
            "truth_expected": None,
        },
    ],
    "reliability": [
        {"predicted": 0.0011, "observed": 0.0, "rows": 4000},
        {"predicted": 0.0024, "observed": 0.0021, "rows": 4000},
        {"predicted": 0.0052, "observed": 0.0049, "rows": 4000},
        {"predicted": 0.0113, "observed": 0.0131, "rows": 4000},
        {"predicted": 0.0420, "observed": 0.0385, "rows": 1000},
    ],
    "top_features": [
        {"name": "creative_ctr", "contribution": 0.412},
        {"name": "placement", "contribution": 0.207},
        {"name": "creative_impressions", "contribution": 0.05},
    ],
    "compared_with": {
        "number": 1,
        "holdout": {
            "rows": 40_000,
            "positives": 212,
            "auc": 0.73001,
            "log_loss": 0.031901,
            "ne": 0.9321,
            "calibration": 0.91,
            "base_rate": 0.0053,
        },
    },
    "calibration_method": "platt",
    "calibration": {"method": "platt", "slope": 0.98, "intercept": -0.12},
    "train": {"rows": 140_000, "positives": 700, "best_iteration": 87, "params": {"num_leaves": 31}},
}


@lru_cache(maxsize=1)
def tiny_model_text() -> str:
    """A real LightGBM model over the specification's features: 5 rounds on 500 random rows."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(500, len(features.NAMES)))
    y = (rng.random(500) < 1 / (1 + np.exp(-2 * X[:, 0]))).astype(np.int32)
    params = {
        "objective": "binary",
        "num_leaves": 4,
        "min_data_in_leaf": 10,
        "verbosity": -1,
        "num_threads": 1,
    }
    return lightgbm.train(params, lightgbm.Dataset(X, y), num_boost_round=5).model_to_string()


def make_version(
    number: int,
    *,
    kind: str = "ctr",
    status: str = ModelVersion.Status.CANDIDATE,
    metrics: dict[str, Any] | None = None,
    promoted_days_ago: int | None = None,
) -> ModelVersion:
    blob = artifact.dump(kind, features.Tables(), artifact.Calibration(), tiny_model_text())
    promoted_at = WINDOW_END - timedelta(days=promoted_days_ago) if promoted_days_ago is not None else None
    return ModelVersion.objects.create(
        kind=kind,
        number=number,
        status=status,
        trained_by="beat",
        spec_fingerprint=features.SPEC,
        spec=features.spec(),
        window_start=WINDOW_END - timedelta(days=28),
        window_end=WINDOW_END,
        holdout_start=WINDOW_END - timedelta(days=4),
        rows_train=140_000,
        rows_calibration=20_000,
        rows_holdout=40_000,
        positives=1_050,
        metrics=METRICS if metrics is None else metrics,
        training_seconds=93.4,
        peak_memory_bytes=812 * 1024 * 1024,
        artifact=blob,
        artifact_sha256=artifact.sha256(blob),
        decision=f"Decision of v{number}.",
        promoted_at=promoted_at,
        promoted_by="beat" if promoted_at else "",
    )


@dataclass
class Registry:
    """pCTR v1, active since a week, and v2, a candidate trained since."""

    active: ModelVersion
    candidate: ModelVersion


@pytest.fixture
def versions(db: None) -> Registry:
    return Registry(
        active=make_version(1, status=ModelVersion.Status.ACTIVE, promoted_days_ago=7),
        candidate=make_version(2),
    )


def staff_with(email: str, *codenames: str) -> User:
    user = UserFactory.create(email=email, is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="delivery", codename__in=codenames)
    )
    return user


@pytest.fixture
def manager(db: None) -> User:
    """Staff who may view, promote, roll back and train."""
    return staff_with("ml@adwright.test", "view_modelversion", "change_modelversion")


@pytest.fixture
def viewer(db: None) -> User:
    return staff_with("support@adwright.test", "view_modelversion")


def card_url(version: ModelVersion) -> str:
    return reverse("admin:delivery_modelversion_change", args=[version.pk])


def promote_url(version: ModelVersion) -> str:
    return reverse("admin:delivery_modelversion_promote", args=[version.pk])


def roll_back_url(version: ModelVersion) -> str:
    return reverse("admin:delivery_modelversion_roll_back", args=[version.pk])


def statuses() -> dict[int, str]:
    return dict(ModelVersion.objects.filter(kind="ctr").values_list("number", "status"))


# ---------------------------------------------------------------------------------------------------
# The list and the card


def test_list_shows_each_version_with_its_figures(manager: User, versions: Registry) -> None:
    response = client_for(manager).get(reverse(CHANGELIST))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'class="ml-status ml-status--active"' in page  # the active one, marked in words too
    assert "\N{BLACK CIRCLE} Active" in page
    for figure in [
        "0.7412",
        "0.9123",
        "1.042",
        "0.952",
        "140,000 / 40,000",
        "2026-10-23 \N{EN DASH} 2026-11-20",
    ]:
        assert figure in page, figure
    assert 'name="kinds" value="both"' in page  # Train now
    assert 'href="?kind__exact=cvr"' in page and 'href="?status__exact=candidate"' in page  # filters
    assert client_for(manager).get(reverse(CHANGELIST) + "?status__exact=active&o=8").status_code == 200


def test_list_queries_do_not_grow_with_versions(manager: User, versions: Registry) -> None:
    client, url = client_for(manager), reverse(CHANGELIST)
    before = changelist_queries(client, url)
    for number in (3, 4, 5):
        make_version(number)
    assert changelist_queries(client, url) == before


def test_card_shows_the_metrics_next_to_the_active_and_the_truth(manager: User, versions: Registry) -> None:
    response = client_for(manager).get(card_url(versions.candidate))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Decision of v2." in page
    assert "v1 (serving then), same rows" in page and "Ground truth" in page
    for figure in ["0.7412", "0.7300", "+0.0112, better", "0.7789", "0.03123", "0.53%"]:
        assert figure in page, figure
    assert "AUC ratio (model / truth)" in page and "0.952" in page and "+0.0312" in page
    # Per campaign, the one off by more than the tolerance is named in words.
    assert "Winter boots" in page and "171.2" in page and "0.60 <strong>under-predicts</strong>" in page
    assert "Promote to active" in page and "Replaces pCTR v1, which is retired." in page
    assert "812.0\xa0MB" in page and "the serving code&#x27;s" in page
    assert "cannot be served" not in page


def test_card_warns_of_a_version_trained_on_another_feature_specification(manager: User) -> None:
    version = make_version(1)
    ModelVersion.objects.filter(pk=version.pk).update(spec_fingerprint="0" * 64)
    page = client_for(manager).get(card_url(version)).content.decode()
    assert "Trained on another feature specification than the serving code's: it cannot be served." in page


def test_card_draws_both_charts_each_with_its_table(manager: User, versions: Registry) -> None:
    page = client_for(manager).get(card_url(versions.candidate)).content.decode()
    assert page.count('<svg class="ml-chart__svg"') == 2
    assert '<title id="reliability-chart-title">Reliability' in page
    assert '<title id="feature-chart-title">Top features' in page
    assert page.count('<circle class="ml-chart__point') == 5  # one point a bin
    assert 'class="ml-chart__point ml-chart__point--none"' in page  # the bin without a positive
    assert page.count('<rect class="ml-chart__bar"') == 3
    assert "The bins as a table" in page and "Every feature as a table" in page
    assert (
        '<td class="ml-num">0.11%</td><td class="ml-num">0% <span class="ml-muted">(no positive)</span>'
        in page
    )
    assert "<code>creative_impressions</code>" in page
    assert "<script" not in page.split('id="content-main"')[1]  # drawn on the server


@pytest.mark.parametrize(
    "metrics",
    [
        {},
        {"holdout": {"auc": None, "rows": 10}},
        {
            "holdout": None,
            "truth": [],
            "per_campaign": "x",
            "reliability": [{"predicted": "a"}],
            "top_features": 3,
        },
        {"reliability": [{"predicted": 0.01, "observed": 0.0, "rows": 5}], "compared_with": None},
    ],
)
def test_card_with_almost_no_metrics_renders(manager: User, metrics: dict[str, Any]) -> None:
    version = make_version(1, metrics=metrics)
    response = client_for(manager).get(card_url(version))
    assert response.status_code == 200
    page = response.content.decode()
    assert "On the holdout" in page and "No feature contributions were recorded" in page
    assert client_for(manager).get(reverse(CHANGELIST)).status_code == 200


# ---------------------------------------------------------------------------------------------------
# Promotion and roll-back


def test_promote_makes_it_active_retires_the_previous_and_signals_after_commit(
    manager: User, versions: Registry, redis_client, django_capture_on_commit_callbacks
) -> None:
    client = client_for(manager)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(promote_url(versions.candidate), {"reason": "Better on new ads"})
        assert redis_client.get(registry.VERSION_KEY) is None  # not before the change is committed
    assert response.status_code == 302 and response["Location"] == card_url(versions.candidate)
    for callback in callbacks:
        callback()
    assert redis_client.get(registry.VERSION_KEY) == b"1"
    assert statuses() == {1: "retired", 2: "active"}
    versions.candidate.refresh_from_db()
    assert versions.candidate.promoted_by == "ml@adwright.test"
    assert versions.candidate.decision == "Promoted by ml@adwright.test in the admin: Better on new ads"
    assert registry.active("ctr") == versions.candidate
    entries = AuditLog.objects.filter(object_type="delivery.ModelVersion").order_by("id")
    assert [(e.action, e.object_id, e.actor_user) for e in entries] == [
        ("promote", str(versions.candidate.pk), manager),
        ("retire", str(versions.active.pk), manager),
    ]
    assert messages_of(client.get(response["Location"])) == [
        "pCTR v2 is now the active pCTR model, replacing pCTR v1 (now retired). Serving processes load it "
        "within seconds."
    ]


def test_promoting_a_retired_version_is_allowed_and_one_kind_does_not_touch_the_other(
    manager: User, versions: Registry
) -> None:
    cvr = make_version(1, kind="cvr", status=ModelVersion.Status.ACTIVE, promoted_days_ago=3)
    retired = make_version(3, status=ModelVersion.Status.RETIRED, promoted_days_ago=30)
    client_for(manager).post(promote_url(retired))
    assert statuses() == {1: "retired", 2: "candidate", 3: "active"}
    cvr.refresh_from_db()
    assert cvr.status == ModelVersion.Status.ACTIVE


def test_a_corrupt_artifact_is_refused_with_a_message_and_nothing_changes(
    manager: User, versions: Registry, redis_client, django_capture_on_commit_callbacks
) -> None:
    blob = bytearray(bytes(versions.candidate.artifact))
    blob[len(blob) // 2] ^= 0xFF
    ModelVersion.objects.filter(pk=versions.candidate.pk).update(artifact=bytes(blob))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client_for(manager).post(promote_url(versions.candidate), follow=True)
    assert response.status_code == 200
    assert messages_of(response) == [
        "Not promoted: pCTR v2 cannot be served: the stored model's bytes do not match their recorded "
        "SHA-256: it is corrupt"
    ]
    assert statuses() == {1: "active", 2: "candidate"}
    assert callbacks == [] and redis_client.get(registry.VERSION_KEY) is None
    assert not AuditLog.objects.filter(object_type="delivery.ModelVersion").exists()


def test_promoting_the_active_version_says_so(manager: User, versions: Registry) -> None:
    response = client_for(manager).post(promote_url(versions.active), follow=True)
    assert messages_of(response) == ["pCTR v1 is already the active pCTR model."]
    assert statuses() == {1: "active", 2: "candidate"}


def test_roll_back_restores_the_previous_active_version(
    manager: User, redis_client, django_capture_on_commit_callbacks
) -> None:
    older = make_version(1, status=ModelVersion.Status.RETIRED, promoted_days_ago=14)
    make_version(2)  # a candidate that never served is not a roll-back target
    current = make_version(3, status=ModelVersion.Status.ACTIVE, promoted_days_ago=2)
    client = client_for(manager)
    assert "Roll back to pCTR v1" in client.get(card_url(current)).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(roll_back_url(current))
    assert response["Location"] == card_url(older)
    assert statuses() == {1: "active", 2: "candidate", 3: "retired"}
    assert redis_client.get(registry.VERSION_KEY) == b"1"
    older.refresh_from_db()
    assert older.promoted_by == "ml@adwright.test"
    assert older.decision == "Rolled back from v3 by ml@adwright.test."
    assert messages_of(client.get(response["Location"])) == [
        "Rolled back: pCTR v1 is the active pCTR model again and pCTR v3 is retired. Serving processes load "
        "it within seconds."
    ]
    actions = AuditLog.objects.filter(object_type="delivery.ModelVersion").values_list("action", "object_id")
    assert set(actions) == {("roll_back", str(older.pk)), ("retire", str(current.pk))}


def test_roll_back_without_an_earlier_active_version_is_explained(manager: User) -> None:
    only = make_version(1, status=ModelVersion.Status.ACTIVE, promoted_days_ago=1)
    client = client_for(manager)
    assert "there is nothing to roll back to" in client.get(card_url(only)).content.decode()
    response = client.post(roll_back_url(only), follow=True)
    assert messages_of(response) == ["Not rolled back: No earlier version of pCTR v1 was ever active."]
    assert statuses() == {1: "active"}


def test_roll_back_of_a_version_that_is_not_active_is_refused(manager: User, versions: Registry) -> None:
    response = client_for(manager).post(roll_back_url(versions.candidate), follow=True)
    assert messages_of(response) == ["Not rolled back: pCTR v2 is not the active model."]
    assert statuses() == {1: "active", 2: "candidate"}


def test_actions_are_posts_only(manager: User, versions: Registry) -> None:
    client = client_for(manager)
    for url in [
        promote_url(versions.candidate),
        roll_back_url(versions.active),
        reverse("admin:delivery_modelversion_train"),
    ]:
        assert client.get(url).status_code == 405, url
    assert statuses() == {1: "active", 2: "candidate"}


# ---------------------------------------------------------------------------------------------------
# Train now


@dataclass
class DelayRecorder:
    """Stands in for the Celery task: records what .delay was called with."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def delay(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)


@pytest.fixture
def train_task(monkeypatch: pytest.MonkeyPatch) -> DelayRecorder:
    recorder = DelayRecorder()
    monkeypatch.setattr("delivery.tasks.train_models", recorder, raising=False)
    return recorder


@pytest.mark.parametrize(
    ("choice", "kinds", "names"), [("ctr", ["ctr"], "pCTR"), ("both", ["ctr", "cvr"], "pCTR and pCVR")]
)
def test_train_now_queues_the_task_with_who_asked(
    manager: User, train_task: DelayRecorder, choice: str, kinds: list[str], names: str
) -> None:
    response = client_for(manager).post(
        reverse("admin:delivery_modelversion_train"), {"kinds": choice}, follow=True
    )
    assert train_task.calls == [{"kinds": kinds, "trained_by": "admin:ml@adwright.test"}]
    assert messages_of(response) == [
        f"Training of {names} is queued. Each new version appears here when it is done; it becomes active "
        "only if it beats the active one on its holdout."
    ]


def test_train_now_with_no_choice_queues_nothing(manager: User, train_task: DelayRecorder) -> None:
    response = client_for(manager).post(
        reverse("admin:delivery_modelversion_train"), {"kinds": "all"}, follow=True
    )
    assert train_task.calls == []
    assert messages_of(response) == ["Choose what to train: pCTR, pCVR or both."]


# ---------------------------------------------------------------------------------------------------
# Who may do what


def test_non_staff_are_sent_to_the_admin_login(
    tenants: Tenants, versions: Registry, train_task: DelayRecorder
) -> None:
    client = client_for(tenants.owner)
    for url in [reverse(CHANGELIST), card_url(versions.candidate)]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login")), url
    for url in [
        promote_url(versions.candidate),
        roll_back_url(versions.active),
        reverse("admin:delivery_modelversion_train"),
    ]:
        response = client.post(url, {"kinds": "both"})
        assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login")), url
    assert statuses() == {1: "active", 2: "candidate"} and train_task.calls == []


def test_staff_without_permission_get_403(versions: Registry, train_task: DelayRecorder) -> None:
    client = client_for(staff_with("sales@adwright.test"))
    assert client.get(reverse(CHANGELIST)).status_code == 403
    assert client.get(card_url(versions.candidate)).status_code == 403
    assert client.post(promote_url(versions.candidate)).status_code == 403
    assert client.post(roll_back_url(versions.active)).status_code == 403
    assert client.post(reverse("admin:delivery_modelversion_train"), {"kinds": "ctr"}).status_code == 403
    assert statuses() == {1: "active", 2: "candidate"} and train_task.calls == []


def test_viewers_see_the_card_without_the_buttons_and_cannot_act(
    viewer: User, versions: Registry, train_task: DelayRecorder
) -> None:
    client = client_for(viewer)
    assert 'name="kinds"' not in client.get(reverse(CHANGELIST)).content.decode()
    card = client.get(card_url(versions.candidate))
    assert card.status_code == 200 and "Promote to active" not in card.content.decode()
    assert "Roll back" not in client.get(card_url(versions.active)).content.decode()
    assert client.post(promote_url(versions.candidate)).status_code == 403
    assert client.post(roll_back_url(versions.active)).status_code == 403
    assert client.post(reverse("admin:delivery_modelversion_train"), {"kinds": "ctr"}).status_code == 403
    assert statuses() == {1: "active", 2: "candidate"} and train_task.calls == []


def test_nobody_adds_edits_or_deletes_a_version(manager: User, versions: Registry) -> None:
    superuser = UserFactory.create(email="root@adwright.test", is_staff=True, is_superuser=True)
    for user in (manager, superuser):
        client = client_for(user)
        assert client.get(reverse("admin:delivery_modelversion_add")).status_code == 403
        assert client.post(card_url(versions.candidate), {"status": "active"}).status_code == 403
        delete = reverse("admin:delivery_modelversion_delete", args=[versions.candidate.pk])
        assert client.post(delete, {"post": "yes"}).status_code == 403
        page = client.get(card_url(versions.candidate)).content.decode()
        assert 'type="submit" value="Save' not in page and "deletelink" not in page
    assert statuses() == {1: "active", 2: "candidate"}


# ---------------------------------------------------------------------------------------------------
# The charts' geometry


def test_log_scale_bounds_span_at_least_a_decade_around_the_rates() -> None:
    assert log_domain([0.004, 0.006]) == (0.002, 0.02)
    assert log_domain([0.0011, 0.042]) == (0.001, 0.05)
    assert log_domain([0.3, 0.9]) == (0.1, 1.0)
    assert log_domain([]) == (0.001, 0.1)


def test_reliability_points_sit_on_the_diagonal_when_calibrated() -> None:
    chart = reliability_chart(
        [{"predicted": rate, "observed": rate, "rows": 100} for rate in (0.002, 0.01, 0.03)]
    )
    assert chart is not None
    x1, y1, x2, y2 = chart.diagonal
    for point in chart.bins:  # on the line from (x1, y1) to (x2, y2)
        assert abs((point.y - y1) - (y2 - y1) / (x2 - x1) * (point.x - x1)) < 0.2
    assert "predicted 1 times the positives observed" in chart.summary


def test_features_chart_orders_bars_and_keeps_the_rest_for_the_table() -> None:
    raw = [{"name": f"f{i}", "contribution": i / 100} for i in range(1, 21)]
    chart = feature_chart(raw)
    assert chart is not None
    assert [bar.name for bar in chart.bars][:3] == ["f20", "f19", "f18"]
    assert len(chart.bars) == 15 and chart.more == 5 and len(chart.rows) == 20
    assert chart.bars[0].width > chart.bars[1].width > 0
