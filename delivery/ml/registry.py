"""Which model version of each kind is active, and changing it: promotion, roll-back, and the signal
that makes every web and worker process swap to the new active models without a restart.

The active versions are rows of ModelVersion with status "active" (a partial unique constraint keeps
one per kind). Every change bumps `adwright:ml:version` in Redis; delivery.ml.serving reads that
counter at most every few seconds and reloads the active models when it moved.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from delivery.hot import redis_client
from delivery.models import ModelVersion

VERSION_KEY = "adwright:ml:version"


class RegistryError(ValueError):
    """A promotion or roll-back that cannot be done, with the reason for the person who asked."""


def active(kind: str) -> ModelVersion | None:
    return ModelVersion.objects.filter(kind=kind, status=ModelVersion.Status.ACTIVE).first()


def signal_change() -> None:
    """Tell every process to reload its models (after the transaction that changed them commits)."""
    transaction.on_commit(lambda: redis_client().incr(VERSION_KEY))


def serving_version() -> int:
    raw = redis_client().get(VERSION_KEY)
    return int(raw) if raw is not None else 0


def promote(version: ModelVersion, *, by: str, reason: str = "") -> ModelVersion:
    """Make `version` the active model of its kind; the one it replaces is retired."""
    from delivery.ml.artifact import ArtifactError, load  # heavy: LightGBM

    try:
        load(bytes(version.artifact), expected_sha256=version.artifact_sha256)
    except ArtifactError as exc:
        raise RegistryError(f"{version} cannot be served: {exc}") from exc
    with transaction.atomic():
        current = (
            ModelVersion.objects.select_for_update()
            .filter(kind=version.kind, status=ModelVersion.Status.ACTIVE)
            .exclude(pk=version.pk)
            .first()
        )
        if current is not None:
            current.status = ModelVersion.Status.RETIRED
            current.save(update_fields=["status"])
        version.status = ModelVersion.Status.ACTIVE
        version.promoted_at = timezone.now()
        version.promoted_by = by
        if reason:
            version.decision = reason
        version.save(update_fields=["status", "promoted_at", "promoted_by", "decision"])
        signal_change()
    return version


def roll_back(kind: str, *, by: str) -> ModelVersion:
    """Make the version that was active before the current one active again."""
    current = active(kind)
    if current is None:
        raise RegistryError("There is no active model to roll back from.")
    previous = (
        ModelVersion.objects.filter(kind=kind, status=ModelVersion.Status.RETIRED, promoted_at__isnull=False)
        .exclude(pk=current.pk)
        .order_by("-promoted_at")
        .first()
    )
    if previous is None:
        raise RegistryError(f"No earlier version of {current} was ever active.")
    return promote(previous, by=by, reason=f"Rolled back from v{current.number} by {by}.")
