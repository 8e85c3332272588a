"""The change history pages (account and campaign): readable entries, filters, pages, access."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from accounts.audit import Actor, record, snapshot
from accounts.models import AuditLog, Role
from campaigns.services import change_status, create_ad_group, create_campaign
from tests.conftest import client_for
from tests.factories import (
    AdGroupFactory,
    CampaignFactory,
    CreativeFactory,
    MembershipFactory,
    issue_api_key,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name: str, advertiser, **kwargs) -> str:
    return reverse(name, kwargs={"advertiser_id": advertiser.pk, **kwargs})


def web(user) -> Actor:
    return Actor(source=AuditLog.Source.WEB, user=user)


@pytest.fixture
def campaign(tenants):
    from django.utils import timezone

    return create_campaign(
        advertiser=tenants.advertiser,
        actor=web(tenants.owner),
        name="Spring sale",
        objective="awareness",
        budget_micros=50_000_000,
        starts_at=timezone.now(),
    )


def budget_change(campaign, actor: Actor, micros: int) -> AuditLog:
    before = snapshot(campaign)
    campaign.budget_micros = micros
    campaign.save()
    return record(actor=actor, action="update", obj=campaign, before=before, after=snapshot(campaign))


def test_account_history_reads_like_sentences(tenants, campaign):
    key, _ = issue_api_key(advertiser=tenants.advertiser, name="Nightly sync")
    budget_change(campaign, Actor(source=AuditLog.Source.API, api_key=key), 80_000_000)
    change_status(obj=campaign, action="archive", actor=web(tenants.owner))

    response = client_for(tenants.owner).get(url("account_history", tenants.advertiser))

    assert response.status_code == 200
    html = response.content.decode()
    assert "owner@acme.test" in html
    assert f"API key Nightly sync ({key.prefix})" in html
    assert "Ads Manager" in html
    assert ">API<" in html
    # Money in the currency, choices by label, field labels rather than column names.
    assert "$50.00" in html
    assert "$80.00" in html
    assert "Budget" in html
    assert "budget_micros" not in html
    assert "Awareness" in html
    assert "Archived" in html
    assert "created campaign" in html
    assert "changed campaign" in html


def test_times_are_in_the_advertisers_time_zone(tenants, campaign):
    entry = AuditLog(
        advertiser=tenants.advertiser,
        actor_label="system",
        source=AuditLog.Source.SYSTEM,
        action="pause",
        object_type="campaigns.Campaign",
        object_id=str(campaign.pk),
        object_repr="Spring sale",
        before={"status": "active"},
        after={"status": "paused"},
        created_at=datetime(2026, 1, 15, 15, 30, tzinfo=UTC),
    )
    entry.save()

    html = client_for(tenants.owner).get(url("account_history", tenants.advertiser)).content.decode()

    assert "15 Jan 2026, 10:30" in html  # America/New_York
    assert "System" in html
    assert "Active" in html
    assert "Paused" in html


def test_targeting_is_summarised(tenants, campaign):
    create_ad_group(
        campaign=campaign,
        actor=web(tenants.owner),
        name="US adults",
        bid_strategy="manual_cpm",
        bid_micros=2_000_000,
        targeting={"countries": ["US", "CA"], "age_ranges": [{"min": 25, "max": 34}]},
    )

    html = client_for(tenants.owner).get(url("account_history", tenants.advertiser)).content.decode()

    assert "Countries: US, CA" in html
    assert "Ages: 25\u201334" in html
    assert "Manual CPM" in html
    assert "$2.00" in html


def test_filters_by_source_and_object_type(tenants, campaign):
    key, _ = issue_api_key(advertiser=tenants.advertiser, name="Nightly sync")
    budget_change(campaign, Actor(source=AuditLog.Source.API, api_key=key), 80_000_000)
    record(actor=web(tenants.owner), action="create", obj=key, after=snapshot(key))
    client = client_for(tenants.owner)

    html = client.get(url("account_history", tenants.advertiser), {"source": "api"}).content.decode()
    assert "Nightly sync" in html
    assert "owner@acme.test</strong>" not in html

    html = client.get(
        url("account_history", tenants.advertiser), {"type": "accounts.ApiKey"}
    ).content.decode()
    assert "created API key" in html
    assert "created campaign" not in html

    html = client.get(
        url("account_history", tenants.advertiser), {"type": "accounts.Membership"}
    ).content.decode()
    assert "No changes match these filters" in html


def test_filter_with_htmx_returns_the_results_only(tenants, campaign):
    response = client_for(tenants.owner).get(
        url("account_history", tenants.advertiser), {"source": "web"}, **HTMX
    )

    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card" id="history-results"')
    assert "Spring sale" in html


def test_unknown_filter_values_are_ignored(tenants, campaign):
    response = client_for(tenants.owner).get(
        url("account_history", tenants.advertiser), {"source": "nope", "type": "auth.User"}
    )

    assert response.status_code == 200
    assert "Spring sale" in response.content.decode()


def test_load_more_keeps_the_filters(tenants, campaign):
    for amount in range(1, 31):
        budget_change(campaign, web(tenants.owner), amount * 1_000_000)

    html = (
        client_for(tenants.owner)
        .get(url("account_history", tenants.advertiser), {"source": "web", "type": "campaigns.Campaign"})
        .content.decode()
    )

    assert 'hx-get="?source=web&amp;type=campaigns.Campaign&amp;page=2"' in html


def test_pages_with_load_more(tenants, campaign):
    for amount in range(1, 31):
        budget_change(campaign, web(tenants.owner), amount * 1_000_000)  # 31 entries with the creation
    client = client_for(tenants.owner)

    html = client.get(url("account_history", tenants.advertiser)).content.decode()
    assert "Load more" in html
    assert 'href="?page=2"' in html
    assert 'hx-get="?page=2"' in html
    assert html.count('class="history__entry"') == 25

    response = client.get(url("account_history", tenants.advertiser), {"page": 2}, **HTMX)
    page_two = response.content.decode()
    assert page_two.count('class="history__entry"') == 6
    assert "Load more" not in page_two
    assert "<html" not in page_two
    assert "created campaign" in page_two  # the oldest, last


def test_query_count_is_constant(tenants, campaign, django_assert_max_num_queries):
    client = client_for(tenants.owner)
    with django_assert_max_num_queries(20) as few:
        client.get(url("account_history", tenants.advertiser))
    for amount in range(1, 21):
        budget_change(campaign, web(tenants.owner), amount * 1_000_000)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(url("account_history", tenants.advertiser))


def test_history_shows_only_this_accounts_entries(tenants, campaign):
    create_campaign(
        advertiser=tenants.other_advertiser, actor=web(tenants.outsider), name="Globex launch",
        objective="awareness", budget_micros=1_000_000, starts_at=campaign.starts_at,
    )  # fmt: skip

    html = client_for(tenants.owner).get(url("account_history", tenants.advertiser)).content.decode()

    assert "Spring sale" in html
    assert "Globex launch" not in html


def test_empty_history_says_what_will_appear(tenants):
    html = client_for(tenants.owner).get(url("account_history", tenants.advertiser)).content.decode()

    assert "No changes yet" in html


def test_analyst_and_manager_can_read_the_history(tenants, campaign):
    manager = MembershipFactory(advertiser=tenants.advertiser, role=Role.MANAGER).user
    for user in (tenants.analyst, manager):
        response = client_for(user).get(url("account_history", tenants.advertiser))
        assert response.status_code == 200
        assert "Spring sale" in response.content.decode()


def test_outsider_gets_404(tenants, campaign):
    client = client_for(tenants.outsider)

    assert client.get(url("account_history", tenants.advertiser)).status_code == 404
    assert client.get(url("campaign_history", tenants.advertiser, campaign_id=campaign.pk)).status_code == 404


def test_logged_out_is_sent_to_login(tenants):
    response = Client().get(url("account_history", tenants.advertiser))

    assert response.status_code == 302


# Campaign history ----------------------------------------------------------------------------------


def test_campaign_history_covers_its_ad_groups_and_creatives_only(tenants, campaign):
    ad_group = AdGroupFactory(campaign=campaign, name="Retargeting group")
    creative = CreativeFactory(ad_group=ad_group, name="Blue banner")
    record(actor=web(tenants.owner), action="create", obj=ad_group, after=snapshot(ad_group))
    record(actor=web(tenants.owner), action="create", obj=creative, after=snapshot(creative))
    other = CampaignFactory(advertiser=tenants.advertiser, name="Other campaign")
    record(actor=web(tenants.owner), action="create", obj=other, after=snapshot(other))

    response = client_for(tenants.analyst).get(
        url("campaign_history", tenants.advertiser, campaign_id=campaign.pk)
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "History of Spring sale" in html
    assert f'href="{reverse("campaign_detail", args=[tenants.advertiser.pk, campaign.pk])}"' in html
    assert "Retargeting group" in html
    assert "Blue banner" in html
    assert "Other campaign" not in html


def test_another_accounts_campaign_is_404(tenants):
    theirs = CampaignFactory(advertiser=tenants.other_advertiser)

    response = client_for(tenants.owner).get(
        url("campaign_history", tenants.advertiser, campaign_id=theirs.pk)
    )

    assert response.status_code == 404


def test_campaign_history_query_count_is_constant(tenants, campaign, django_assert_max_num_queries):
    client = client_for(tenants.owner)
    with django_assert_max_num_queries(20) as few:
        client.get(url("campaign_history", tenants.advertiser, campaign_id=campaign.pk))
    for _ in range(5):
        ad_group = AdGroupFactory(campaign=campaign)
        record(actor=web(tenants.owner), action="create", obj=ad_group, after=snapshot(ad_group))
        budget_change(campaign, web(tenants.owner), 9_000_000)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(url("campaign_history", tenants.advertiser, campaign_id=campaign.pk))
