"""Writes that span models or leave an audit entry. Keyword-only, atomic, audited."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from django.db import transaction

from accounts.audit import Actor, record, snapshot
from accounts.models import Advertiser
from campaigns.models import AdGroup, Campaign, ConversionEvent, Creative

StatusAction = Literal["activate", "pause", "archive"]
ModelT = TypeVar("ModelT", Campaign, AdGroup, Creative, ConversionEvent)


def _create(obj: ModelT, actor: Actor) -> ModelT:
    obj.full_clean()
    obj.save()
    record(actor=actor, action="create", obj=obj, after=snapshot(obj))
    return obj


@transaction.atomic
def create_campaign(*, advertiser: Advertiser, actor: Actor, **fields: Any) -> Campaign:
    return _create(Campaign(advertiser=advertiser, **fields), actor)


@transaction.atomic
def create_ad_group(*, campaign: Campaign, actor: Actor, **fields: Any) -> AdGroup:
    return _create(AdGroup(campaign=campaign, **fields), actor)


@transaction.atomic
def create_creative(*, ad_group: AdGroup, actor: Actor, **fields: Any) -> Creative:
    return _create(Creative(ad_group=ad_group, **fields), actor)


@transaction.atomic
def create_conversion_event(*, advertiser: Advertiser, actor: Actor, **fields: Any) -> ConversionEvent:
    return _create(ConversionEvent(advertiser=advertiser, **fields), actor)


@transaction.atomic
def change_status(*, obj: Campaign | AdGroup | Creative, action: StatusAction, actor: Actor) -> None:
    """Activate, pause or archive through the model's own rules (TransitionError says why not)."""
    locked = type(obj).objects.select_for_update().get(pk=obj.pk)
    before = snapshot(locked)
    getattr(locked, action)()
    record(actor=actor, action=action, obj=locked, before=before, after=snapshot(locked))
    obj.refresh_from_db()


@transaction.atomic
def review_creative(
    *, creative: Creative, actor: Actor, approve: bool, reasons: list[str] | None = None, note: str = ""
) -> None:
    locked = Creative.objects.select_for_update().get(pk=creative.pk)
    before = snapshot(locked)
    if approve:
        locked.approve(by=actor.user)
    else:
        locked.reject(by=actor.user, reasons=reasons or [], note=note)
    record(
        actor=actor,
        action="approve" if approve else "reject",
        obj=locked,
        before=before,
        after=snapshot(locked),
    )
    creative.refresh_from_db()
