"""The Ads Manager's campaign pages: overview, list (filters, sort, inline edits, bulk actions), the
setup steps and the campaign page, each tried by the owner, the analyst (read only) and an outsider."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLog, Role
from campaigns.models import Campaign, Objective
from tests.conftest import client_for
from tests.factories import (
    AdGroupFactory,
    CampaignFactory,
    ConversionEventFactory,
    CreativeFactory,
    MembershipFactory,
    servable_campaign,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name: str, advertiser, *args) -> str:
    return reverse(name, args=[advertiser.pk, *args])


@pytest.fixture
def owner(tenants) -> Client:
    return client_for(tenants.owner)


@pytest.fixture
def analyst(tenants) -> Client:
    return client_for(tenants.analyst)


@pytest.fixture
def outsider(tenants) -> Client:
    return client_for(tenants.outsider)


def step2_data(**overrides) -> dict[str, str]:
    data = {
        "objective": "traffic",
        "name": "Spring sale",
        "budget_type": "daily",
        "budget": "25.50",
        "pacing": "standard",
        "starts_at": (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
        "ends_at": "",
        "frequency_cap_impressions": "",
        "frequency_cap_period": "",
        "conversion_event": "",
    }
    return data | overrides


# Who may see what ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["account_overview", "campaign_list"])
def test_account_pages_for_members_and_not_outsiders(tenants, owner, analyst, outsider, name):
    CampaignFactory(advertiser=tenants.advertiser, name="Spring sale")
    assert owner.get(url(name, tenants.advertiser)).status_code == 200
    response = analyst.get(url(name, tenants.advertiser))
    assert response.status_code == 200
    assert "Spring sale" in response.content.decode()
    assert outsider.get(url(name, tenants.advertiser)).status_code == 404
    assert Client().get(url(name, tenants.advertiser)).status_code == 302  # to the login page


def test_campaign_page_for_members_and_not_outsiders(tenants, owner, analyst, outsider):
    campaign = CampaignFactory(advertiser=tenants.advertiser)
    assert owner.get(url("campaign_detail", tenants.advertiser, campaign.pk)).status_code == 200
    html = analyst.get(url("campaign_detail", tenants.advertiser, campaign.pk)).content.decode()
    assert "read only" in html
    assert "Save changes" not in html
    assert outsider.get(url("campaign_detail", tenants.advertiser, campaign.pk)).status_code == 404


def test_another_accounts_campaign_in_this_accounts_url_is_404(tenants, owner):
    theirs = CampaignFactory(advertiser=tenants.other_advertiser)
    for name in ("campaign_detail", "campaign_budget"):
        assert owner.get(url(name, tenants.advertiser, theirs.pk)).status_code == 404
    response = owner.post(url("campaign_status", tenants.advertiser, theirs.pk), {"action": "archive"})
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Campaign.Status.DRAFT


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("campaign_status", {"action": "archive"}),
        ("campaign_budget", {"budget": "99"}),
        ("campaign_duplicate", {}),
        ("campaign_detail", step2_data(name="Renamed")),
    ],
)
def test_analyst_and_outsider_posts_change_nothing(tenants, analyst, outsider, name, data):
    campaign = CampaignFactory(advertiser=tenants.advertiser, name="Spring sale")
    assert analyst.post(url(name, tenants.advertiser, campaign.pk), data).status_code == 403
    assert outsider.post(url(name, tenants.advertiser, campaign.pk), data).status_code == 404
    campaign.refresh_from_db()
    assert (campaign.name, campaign.status, campaign.budget_micros) == ("Spring sale", "draft", 50_000_000)
    assert Campaign.objects.count() == 1
    assert not AuditLog.objects.filter(action__in=["update", "archive", "duplicate"]).exists()


def test_analyst_cannot_create_or_bulk(tenants, analyst, outsider):
    campaign = CampaignFactory(advertiser=tenants.advertiser)
    assert analyst.get(url("campaign_new", tenants.advertiser)).status_code == 403
    assert (
        analyst.get(url("campaign_new_details", tenants.advertiser) + "?objective=traffic").status_code == 403
    )
    assert analyst.post(url("campaign_new_details", tenants.advertiser), step2_data()).status_code == 403
    bulk = {"action": "archive", "campaigns": [campaign.pk]}
    assert analyst.post(url("campaign_bulk", tenants.advertiser), bulk).status_code == 403
    assert outsider.post(url("campaign_bulk", tenants.advertiser), bulk).status_code == 404
    assert Campaign.objects.get().status == Campaign.Status.DRAFT
    assert Campaign.objects.count() == 1


def test_analyst_sees_the_list_without_edit_controls(tenants, analyst):
    CampaignFactory(advertiser=tenants.advertiser, name="Spring sale")
    html = analyst.get(url("campaign_list", tenants.advertiser)).content.decode()
    assert "Spring sale" in html
    assert 'role="switch"' not in html
    assert "bulk-form" not in html
    assert "New campaign" not in html
    assert "Edit<span" not in html


# Overview ----------------------------------------------------------------------------------------


def test_overview_counts_by_delivery_state_and_shows_no_invented_numbers(tenants, owner):
    servable_campaign(advertiser=tenants.advertiser, status=Campaign.Status.ACTIVE)
    CampaignFactory(advertiser=tenants.advertiser, status=Campaign.Status.PAUSED)
    CampaignFactory(advertiser=tenants.advertiser, name="Draft one")
    html = owner.get(url("account_overview", tenants.advertiser)).content.decode()
    assert "1</strong> of 3 campaigns delivering" in html
    assert "Delivering" in html
    assert "Paused" in html
    assert "No delivery yet" in html
    assert "$0.00" in html
    assert "Draft one" in html  # needs attention: not published


def test_overview_empty_state_says_what_to_do(tenants, owner):
    html = owner.get(url("account_overview", tenants.advertiser)).content.decode()
    assert "No campaigns yet" in html
    assert url("campaign_new", tenants.advertiser) in html


def test_home_links_each_account_to_its_overview(tenants, owner):
    html = owner.get(reverse("home")).content.decode()
    assert url("account_overview", tenants.advertiser) in html


def test_account_nav_and_switcher_land_on_the_same_page(tenants, owner):
    second = MembershipFactory(user=tenants.owner, role=Role.ADMIN).advertiser
    html = owner.get(url("campaign_list", tenants.advertiser) + "?q=x").content.decode()
    assert 'aria-current="page">Campaigns' in html
    assert url("account_overview", tenants.advertiser) in html
    response = owner.post(
        reverse("switch_advertiser"),
        {"advertiser": second.pk, "next": url("campaign_detail", tenants.advertiser, 5)},
    )
    assert response["Location"] == url("campaign_list", second)
    response = owner.post(
        reverse("switch_advertiser"),
        {"advertiser": second.pk, "next": url("campaign_list", tenants.advertiser)},
    )
    assert response["Location"] == url("campaign_list", second)
    response = owner.post(reverse("switch_advertiser"), {"advertiser": second.pk, "next": "/"})
    assert response["Location"] == "/"


# List --------------------------------------------------------------------------------------------


def test_list_filters_search_sort_and_keeps_them_in_links(tenants, owner):
    advertiser = tenants.advertiser
    CampaignFactory(advertiser=advertiser, name="Alpha", objective=Objective.TRAFFIC, budget_micros=9_000_000)
    CampaignFactory(
        advertiser=advertiser, name="Beta", status=Campaign.Status.PAUSED, budget_micros=1_000_000
    )
    CampaignFactory(advertiser=advertiser, name="Gone", status=Campaign.Status.ARCHIVED)
    CampaignFactory(advertiser=tenants.other_advertiser, name="Theirs")

    html = owner.get(url("campaign_list", advertiser)).content.decode()
    assert "Alpha" in html and "Beta" in html
    assert "Gone" not in html and "Theirs" not in html
    assert html.index("Alpha") < html.index("Beta")

    html = owner.get(url("campaign_list", advertiser) + "?sort=budget").content.decode()
    assert html.index(">Beta<") < html.index(">Alpha<")
    html = owner.get(url("campaign_list", advertiser) + "?sort=-name").content.decode()
    assert html.index(">Beta<") < html.index(">Alpha<")
    html = owner.get(url("campaign_list", advertiser) + "?status=paused").content.decode()
    assert ">Beta<" in html and ">Alpha<" not in html
    html = owner.get(url("campaign_list", advertiser) + "?objective=traffic").content.decode()
    assert ">Alpha<" in html and ">Beta<" not in html
    html = owner.get(url("campaign_list", advertiser) + "?q=alp&range=30d").content.decode()
    assert ">Alpha<" in html and ">Beta<" not in html
    assert "range=30d" in html and "q=alp" in html  # sort links keep the filters
    html = owner.get(url("campaign_list", advertiser) + "?status=all").content.decode()
    assert ">Gone<" in html
    html = owner.get(url("campaign_list", advertiser) + "?q=nothing").content.decode()
    assert "No campaign matches" in html


@pytest.mark.parametrize("sort", ["delivery", "-spend", "ctr", "-cpa", "status", "impressions"])
def test_every_column_sorts(tenants, owner, sort):
    CampaignFactory.create_batch(3, advertiser=tenants.advertiser)
    response = owner.get(url("campaign_list", tenants.advertiser) + f"?sort={sort}")
    assert response.status_code == 200
    assert 'aria-sort="' in response.content.decode()


def test_bad_list_parameters_fall_back_to_defaults(tenants, owner):
    CampaignFactory(advertiser=tenants.advertiser, name="Alpha")
    query = "?sort=secret&page=zzz&range=forever&status=nope&start=2025-13-01"
    response = owner.get(url("campaign_list", tenants.advertiser) + query)
    assert response.status_code == 200
    assert "Alpha" in response.content.decode()


def test_custom_date_range_is_in_the_url(tenants, owner):
    CampaignFactory(advertiser=tenants.advertiser)
    query = "?range=custom&start=2026-01-01&end=2026-01-31"
    html = owner.get(url("campaign_list", tenants.advertiser) + query).content.decode()
    assert "1 jan 2026 to 31 jan 2026" in html
    assert "start=2026-01-01" in html


def test_pagination(tenants, owner):
    CampaignFactory.create_batch(55, advertiser=tenants.advertiser)
    html = owner.get(url("campaign_list", tenants.advertiser)).content.decode()
    assert "Page 1 of 2" in html
    html = owner.get(url("campaign_list", tenants.advertiser) + "?page=2").content.decode()
    assert "Page 2 of 2" in html
    assert html.count('name="campaigns"') == 5


def test_htmx_list_request_renders_the_table_partial(tenants, owner):
    CampaignFactory(advertiser=tenants.advertiser, name="Alpha")
    html = owner.get(url("campaign_list", tenants.advertiser) + "?q=alp", **HTMX).content.decode()
    assert html.lstrip().startswith('<div id="campaign-table"')
    assert "<html" not in html
    assert "Alpha" in html


def list_queries(client, advertiser) -> None:
    assert client.get(url("campaign_list", advertiser)).status_code == 200


@pytest.mark.parametrize("sort", ["name", "delivery"])
def test_list_query_count_does_not_grow_with_campaigns(tenants, owner, django_assert_num_queries, sort):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def make(n):
        for _ in range(n):
            campaign = CampaignFactory(advertiser=tenants.advertiser, status=Campaign.Status.ACTIVE)
            group = AdGroupFactory(campaign=campaign)
            CreativeFactory(ad_group=group, approved=True)
            CreativeFactory(ad_group=group)

    make(2)
    path = url("campaign_list", tenants.advertiser) + f"?sort={sort}"
    owner.get(path)
    with CaptureQueriesContext(connection) as few:
        owner.get(path)
    make(10)
    with django_assert_num_queries(len(few.captured_queries)):
        response = owner.get(path)
    assert response.content.decode().count('name="campaigns"') == 12


# Status switch -----------------------------------------------------------------------------------


def test_switch_pauses_an_active_campaign_and_returns_the_row(tenants, owner):
    campaign = servable_campaign(advertiser=tenants.advertiser, status=Campaign.Status.ACTIVE)
    response = owner.post(
        url("campaign_status", tenants.advertiser, campaign.pk), {"action": "pause"}, **HTMX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="campaign-{campaign.pk}"')
    assert 'aria-checked="false"' in html
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.PAUSED
    assert AuditLog.objects.filter(action="pause", object_id=str(campaign.pk)).exists()


def test_htmx_post_without_csrf_token_is_refused(tenants):
    campaign = servable_campaign(advertiser=tenants.advertiser, status=Campaign.Status.ACTIVE)
    client = Client(enforce_csrf_checks=True)
    client.force_login(tenants.owner)
    response = client.post(
        url("campaign_status", tenants.advertiser, campaign.pk), {"action": "pause"}, **HTMX
    )
    assert response.status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.ACTIVE


def test_switch_refusal_is_shown_in_place(tenants, owner):
    campaign = CampaignFactory(advertiser=tenants.advertiser)  # no ad group: cannot activate
    response = owner.post(
        url("campaign_status", tenants.advertiser, campaign.pk), {"action": "activate"}, **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "approved, active creative" in html
    assert 'role="alert"' in html
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_status_without_javascript_redirects_with_a_message(tenants, owner):
    campaign = servable_campaign(advertiser=tenants.advertiser)
    response = owner.post(
        url("campaign_status", tenants.advertiser, campaign.pk), {"action": "activate"}, follow=True
    )
    assert "is now active" in response.content.decode()
    assert (
        owner.post(url("campaign_status", tenants.advertiser, campaign.pk), {"action": "x"}).status_code
        == 400
    )


# Inline budget -----------------------------------------------------------------------------------


def test_budget_edit_in_the_cell(tenants, owner):
    campaign = CampaignFactory(advertiser=tenants.advertiser)
    form = owner.get(url("campaign_budget", tenants.advertiser, campaign.pk), **HTMX).content.decode()
    assert 'name="budget"' in form and 'value="50.00"' in form
    response = owner.post(
        url("campaign_budget", tenants.advertiser, campaign.pk), {"budget": "75.25"}, **HTMX
    )
    assert response.status_code == 200
    assert "$75.25" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.budget_micros == 75_250_000
    assert AuditLog.objects.filter(action="update", object_id=str(campaign.pk)).exists()


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("12.345", "at most 2 decimal places"),
        ("abc", "Enter an amount"),
        ("-5", "greater than zero"),
        ("", "required"),
    ],
)
def test_wrong_budget_is_refused_in_place_and_kept(tenants, owner, typed, error):
    campaign = CampaignFactory(advertiser=tenants.advertiser)
    response = owner.post(url("campaign_budget", tenants.advertiser, campaign.pk), {"budget": typed}, **HTMX)
    html = response.content.decode()
    assert error in html
    assert f'value="{typed}"' in html
    assert 'aria-invalid="true"' in html
    campaign.refresh_from_db()
    assert campaign.budget_micros == 50_000_000


def test_an_archived_campaigns_budget_cannot_change(tenants, owner):
    campaign = CampaignFactory(advertiser=tenants.advertiser, status=Campaign.Status.ARCHIVED)
    response = owner.post(url("campaign_budget", tenants.advertiser, campaign.pk), {"budget": "80"})
    assert response.status_code == 400
    campaign.refresh_from_db()
    assert campaign.budget_micros == 50_000_000


def test_budget_without_javascript(tenants, owner):
    campaign = CampaignFactory(advertiser=tenants.advertiser)
    assert (
        "Save budget" in owner.get(url("campaign_budget", tenants.advertiser, campaign.pk)).content.decode()
    )
    response = owner.post(url("campaign_budget", tenants.advertiser, campaign.pk), {"budget": "1,5"})
    assert response.status_code == 400
    assert 'value="1,5"' in response.content.decode()
    response = owner.post(url("campaign_budget", tenants.advertiser, campaign.pk), {"budget": "80"})
    assert response.status_code == 302
    cancel = owner.get(url("campaign_budget", tenants.advertiser, campaign.pk) + "?cancel=1", **HTMX)
    assert "$80.00" in cancel.content.decode() and 'name="budget"' not in cancel.content.decode()


# Bulk ---------------------------------------------------------------------------------------------


def test_bulk_pause_reports_each_row(tenants, owner):
    active = servable_campaign(advertiser=tenants.advertiser, name="On one", status=Campaign.Status.ACTIVE)
    draft = CampaignFactory(advertiser=tenants.advertiser, name="Draft one")
    response = owner.post(
        url("campaign_bulk", tenants.advertiser),
        {"action": "pause", "campaigns": [active.pk, draft.pk]},
        follow=True,
    )
    html = response.content.decode()
    assert "Paused 1 campaign: On one." in html
    assert "Draft one: Only an active campaign can be paused" in html
    active.refresh_from_db()
    assert active.status == Campaign.Status.PAUSED


def test_bulk_archive_and_duplicate(tenants, owner):
    one, two = CampaignFactory.create_batch(2, advertiser=tenants.advertiser)
    owner.post(url("campaign_bulk", tenants.advertiser), {"action": "duplicate", "campaigns": [one.pk]})
    assert Campaign.objects.filter(name=f"{one.name} (copy)").exists()
    response = owner.post(
        url("campaign_bulk", tenants.advertiser), {"action": "archive", "campaigns": [one.pk, two.pk]}
    )
    assert response.status_code == 302
    assert set(Campaign.objects.filter(pk__in=[one.pk, two.pk]).values_list("status", flat=True)) == {
        "archived"
    }


def test_bulk_with_another_accounts_id_changes_nothing(tenants, owner):
    mine = CampaignFactory(advertiser=tenants.advertiser)
    theirs = CampaignFactory(advertiser=tenants.other_advertiser)
    response = owner.post(
        url("campaign_bulk", tenants.advertiser), {"action": "archive", "campaigns": [mine.pk, theirs.pk]}
    )
    assert response.status_code == 400
    assert response.content.decode().count("not in this account")
    assert set(Campaign.objects.values_list("status", flat=True)) == {"draft"}
    response = owner.post(
        url("campaign_bulk", tenants.advertiser), {"action": "explode", "campaigns": [mine.pk]}
    )
    assert Campaign.objects.get(pk=mine.pk).status == "draft"


def test_bulk_without_selection_says_so(tenants, owner):
    response = owner.post(url("campaign_bulk", tenants.advertiser), {"action": "pause"}, follow=True)
    assert "Select at least one campaign." in response.content.decode()


def test_bulk_with_htmx_follows_to_the_table_with_toasts(tenants, owner):
    one = CampaignFactory(advertiser=tenants.advertiser, name="Alpha")
    response = owner.post(
        url("campaign_bulk", tenants.advertiser),
        {
            "action": "archive",
            "campaigns": [one.pk],
            "next": url("campaign_list", tenants.advertiser) + "?q=a",
        },
        **HTMX,
    )
    assert response.status_code == 302
    assert response["Location"] == url("campaign_list", tenants.advertiser) + "?q=a"
    html = owner.get(response["Location"], **HTMX).content.decode()
    assert 'hx-swap-oob="beforeend"' in html
    assert "Archived 1 campaign: Alpha." in html


def test_bulk_next_must_be_on_this_site(tenants, owner):
    one = CampaignFactory(advertiser=tenants.advertiser)
    response = owner.post(
        url("campaign_bulk", tenants.advertiser),
        {"action": "archive", "campaigns": [one.pk], "next": "https://evil.example/"},
    )
    assert response["Location"] == url("campaign_list", tenants.advertiser)


# Setup steps -------------------------------------------------------------------------------------


def test_step_1_shows_objectives_and_drafts_to_resume(tenants, owner):
    draft = CampaignFactory(advertiser=tenants.advertiser, name="Half done")
    html = owner.get(url("campaign_new", tenants.advertiser)).content.decode()
    for label in ("Awareness", "Traffic", "Conversions"):
        assert label in html
    assert url("campaign_setup", tenants.advertiser, draft.pk) in html


def test_step_2_needs_an_objective(tenants, owner):
    response = owner.get(url("campaign_new_details", tenants.advertiser) + "?objective=fame")
    assert response.status_code == 302
    assert response["Location"] == url("campaign_new", tenants.advertiser)
    html = owner.get(url("campaign_new_details", tenants.advertiser) + "?objective=traffic").content.decode()
    assert 'name="budget"' in html and 'value="traffic"' in html


def test_step_2_saves_a_draft_and_goes_on(tenants, owner):
    response = owner.post(url("campaign_new_details", tenants.advertiser), step2_data())
    campaign = Campaign.objects.get(name="Spring sale")
    assert (campaign.status, campaign.objective, campaign.budget_micros) == ("draft", "traffic", 25_500_000)
    assert campaign.advertiser == tenants.advertiser
    assert AuditLog.objects.filter(action="create", object_id=str(campaign.pk)).exists()
    try:
        expected = reverse("ad_group_new", args=[tenants.advertiser.pk, campaign.pk]) + "?wizard=1"
    except Exception:
        expected = url("campaign_detail", tenants.advertiser, campaign.pk)
    assert response["Location"] == expected


def test_step_2_start_is_read_in_the_accounts_time_zone(tenants, owner):
    owner.post(url("campaign_new_details", tenants.advertiser), step2_data(starts_at="2030-06-01T09:00"))
    campaign = Campaign.objects.get()
    assert campaign.starts_at.astimezone(tenants.advertiser.tz).hour == 9  # New York


def test_step_2_bad_input_keeps_what_was_typed(tenants, owner):
    data = step2_data(budget="12.345", budget_type="lifetime", name="Keep me")
    response = owner.post(url("campaign_new_details", tenants.advertiser), data)
    html = response.content.decode()
    assert response.status_code == 400
    assert "at most 2 decimal places" in html
    assert "A lifetime budget needs an end date." in html
    assert 'value="Keep me"' in html and 'value="12.345"' in html
    assert not Campaign.objects.exists()


def test_step_2_refuses_a_taken_name_next_to_the_field(tenants, owner):
    CampaignFactory(advertiser=tenants.advertiser, name="Spring sale")
    response = owner.post(url("campaign_new_details", tenants.advertiser), step2_data())
    assert "already exists in this account" in response.content.decode()
    assert Campaign.objects.count() == 1


def test_conversions_campaign_needs_an_event_of_this_account(tenants, owner):
    theirs = ConversionEventFactory(advertiser=tenants.other_advertiser)
    mine = ConversionEventFactory(advertiser=tenants.advertiser, name="Purchase")
    data = step2_data(objective="conversions", conversion_event=str(theirs.pk))
    html = owner.post(url("campaign_new_details", tenants.advertiser), data).content.decode()
    assert "Select a valid choice" in html
    html = owner.post(
        url("campaign_new_details", tenants.advertiser), step2_data(objective="conversions")
    ).content
    assert b"needs a conversion event" in html
    owner.post(
        url("campaign_new_details", tenants.advertiser),
        step2_data(objective="conversions", conversion_event=mine.pk),
    )
    assert Campaign.objects.get().conversion_event == mine


def test_field_validation_with_htmx_renders_the_fields_error_and_saves_nothing(tenants, owner):
    headers = {**HTMX, "HTTP_X_VALIDATE_FIELD": "budget"}
    response = owner.post(
        url("campaign_new_details", tenants.advertiser), step2_data(budget="1.234"), **headers
    )
    html = response.content.decode()
    assert html.strip().startswith('<p class="field__error" id="id_budget-error"')
    assert "at most 2 decimal places" in html
    ok = owner.post(url("campaign_new_details", tenants.advertiser), step2_data(), **headers).content.decode()
    assert "></p>" in ok
    assert not Campaign.objects.exists()
    bad_field = {**HTMX, "HTTP_X_VALIDATE_FIELD": "advertiser"}
    assert (
        owner.post(url("campaign_new_details", tenants.advertiser), step2_data(), **bad_field).status_code
        == 404
    )


def test_field_validation_also_shows_a_rule_across_fields(tenants, owner):
    headers = {**HTMX, "HTTP_X_VALIDATE_FIELD": "budget_type"}
    data = step2_data(budget_type="lifetime")
    html = owner.post(url("campaign_new_details", tenants.advertiser), data, **headers).content.decode()
    assert 'id="id_budget_type-error"' in html
    oob = 'id="id_ends_at-error" aria-live="polite" hx-swap-oob="outerHTML">'
    assert f"{oob}A lifetime budget needs an end date." in html


def test_resuming_a_draft_edits_it(tenants, owner):
    draft = CampaignFactory(advertiser=tenants.advertiser, name="Half done")
    html = owner.get(url("campaign_setup", tenants.advertiser, draft.pk)).content.decode()
    assert 'value="Half done"' in html and 'value="50.00"' in html
    owner.post(
        url("campaign_setup", tenants.advertiser, draft.pk),
        step2_data(name="Done now", objective="awareness"),
    )
    draft.refresh_from_db()
    assert draft.name == "Done now"
    active = CampaignFactory(advertiser=tenants.advertiser, status=Campaign.Status.PAUSED)
    assert owner.get(url("campaign_setup", tenants.advertiser, active.pk)).status_code == 404


# Campaign page -----------------------------------------------------------------------------------


def test_campaign_page_shows_ad_groups_creatives_and_review(tenants, owner):
    campaign = CampaignFactory(advertiser=tenants.advertiser)
    group = AdGroupFactory(campaign=campaign, name="US adults")
    creative = CreativeFactory(ad_group=group, name="Banner A")
    creative.reject(by=None, reasons=["misleading_claims"])
    CreativeFactory(ad_group=group, name="Banner B", approved=True)
    html = owner.get(url("campaign_detail", tenants.advertiser, campaign.pk)).content.decode()
    assert "US adults" in html and "Banner A" in html and "Banner B" in html
    assert "Rejected" in html and "Misleading claims" in html and "Approved" in html
    assert "Publish" in html


def test_campaign_edit_saves_and_bad_input_keeps_it(tenants, owner):
    campaign = CampaignFactory(advertiser=tenants.advertiser, name="Old name", objective="awareness")
    data = step2_data(name="New name", objective="awareness", budget="abc")
    response = owner.post(url("campaign_detail", tenants.advertiser, campaign.pk), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'value="New name"' in html and "Enter an amount" in html
    assert "<h1>Old name</h1>" in html
    campaign.refresh_from_db()
    assert campaign.name == "Old name"
    response = owner.post(
        url("campaign_detail", tenants.advertiser, campaign.pk),
        step2_data(name="New name", objective="awareness"),
    )
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert (campaign.name, campaign.budget_micros) == ("New name", 25_500_000)


def test_publish_duplicate_and_archive_from_the_campaign_page(tenants, owner):
    campaign = servable_campaign(advertiser=tenants.advertiser, name="Ready")
    owner.post(url("campaign_status", tenants.advertiser, campaign.pk), {"action": "activate"})
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.ACTIVE
    response = owner.post(url("campaign_duplicate", tenants.advertiser, campaign.pk))
    copy = Campaign.objects.get(name="Ready (copy)")
    assert response["Location"] == url("campaign_detail", tenants.advertiser, copy.pk)
    owner.post(url("campaign_status", tenants.advertiser, campaign.pk), {"action": "archive"})
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.ARCHIVED
    html = owner.get(url("campaign_detail", tenants.advertiser, campaign.pk)).content.decode()
    assert "cannot be changed" in html
    response = owner.post(
        url("campaign_detail", tenants.advertiser, campaign.pk),
        step2_data(name="Ready", objective="awareness"),
    )
    assert response.status_code == 400
