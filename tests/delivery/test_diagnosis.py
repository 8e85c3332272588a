"""The Ads Manager's "is my ad group delivering?" page, built on explained test auctions."""

from __future__ import annotations

import pytest

from accounts.models import Role
from campaigns.models import AdGroup
from delivery.diagnosis import diagnose
from delivery.events import STREAM
from tests.conftest import client_for
from tests.delivery.serving import fresh_index, live_ad_group
from tests.factories import MembershipFactory, PlacementFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_client")]


@pytest.fixture
def placements():
    return (
        PlacementFactory(key="a-mpu", sizes=["300x250"], floor_cpm_micros=500_000),
        PlacementFactory(key="b-leaderboard", sizes=["728x90"], floor_cpm_micros=500_000),
        PlacementFactory(key="c-mpu-premium", sizes=["300x250"], floor_cpm_micros=9_000_000),
    )


def test_each_placement_gets_a_verdict_and_nothing_is_recorded(placements, redis_client):
    group = live_ad_group(targeting={"countries": ["US"], "placements_exclude": []}, bid_micros=2_000_000)
    rival = live_ad_group(bid_micros=2_500_000, targeting={"placements_include": [placements[0].pk]})
    fresh_index()
    diagnosis = diagnose(AdGroup.objects.get(pk=group.pk))
    outcomes = {v.placement: (v.outcome, v.detail) for v in diagnosis.verdicts}
    assert outcomes["a-mpu"][0] == "outbid"
    assert "$2.50 CPM" in outcomes["a-mpu"][1]
    assert outcomes["b-leaderboard"] == ("filtered", "No approved creative fits this slot's format and size.")
    assert outcomes["c-mpu-premium"][0] == "below_reserve"
    assert not diagnosis.delivering
    assert "US" in diagnosis.person
    assert rival.pk != group.pk
    assert redis_client.xlen(STREAM) == 0


def test_a_winning_ad_group_is_delivering(placements):
    group = live_ad_group()
    fresh_index()
    diagnosis = diagnose(AdGroup.objects.get(pk=group.pk))
    assert diagnosis.delivering
    assert {v.outcome for v in diagnosis.verdicts} == {"wins", "filtered", "below_reserve"}


def test_a_paused_ad_group_says_so(placements):
    group = live_ad_group()
    AdGroup.objects.filter(pk=group.pk).update(status=AdGroup.Status.PAUSED)
    fresh_index()
    diagnosis = diagnose(AdGroup.objects.get(pk=group.pk))
    assert (diagnosis.delivering, diagnosis.headline) == (False, "The ad group is paused.")


def test_the_page_for_members_only(placements):
    group = live_ad_group()
    fresh_index()
    member = UserFactory()
    MembershipFactory(user=member, advertiser=group.advertiser, role=Role.ANALYST)
    url = f"/a/{group.advertiser_id}/ad-groups/{group.pk}/delivery/"
    response = client_for(member).get(url)
    assert response.status_code == 200
    assert b"Wins the auction." in response.content
    assert client_for(UserFactory()).get(url).status_code == 404
