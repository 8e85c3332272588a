"""What the ad server serves follows the review: only approved creatives, from the moment of the
decision or the edit (the index version bump on commit, then the next version check)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from accounts.audit import Actor
from accounts.models import User
from campaigns.models import Creative
from campaigns.services import update_creative
from delivery import engine
from delivery.models import Placement
from tests.campaigns.test_review_queue import make_reviewer
from tests.conftest import client_for
from tests.delivery.serving import ad_request, fresh_index, live_ad_group, slot_for
from tests.factories import PlacementFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_client")]


@pytest.fixture
def placement() -> Placement:
    return PlacementFactory(sizes=["300x250"], floor_cpm_micros=500_000)


@pytest.fixture
def reviewer(db: None) -> User:
    return make_reviewer()


def served_creatives(placement: Placement) -> set[int]:
    engine._state.checked_at = 0  # as the next request after VERSION_CHECK_SECONDS does
    return {win.creative_id for win in engine.decide(ad_request(slot_for(placement))).wins}


def test_an_edited_approved_creative_stops_serving_at_once(
    placement: Placement, django_capture_on_commit_callbacks: Any
) -> None:
    group = live_ad_group()
    [creative] = group.creatives.all()
    fresh_index()
    assert served_creatives(placement) == {creative.pk}

    with django_capture_on_commit_callbacks(execute=True):
        update_creative(
            creative=creative, actor=Actor(source="web"), landing_url="https://example.com/new-offer"
        )

    creative.refresh_from_db()
    assert creative.review_status == Creative.ReviewStatus.PENDING
    assert served_creatives(placement) == set()


def in_review(bid_micros: int) -> Creative:
    """The only creative of a live ad group bidding `bid_micros`, sent back to review by an edit."""
    [creative] = live_ad_group(bid_micros=bid_micros).creatives.all()
    update_creative(creative=creative, actor=Actor(source="web"), landing_url="https://example.com/edited")
    creative.refresh_from_db()
    assert creative.review_status == Creative.ReviewStatus.PENDING
    return creative


def test_a_creative_approved_in_the_queue_serves_and_a_rejected_one_never(
    placement: Placement, reviewer: User, django_capture_on_commit_callbacks: Any
) -> None:
    [base] = live_ad_group(bid_micros=2_000_000).creatives.all()
    # Both outbid the base: whichever could serve would win the slot.
    waiting, doomed = in_review(5_000_000), in_review(9_000_000)
    fresh_index()
    assert served_creatives(placement) == {base.pk}

    client = client_for(reviewer)
    url = "admin:campaigns_creativereview_change"
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse(url, args=[doomed.pk]), {"decision": "reject", "reasons": ["trademark"]})
    assert served_creatives(placement) == {base.pk}

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse(url, args=[waiting.pk]), {"decision": "approve"})
    assert served_creatives(placement) == {waiting.pk}
