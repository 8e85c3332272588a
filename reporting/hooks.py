"""What reporting plugs into the apps below it, at start-up (ReportingConfig.ready)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_save, pre_save

from accounts.models import Advertiser


def connect() -> None:
    pre_save.connect(_remember_zone, sender=Advertiser, dispatch_uid="reporting-zone-before")
    post_save.connect(_zone_changed, sender=Advertiser, dispatch_uid="reporting-zone-after")
    from campaigns import reports
    from reporting.ads_manager import campaign_metrics
    from reporting.rollup import watermark

    reports.set_metrics_source(campaign_metrics, watermark)


def _remember_zone(instance: Advertiser, **kwargs: Any) -> None:
    if instance.pk is None:
        return
    instance._reporting_zone_before = (  # type: ignore[attr-defined]
        Advertiser.objects.filter(pk=instance.pk).values_list("time_zone", flat=True).first()
    )


def _zone_changed(instance: Advertiser, created: bool, **kwargs: Any) -> None:
    """The rollups' days are the account's: when its time zone changes, every hour it has rows in
    (that is still rebuildable) is rolled up again, on the new zone's days."""
    before = getattr(instance, "_reporting_zone_before", None)
    if created or before is None or before == instance.time_zone:
        return

    def mark() -> None:
        from reporting.rollup import mark_advertiser_hours

        mark_advertiser_hours(instance.pk)

    transaction.on_commit(mark)
