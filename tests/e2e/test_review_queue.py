"""A reviewer logs in to /admin/, works through the queue, and the advertiser sees the decisions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import re_path, reverse
from django.utils import timezone
from django.views.static import serve
from playwright.sync_api import Browser, Page, expect

import config.urls
from accounts.audit import Actor
from accounts.models import Advertiser
from campaigns.models import Campaign, Creative, ProhibitedTerm
from campaigns.services import create_creative
from delivery.demo import vast_document
from tests.campaigns.test_review_queue import make_reviewer
from tests.e2e.conftest import SCREENSHOTS
from tests.factories import PASSWORD, AdGroupFactory, CampaignFactory, png_file

# The creatives' images, which the project serves only with DEBUG on.
urlpatterns = [
    *config.urls.urlpatterns,
    re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
]

pytestmark = [pytest.mark.e2e, pytest.mark.urls(__name__)]


@pytest.fixture
def demo_queue(tenants) -> Campaign:
    Advertiser.objects.filter(pk=tenants.advertiser.pk).update(domains=["acme.example"])
    campaign = CampaignFactory.create(advertiser=tenants.advertiser, name="Spring sale")
    group = AdGroupFactory.create(campaign=campaign, name="Runners")
    ProhibitedTerm.objects.create(term="miracle", blocking=False)
    actor = Actor(source="web", user=tenants.owner)
    common = {"ad_group": group, "actor": actor}
    create_creative(
        **common, name="Spring banner", format=Creative.Format.BANNER, image=png_file(300, 250),
        landing_url="https://acme.example/spring",
    )  # fmt: skip
    create_creative(
        **common, name="Miracle soles", format=Creative.Format.NATIVE, image=png_file(1200, 628),
        headline="Miracle soles, run forever", body="The last running shoes you will ever buy.",
        call_to_action="shop_now", landing_url="https://deals.example/soles",
    )  # fmt: skip
    create_creative(
        **common, name="Trail video", format=Creative.Format.VIDEO, landing_url="https://acme.example/trail",
        vast_xml=vast_document(
            ad_id="trail", title="Trail shoes", seconds=15, media_url="https://cdn.acme.example/trail.mp4",
            click_url="https://acme.example/trail",
        ),
    )  # fmt: skip
    # Oldest first, as they were submitted.
    for minutes, name in ((200, "Spring banner"), (95, "Miracle soles"), (12, "Trail video")):
        Creative.objects.filter(name=name).update(submitted_at=timezone.now() - timedelta(minutes=minutes))
    return campaign


def test_a_reviewer_works_through_the_queue(
    page: Page, browser: Browser, live_server, screenshot, demo_queue, tenants
) -> None:
    reviewer = make_reviewer()

    # Django's admin templates name no icon, so the browser asks for /favicon.ico, which 404s.
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204, body=""))
    page.goto(f"{live_server.url}/admin/")
    page.get_by_label("Email").fill(reviewer.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Review queue").first.click()

    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("Spring banner")
    expect(rows.nth(0)).to_contain_text("3 h 20 min")
    expect(rows.nth(1)).to_contain_text("undeclared")
    expect(rows.nth(1)).to_contain_text("Prohibited words (miracle)")
    screenshot("1-queue")

    rows.nth(0).get_by_text("Spring banner", exact=True).click()
    expect(page.get_by_role("heading", name="Banner · 300\u00d7250")).to_be_visible()
    screenshot("2-review-banner")
    page.get_by_role("button", name="Approve").click()

    # The next one in the queue: the native ad, with its failed check.
    expect(page.locator(".native-card__headline")).to_have_text("Miracle soles, run forever")
    page.get_by_label("Other (see note)").check()
    page.get_by_role("button", name="Reject").click()
    expect(page.locator(".errorlist")).to_contain_text("Explain an “Other” rejection in the note.")
    screenshot("3-review-native-error")
    page.get_by_label("Misleading claims").check()
    page.get_by_label("Note to the advertiser").fill("Nothing lasts forever: please tone down the claim.")
    page.get_by_role("button", name="Reject").click()

    expect(page.get_by_text("Trail shoes")).to_be_visible()
    expect(page.get_by_text("video/mp4")).to_be_visible()
    screenshot("4-review-video")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("The queue is empty.")).to_be_visible()
    screenshot("5-empty-queue")

    # The advertiser sees the decisions in the Ads Manager (a browser context of their own).
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    owner = context.new_page()
    owner.goto(f"{live_server.url}/login/")
    owner.get_by_label("Email address").fill(tenants.owner.email)
    owner.get_by_label("Password").fill(PASSWORD)
    owner.get_by_role("button", name="Log in").click()
    owner.goto(live_server.url + reverse("campaign_detail", args=[tenants.advertiser.pk, demo_queue.pk]))
    expect(owner.get_by_text("Nothing lasts forever: please tone down the claim.")).to_be_visible()
    owner.screenshot(
        path=str(SCREENSHOTS / "test_a_reviewer_works_through_the_queue-6-ads-manager.png"), full_page=True
    )
    context.close()
