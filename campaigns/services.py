"""Writes that span models or leave an audit entry. Keyword-only, atomic, audited."""

from __future__ import annotations

from typing import Any, Literal

from django.db import transaction

from accounts.audit import Actor, record, snapshot
from accounts.models import Advertiser
from campaigns.models import AdGroup, Campaign, ConversionEvent, Creative

StatusAction = Literal["activate", "pause", "archive"]


@transaction.atomic
def create_campaign(*, advertiser: Advertiser, actor: Actor, **fields: Any) -> Campaign:
    campaign = Campaign(advertiser=advertiser, **fields)
    campaign.full_clean()
    campaign.save()
    record(actor=actor, action="create", obj=campaign, after=snapshot(campaign))
    return campaign


@transaction.atomic
def create_ad_group(*, campaign: Campaign, actor: Actor, **fields: Any) -> AdGroup:
    ad_group = AdGroup(campaign=campaign, **fields)
    ad_group.full_clean()
    ad_group.save()
    record(actor=actor, action="create", obj=ad_group, after=snapshot(ad_group))
    return ad_group


@transaction.atomic
def create_creative(*, ad_group: AdGroup, actor: Actor, **fields: Any) -> Creative:
    creative = Creative(ad_group=ad_group, **fields)
    creative.full_clean()
    creative.save()
    record(actor=actor, action="create", obj=creative, after=snapshot(creative))
    return creative


@transaction.atomic
def create_conversion_event(*, advertiser: Advertiser, actor: Actor, **fields: Any) -> ConversionEvent:
    event = ConversionEvent(advertiser=advertiser, **fields)
    event.full_clean()
    event.save()
    record(actor=actor, action="create", obj=event, after=snapshot(event))
    return event


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
