"""Writes that span models or leave an audit entry. Keyword-only, atomic, audited."""

from __future__ import annotations

from copy import deepcopy
from typing import Any, Literal, TypeVar

from django.db import transaction

from accounts.audit import Actor, record, snapshot
from accounts.models import Advertiser
from campaigns import policy
from campaigns.models import AdGroup, Campaign, ConversionEvent, Creative, TransitionError

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


def _check_if_in_review(creative: Creative, actor: Actor) -> Creative:
    """Automatic policy checks as soon as a creative enters review (campaigns.policy): they may reject
    it, or approve it for a trusted advertiser, in the same transaction as the change."""
    if creative.review_status == Creative.ReviewStatus.PENDING:
        policy.check_and_decide(creative, actor=actor)
    return creative


@transaction.atomic
def create_creative(*, ad_group: AdGroup, actor: Actor, **fields: Any) -> Creative:
    return _check_if_in_review(_create(Creative(ad_group=ad_group, **fields), actor), actor)


@transaction.atomic
def create_conversion_event(*, advertiser: Advertiser, actor: Actor, **fields: Any) -> ConversionEvent:
    return _create(ConversionEvent(advertiser=advertiser, **fields), actor)


def _update(obj: ModelT, actor: Actor, changes: dict[str, Any]) -> ModelT:
    """Apply `changes` to the locked row, through the model's rules (full_clean), with its audit entry."""
    locked = type(obj).objects.select_for_update().get(pk=obj.pk)
    before = snapshot(locked)
    for name, value in changes.items():
        setattr(locked, name, value)
    locked.full_clean()
    locked.save()
    record(actor=actor, action="update", obj=locked, before=before, after=snapshot(locked))
    return locked


@transaction.atomic
def update_campaign(*, campaign: Campaign, actor: Actor, **changes: Any) -> Campaign:
    return _update(campaign, actor, changes)


@transaction.atomic
def update_ad_group(*, ad_group: AdGroup, actor: Actor, **changes: Any) -> AdGroup:
    return _update(ad_group, actor, changes)


@transaction.atomic
def update_creative(*, creative: Creative, actor: Actor, **changes: Any) -> Creative:
    """An edit of an approved creative's content sends it back to review (Creative.save)."""
    if "image" in changes and changes["image"] == creative.image:
        del changes["image"]  # the same stored file: not a new upload
    return _check_if_in_review(_update(creative, actor, changes), actor)


@transaction.atomic
def update_conversion_event(*, event: ConversionEvent, actor: Actor, **changes: Any) -> ConversionEvent:
    return _update(event, actor, changes)


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


# Duplication -----------------------------------------------------------------------------------------

COPY_SUFFIX = "copy"


def _copy_name(name: str, taken: set[str], max_length: int) -> str:
    """'Spring sale' -> 'Spring sale (copy)', then '(copy 2)', ... whichever is free, cut to fit."""
    number = 1
    while True:
        suffix = f" ({COPY_SUFFIX})" if number == 1 else f" ({COPY_SUFFIX} {number})"
        candidate = name[: max_length - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
        number += 1


def _save_copy(copy: ModelT, actor: Actor, action: str = "create") -> ModelT:
    copy.full_clean()
    copy.save()
    record(actor=actor, action=action, obj=copy, after=snapshot(copy))
    return copy


def _copy_creative(creative: Creative, *, ad_group: AdGroup, actor: Actor) -> Creative:
    """Same content, same stored image file. It keeps its approval only if the approved content is
    exactly this content; any other copy is reviewed afresh."""
    copy = Creative(
        ad_group=ad_group,
        name=creative.name,
        status=creative.status,
        category=creative.category,
        **{name: getattr(creative, name) for name in Creative.CONTENT_FIELDS if name != "image"},
        image=creative.image.name,  # the name, not the FieldFile: both rows point at one file
        width=creative.width,
        height=creative.height,
    )
    approved_as_is = (
        creative.review_status == Creative.ReviewStatus.APPROVED
        and creative.approved_content_hash == creative.content_hash
    )
    if approved_as_is:
        copy.review_status = Creative.ReviewStatus.APPROVED
        copy.approved_content_hash = creative.approved_content_hash
        copy.reviewed_at = creative.reviewed_at
        copy.reviewed_by_id = creative.reviewed_by_id
        copy.image_hash = creative.image_hash
    return _check_if_in_review(_save_copy(copy, actor), actor)


def _copy_ad_group(
    ad_group: AdGroup, *, campaign: Campaign, name: str, status: str, actor: Actor, action: str
) -> AdGroup:
    copy = AdGroup(
        campaign=campaign,
        name=name,
        status=status,
        bid_strategy=ad_group.bid_strategy,
        bid_micros=ad_group.bid_micros,
        targeting=deepcopy(ad_group.targeting),
    )
    _save_copy(copy, actor, action)
    for creative in ad_group.creatives.exclude(status=Creative.Status.ARCHIVED).order_by("id"):
        _copy_creative(creative, ad_group=copy, actor=actor)
    return copy


@transaction.atomic
def duplicate_campaign(*, campaign: Campaign, actor: Actor) -> Campaign:
    """A draft copy named "… (copy)", with copies of the campaign's ad groups and creatives that are not
    archived (each keeping its status: activating the copy brings the same structure to life).
    Archived is final: duplicating is how an archived campaign starts again."""
    taken = set(
        Campaign.objects.filter(advertiser_id=campaign.advertiser_id)
        .not_archived()
        .filter(name__startswith=campaign.name[:150])
        .values_list("name", flat=True)
    )
    copy = Campaign(
        advertiser_id=campaign.advertiser_id,
        name=_copy_name(campaign.name, taken, Campaign._meta.get_field("name").max_length or 200),
        objective=campaign.objective,
        status=Campaign.Status.DRAFT,
        budget_type=campaign.budget_type,
        budget_micros=campaign.budget_micros,
        pacing=campaign.pacing,
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        frequency_cap_impressions=campaign.frequency_cap_impressions,
        frequency_cap_period=campaign.frequency_cap_period,
        conversion_event_id=campaign.conversion_event_id,
    )
    _save_copy(copy, actor, "duplicate")
    for ad_group in campaign.ad_groups.exclude(status=AdGroup.Status.ARCHIVED).order_by("id"):
        _copy_ad_group(
            ad_group, campaign=copy, name=ad_group.name, status=ad_group.status, actor=actor, action="create"
        )
    return copy


@transaction.atomic
def duplicate_ad_group(*, ad_group: AdGroup, actor: Actor) -> AdGroup:
    """A paused copy named "… (copy)" in the same campaign (its campaign may be delivering: the copy
    waits to be activated), with copies of its creatives that are not archived."""
    campaign = ad_group.campaign
    if campaign.status == Campaign.Status.ARCHIVED:
        raise TransitionError("The campaign is archived; duplicate the campaign instead.")
    taken = set(
        AdGroup.objects.filter(campaign=campaign)
        .exclude(status=AdGroup.Status.ARCHIVED)
        .filter(name__startswith=ad_group.name[:150])
        .values_list("name", flat=True)
    )
    name = _copy_name(ad_group.name, taken, AdGroup._meta.get_field("name").max_length or 200)
    return _copy_ad_group(
        ad_group, campaign=campaign, name=name, status=AdGroup.Status.PAUSED, actor=actor, action="duplicate"
    )
