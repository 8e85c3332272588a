"""The review queue's figures (read from the audit log), and the review page's VAST summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from accounts.admin import admin_actor
from accounts.audit import Actor
from accounts.models import AuditLog, User
from campaigns.admin_review import VastError, throughput, vast_summary, waiting_for
from campaigns.models import AdGroup, Creative
from campaigns.services import create_creative, review_creative, update_creative
from delivery.demo import vast_document
from tests.campaigns.test_review_queue import make_reviewer
from tests.conftest import Tenants, client_for
from tests.factories import AdGroupFactory, CampaignFactory, CreativeFactory, png_file

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DEMO_VAST = vast_document(
    ad_id="demo-7",
    title="Trail shoes in 15 seconds",
    seconds=15,
    media_url="https://cdn.example.com/trail.mp4",
    click_url="https://example.com/trail",
)


@pytest.fixture
def reviewer(db: None) -> User:
    return make_reviewer()


@pytest.fixture
def ad_group(tenants: Tenants) -> AdGroup:
    return AdGroupFactory.create(campaign=CampaignFactory.create(advertiser=tenants.advertiser))


def submit(ad_group: AdGroup, name: str) -> Creative:
    """Created as the Ads Manager creates it: through the service, with its audit entry."""
    return create_creative(
        ad_group=ad_group,
        actor=Actor(source="web"),
        name=name,
        format=Creative.Format.BANNER,
        landing_url="https://example.com/shoes",
        image=png_file(),
    )


def decide(creative: Creative, reviewer: User, *, approve: bool, reasons: list[str] | None = None) -> None:
    request = type("Request", (), {"user": reviewer})()  # admin_actor reads only the user
    review_creative(creative=creative, actor=admin_actor(request), approve=approve, reasons=reasons)


def test_waiting_reads_in_days_hours_and_minutes() -> None:
    assert waiting_for(T0 - timedelta(hours=3, minutes=12, seconds=59), T0) == "3 h 12 min"
    assert waiting_for(T0 - timedelta(minutes=5), T0) == "5 min"
    assert waiting_for(T0 - timedelta(days=2, hours=4, minutes=30), T0) == "2 d 4 h"
    assert waiting_for(T0 + timedelta(minutes=1), T0) == "0 min"  # a clock a little ahead


def test_figures_from_the_audit_log(ad_group: AdGroup, reviewer: User) -> None:
    with time_machine.travel(T0 - timedelta(days=10), tick=False) as traveller:
        old = submit(ad_group, "Last month")
        traveller.move_to(T0 - timedelta(days=9))
        decide(old, reviewer, approve=True)  # outside the 7 days: not counted

        traveller.move_to(T0)
        first, second, third = (submit(ad_group, name) for name in ("First", "Second", "Third"))
        traveller.move_to(T0 + timedelta(hours=1))
        decide(first, reviewer, approve=True)
        traveller.move_to(T0 + timedelta(hours=2))
        waiting = submit(ad_group, "Waiting")
        traveller.move_to(T0 + timedelta(hours=3))
        decide(second, reviewer, approve=False, reasons=["trademark", "misleading_claims"])
        traveller.move_to(T0 + timedelta(hours=5))
        decide(third, reviewer, approve=False, reasons=["trademark"])
        # Resubmitted after its rejection: its second wait starts at the edit, not at its creation.
        traveller.move_to(T0 + timedelta(hours=6))
        update_creative(creative=second, actor=Actor(source="web"), landing_url="https://example.com/honest")
        traveller.move_to(T0 + timedelta(hours=6, minutes=30))
        decide(second, reviewer, approve=True)

        figures = throughput(now=T0 + timedelta(hours=7))

    assert Creative.objects.get(pk=waiting.pk).review_status == Creative.ReviewStatus.PENDING
    assert (figures.waiting, figures.oldest_waiting) == (1, "5 h 0 min")
    assert (figures.decisions, figures.approved, figures.rejected) == (4, 2, 2)
    assert figures.approval_rate == 0.5
    # Waits of 1 h, 3 h, 5 h and 30 min: the median is 2 h.
    assert figures.median_to_decision == "2 h 0 min"
    assert [(r.code, r.count, r.share) for r in figures.rejections_by_reason] == [
        ("trademark", 2, 1.0),
        ("misleading_claims", 1, 0.5),
    ]
    assert AuditLog.objects.filter(action__in=["approve", "reject"]).count() == 5


def test_figures_of_an_empty_queue() -> None:
    figures = throughput()
    assert (figures.waiting, figures.decisions, figures.approval_rate) == (0, 0, None)
    assert (figures.median_to_decision, figures.rejections_by_reason) == ("—", [])


def test_the_queue_shows_its_figures(ad_group: AdGroup, reviewer: User) -> None:
    decide(submit(ad_group, "One"), reviewer, approve=False, reasons=["low_image_quality"])
    submit(ad_group, "Two")
    page = client_for(reviewer).get(reverse("admin:campaigns_creativereview_changelist")).content.decode()
    assert "median time to decision" in page
    assert "Low image quality" in page
    assert "0 %" in page  # approved share
    assert "approved (0 of 1)" in page


# VAST --------------------------------------------------------------------------------------------------


def test_the_demo_vast_is_summarised() -> None:
    summary = vast_summary(DEMO_VAST)
    assert (summary.version, summary.title, summary.duration) == (
        "4.2",
        "Trail shoes in 15 seconds",
        "00:00:15",
    )
    assert summary.click_through == "https://example.com/trail"
    assert summary.impressions == 1
    [media] = summary.media_files
    assert (media.type, media.width, media.height, media.bitrate) == ("video/mp4", "1280", "720", "2500")
    assert media.url == "https://cdn.example.com/trail.mp4"


@pytest.mark.parametrize(
    "document",
    [
        '<?xml version="1.0"?><!DOCTYPE VAST [<!ENTITY a "aaaa">]><VAST version="4.2">&a;</VAST>',
        '<!doctype VAST SYSTEM "http://evil.example/vast.dtd"><VAST/>',
        "<VAST><Ad><InLine></Ad></VAST>",
        "<html><body>not vast</body></html>",
    ],
)
def test_unsafe_or_broken_vast_is_refused(document: str) -> None:
    with pytest.raises(VastError):
        vast_summary(document)


def test_the_review_page_shows_the_vast_summary_or_why_not(ad_group: AdGroup, reviewer: User) -> None:
    video = CreativeFactory.create(
        ad_group=ad_group, name="Trail video", format=Creative.Format.VIDEO, image="", vast_xml=DEMO_VAST
    )
    url = reverse("admin:campaigns_creativereview_change", args=[video.pk])
    page = client_for(reviewer).get(url).content.decode()
    assert "00:00:15" in page and "video/mp4" in page and "1280\u00d7720" in page

    Creative.objects.filter(pk=video.pk).update(vast_xml='<!DOCTYPE x [<!ENTITY a "b">]><VAST/>')
    response = client_for(reviewer).get(url)
    assert response.status_code == 200
    assert "declares a DOCTYPE or entities" in response.content.decode()


def test_the_review_page_shows_banner_and_native_previews(ad_group: AdGroup, reviewer: User) -> None:
    native = CreativeFactory.create(
        ad_group=ad_group,
        name="Native",
        format=Creative.Format.NATIVE,
        image=png_file(1200, 628),
        headline="Run further",
        body="Light trail shoes.",
        call_to_action="shop_now",
    )
    page = client_for(reviewer).get(reverse("admin:campaigns_creativereview_change", args=[native.pk]))
    html = page.content.decode()
    assert 'width="1200" height="628"' in html
    assert "native-card__headline" in html and "Run further" in html and "Shop now" in html
    assert "Acme Shoes · Sponsored" in html
