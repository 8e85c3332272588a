"""The ad group editor (new, edit, live validation and estimate, status buttons), tried by an owner, an
analyst and an outsider; and the audience estimate's rules."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditLog
from campaigns.estimates import estimate
from campaigns.models import AdGroup, BidStrategy, Campaign, Objective
from campaigns.targeting import Targeting
from tests.conftest import client_for
from tests.factories import AdGroupFactory, CampaignFactory, PlacementFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(tenants) -> Campaign:
    return CampaignFactory(advertiser=tenants.advertiser, name="Spring sale", objective=Objective.TRAFFIC)


@pytest.fixture
def placements():
    return [
        PlacementFactory(name="News top", daily_requests=100_000),
        PlacementFactory(name="Sports side", daily_requests=50_000),
        PlacementFactory(name="Closed", daily_requests=999_000, is_active=False),
    ]


def new_url(campaign: Campaign) -> str:
    return reverse("ad_group_new", args=[campaign.advertiser_id, campaign.pk])


def edit_url(ad_group: AdGroup) -> str:
    return reverse("ad_group_edit", args=[ad_group.advertiser_id, ad_group.pk])


def form_data(**overrides) -> dict:
    data = {
        "name": "US runners",
        "bid_strategy": BidStrategy.MANUAL_CPC,
        "bid": "0.80",
        "countries": ["US", "CA"],
        "languages": ["en"],
        "age_ranges": ["18-24", "25-34"],
        "genders": ["female"],
        "device_types": ["mobile"],
        "operating_systems": [],
        "interests": ["fitness", "sports"],
        "keywords": "running shoes\ntrail running\n",
        "schedule": "always",
    }
    data.update(overrides)
    return data


# Pages ---------------------------------------------------------------------------------------------


def test_owner_sees_the_new_ad_group_page_with_the_objectives_strategies(tenants, campaign, placements):
    response = client_for(tenants.owner).get(new_url(campaign))
    assert response.status_code == 200
    html = response.content.decode()
    assert "New ad group" in html
    assert 'value="manual_cpc"' in html and 'value="lowest_cost"' in html
    assert 'value="target_cpa"' not in html  # a traffic campaign does not bid by CPA
    assert "News top" in html and "Closed" not in html  # active placements only
    assert 'value="FR"' in html and "France" in html
    assert "Estimated reach" in html
    assert "Save and continue" not in html


def test_wizard_mode_shows_the_stepper_and_save_and_continue(tenants, campaign, placements):
    response = client_for(tenants.owner).get(new_url(campaign) + "?wizard=1")
    html = response.content.decode()
    assert 'aria-label="Campaign setup"' in html
    assert 'aria-current="step"' in html
    assert "Save and continue" in html


def test_analyst_sees_the_page_read_only(tenants, campaign):
    ad_group = AdGroupFactory(campaign=campaign, bid_strategy=BidStrategy.MANUAL_CPC)
    for url in (new_url(campaign), edit_url(ad_group)):
        response = client_for(tenants.analyst).get(url)
        assert response.status_code == 200
        html = response.content.decode()
        assert "read only" in html
        assert "Create ad group" not in html and "Save ad group" not in html and "Pause ad group" not in html
        assert "hx-post" not in html
        assert 'name="name"' in html and "disabled" in html


def test_outsider_gets_404(tenants, campaign):
    ad_group = AdGroupFactory(campaign=campaign)
    client = client_for(tenants.outsider)
    assert client.get(new_url(campaign)).status_code == 404
    assert client.get(edit_url(ad_group)).status_code == 404
    assert client.post(new_url(campaign), form_data()).status_code == 404
    assert client.post(edit_url(ad_group), form_data()).status_code == 404
    status_url = reverse("ad_group_status", args=[campaign.advertiser_id, ad_group.pk])
    assert client.post(status_url, {"action": "pause"}).status_code == 404
    assert AdGroup.objects.filter(campaign=campaign).count() == 1


def test_another_accounts_campaign_under_my_account_is_404(tenants):
    theirs = CampaignFactory(advertiser=tenants.other_advertiser)
    url = reverse("ad_group_new", args=[tenants.advertiser.pk, theirs.pk])
    assert client_for(tenants.owner).get(url).status_code == 404
    assert client_for(tenants.owner).post(url, form_data()).status_code == 404
    assert not AdGroup.objects.filter(campaign=theirs).exists()


def test_analyst_post_is_403_and_changes_nothing(tenants, campaign):
    ad_group = AdGroupFactory(campaign=campaign, name="Before", bid_strategy=BidStrategy.MANUAL_CPC)
    client = client_for(tenants.analyst)
    assert client.post(new_url(campaign), form_data()).status_code == 403
    assert client.post(edit_url(ad_group), form_data(name="After")).status_code == 403
    assert client.post(new_url(campaign), form_data(_live="1")).status_code == 403
    status_url = reverse("ad_group_status", args=[campaign.advertiser_id, ad_group.pk])
    assert client.post(status_url, {"action": "pause"}).status_code == 403
    ad_group.refresh_from_db()
    assert (ad_group.name, ad_group.status) == ("Before", AdGroup.Status.ACTIVE)
    assert AdGroup.objects.filter(campaign=campaign).count() == 1


# Creating and editing --------------------------------------------------------------------------------


def test_owner_creates_an_ad_group_with_full_targeting(tenants, campaign, placements):
    news = placements[0]
    data = form_data(
        placements_include=[str(news.pk)],
        schedule="dayparting",
        dayparting=["0-9", "0-10", "4-18"],
    )
    response = client_for(tenants.owner).post(new_url(campaign), data)
    ad_group = AdGroup.objects.get(campaign=campaign)
    assert response.status_code == 302
    assert response["Location"] == edit_url(ad_group)
    assert ad_group.name == "US runners"
    assert ad_group.bid_micros == 800_000
    targeting = ad_group.parsed_targeting
    assert targeting.countries == ["US", "CA"]
    assert [(r.min, r.max) for r in targeting.age_ranges] == [(18, 24), (25, 34)]
    assert targeting.keywords == ["running shoes", "trail running"]
    assert targeting.placements_include == [news.pk]
    assert targeting.dayparting is not None
    assert targeting.dayparting[0][9] and targeting.dayparting[4][18] and not targeting.dayparting[0][8]
    assert AuditLog.objects.filter(object_type="campaigns.AdGroup", action="create").count() == 1


def test_wizard_save_goes_to_the_creative_step(tenants, campaign):
    response = client_for(tenants.owner).post(new_url(campaign) + "?wizard=1", form_data())
    ad_group = AdGroup.objects.get(campaign=campaign)
    assert (
        response["Location"]
        == reverse("creative_new", args=[campaign.advertiser_id, ad_group.pk]) + "?wizard=1"
    )


def test_lowest_cost_ignores_the_hidden_bid(tenants, campaign):
    client_for(tenants.owner).post(new_url(campaign), form_data(bid_strategy="lowest_cost", bid="3.00"))
    ad_group = AdGroup.objects.get(campaign=campaign)
    assert ad_group.bid_strategy == "lowest_cost" and ad_group.bid_micros is None


def test_owner_edits_an_ad_group(tenants, campaign):
    ad_group = AdGroupFactory(campaign=campaign, bid_strategy=BidStrategy.MANUAL_CPC, bid_micros=500_000)
    response = client_for(tenants.owner).get(edit_url(ad_group))
    assert 'value="0.50"' in response.content.decode()
    response = client_for(tenants.owner).post(edit_url(ad_group), form_data(name="Renamed", countries=["DE"]))
    assert response.status_code == 302
    ad_group.refresh_from_db()
    assert ad_group.name == "Renamed" and ad_group.targeting["countries"] == ["DE"]
    log = AuditLog.objects.get(object_type="campaigns.AdGroup", action="update")
    assert log.before["name"] != "Renamed" and log.after["name"] == "Renamed"


def test_edit_shows_and_keeps_regions_set_through_the_api(tenants, campaign):
    ad_group = AdGroupFactory(
        campaign=campaign, bid_strategy=BidStrategy.MANUAL_CPC, targeting={"regions": ["US-CA"]}
    )
    client = client_for(tenants.owner)
    assert client.get(edit_url(ad_group)).context["form"]["regions"].value() == "US-CA"
    client.post(edit_url(ad_group), form_data(regions="US-CA"))
    ad_group.refresh_from_db()
    assert ad_group.targeting["regions"] == ["US-CA"]


# Bad input -----------------------------------------------------------------------------------------


def test_bad_input_keeps_what_was_typed_and_names_the_field(tenants, campaign):
    response = client_for(tenants.owner).post(
        new_url(campaign), form_data(bid="abc", keywords="running shoes\n" + "x" * 81)
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "Enter an amount such as 12.50." in form.errors["bid"]
    assert form.errors["keywords"] == ["Line 2: A keyword is 1 to 80 characters of text."]
    html = response.content.decode()
    assert 'value="US runners"' in html  # the name typed is kept
    assert "running shoes" in html
    assert '<option value="CA" selected>' in html
    assert 'id="errors-keywords"' in html
    assert not AdGroup.objects.exists()


def test_targeting_errors_are_shown_next_to_their_field(tenants, campaign):
    data = form_data(countries=["US", "XX"], languages=["zz"], age_ranges=["30-20"], genders=["robot"])
    response = client_for(tenants.owner).post(new_url(campaign), data)
    errors = response.context["form"].errors
    assert errors["countries"] == ["'XX' is not an ISO 3166-1 country code."]
    assert errors["languages"] == ["'zz' is not an ISO 639-1 language code."]
    assert errors["age_ranges"] == ["The minimum age (30) is above the maximum (20)."]
    assert "'robot' is not one of female, male, unknown." in errors["genders"]
    html = response.content.decode()
    countries_block = html.split('id="field-countries"')[1].split('id="field-languages"')[0]
    assert "is not an ISO 3166-1 country code" in countries_block


def test_dayparting_with_no_hour_is_refused_next_to_the_grid(tenants, campaign):
    response = client_for(tenants.owner).post(new_url(campaign), form_data(schedule="dayparting"))
    assert response.context["form"].errors["dayparting"] == ["Dayparting must leave at least one hour open."]
    assert not AdGroup.objects.exists()


def test_a_bid_is_needed_for_manual_strategies(tenants, campaign):
    response = client_for(tenants.owner).post(new_url(campaign), form_data(bid=""))
    assert response.context["form"].errors["bid"] == ["Manual CPC needs a bid."]


def test_a_strategy_the_objective_does_not_allow_is_refused(tenants, campaign):
    response = client_for(tenants.owner).post(new_url(campaign), form_data(bid_strategy="target_cpa"))
    assert "bid_strategy" in response.context["form"].errors
    assert not AdGroup.objects.exists()


def test_a_tampered_placement_id_is_refused_and_changes_nothing(tenants, campaign, placements):
    inactive = placements[2]
    ad_group = AdGroupFactory(campaign=campaign, bid_strategy=BidStrategy.MANUAL_CPC, name="Kept")
    before = AdGroup.objects.get(pk=ad_group.pk).targeting
    for bad in (str(inactive.pk), "999999"):
        response = client_for(tenants.owner).post(edit_url(ad_group), form_data(placements_exclude=[bad]))
        assert response.status_code == 200
        assert response.context["form"].errors["placements_exclude"] == [f"Placement {bad} is not available."]
    ad_group.refresh_from_db()
    assert ad_group.targeting == before and ad_group.name == "Kept"


def test_a_taken_name_is_shown_next_to_the_name(tenants, campaign):
    AdGroupFactory(campaign=campaign, name="US runners", bid_strategy=BidStrategy.MANUAL_CPC)
    response = client_for(tenants.owner).post(new_url(campaign), form_data())
    assert response.status_code == 200
    assert response.context["form"].errors["name"] == [
        "An ad group with this name already exists in this campaign."
    ]


def test_an_archived_campaign_takes_no_new_ad_group(tenants, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.ARCHIVED)
    response = client_for(tenants.owner).post(new_url(campaign), form_data())
    assert response.status_code == 200
    assert "The campaign is archived." in response.context["form"].non_field_errors()
    assert not AdGroup.objects.exists()


def test_an_htmx_post_without_the_csrf_token_is_refused(tenants, campaign):
    client = Client(enforce_csrf_checks=True)
    client.force_login(tenants.owner)
    response = client.post(new_url(campaign), form_data(), headers={"HX-Request": "true"})
    assert response.status_code == 403
    assert not AdGroup.objects.exists()


# Live validation and estimate (htmx) -----------------------------------------------------------------


def test_live_validation_returns_the_estimate_and_field_errors(tenants, campaign, placements):
    client = client_for(tenants.owner)
    response = client.post(
        new_url(campaign),
        form_data(_live="1", _field="countries", countries=["US", "XX"], name=""),
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert 'id="estimate"' in html and "Fix the targeting errors" in html
    assert 'id="errors-countries" hx-swap-oob="true"><p class="field__error">' in html
    assert 'id="errors-name" hx-swap-oob="true"></div>' in html  # "required" waits for the name field
    assert not AdGroup.objects.exists()

    response = client.post(new_url(campaign), form_data(_live="1", _field="name", name=""))
    assert 'id="errors-name" hx-swap-oob="true"><p class="field__error">This field is required.' in (
        response.content.decode()
    )


def test_live_estimate_grows_with_countries(tenants, campaign, placements):
    client = client_for(tenants.owner)

    def audience(**overrides) -> int:
        response = client.post(new_url(campaign), form_data(_live="1", **overrides))
        return response.context["estimate"].audience_size

    assert audience(countries=["US", "CA", "GB"]) > audience(countries=["US"]) > 0


def test_the_draft_is_kept_when_the_user_leaves(tenants, campaign):
    client = client_for(tenants.owner)
    client.post(new_url(campaign) + "?wizard=1", form_data(_live="1", name="Half typed", countries=["FR"]))
    html = client.get(new_url(campaign) + "?wizard=1").content.decode()
    assert 'value="Half typed"' in html
    assert '<option value="FR" selected>' in html


# Status ------------------------------------------------------------------------------------------


def test_owner_pauses_and_archives_an_ad_group(tenants, campaign):
    ad_group = AdGroupFactory(campaign=campaign)
    url = reverse("ad_group_status", args=[campaign.advertiser_id, ad_group.pk])
    client = client_for(tenants.owner)
    assert client.post(url, {"action": "pause"}).status_code == 302
    ad_group.refresh_from_db()
    assert ad_group.status == AdGroup.Status.PAUSED
    client.post(url, {"action": "archive"})
    response = client.post(url, {"action": "activate"}, follow=True)
    ad_group.refresh_from_db()
    assert ad_group.status == AdGroup.Status.ARCHIVED
    assert "cannot be activated" in response.content.decode()


# The estimate --------------------------------------------------------------------------------------


def test_estimate_is_deterministic_and_follows_the_targeting(campaign, placements):
    news, sports, closed = placements
    everyone = estimate(Targeting(), campaign)
    assert everyone.daily_requests == 150_000  # the inactive placement's traffic is not counted
    assert everyone == estimate(Targeting(), campaign)
    us = estimate(Targeting(countries=["US"]), campaign)
    us_ca = estimate(Targeting(countries=["US", "CA"]), campaign)
    assert 0 < us.audience_size < us_ca.audience_size < everyone.audience_size
    excluded = estimate(Targeting(countries=["US"], placements_exclude=[sports.pk]), campaign)
    assert excluded.daily_requests < us.daily_requests
    only_news = estimate(Targeting(placements_include=[news.pk]), campaign)
    assert only_news.daily_requests == 100_000
    assert estimate(Targeting(placements_include=[closed.pk]), campaign).daily_requests == 0
    half_week = [[hour < 12 for hour in range(24)] for _ in range(7)]
    assert estimate(Targeting(dayparting=half_week), campaign).daily_requests == 75_000
    assert estimate(Targeting(), campaign, formats=["video"]).daily_requests == 0
    narrow = estimate(Targeting(countries=["US"], genders=["female"], device_types=["mobile"]), campaign)
    assert narrow.daily_impressions < narrow.daily_requests


def test_regions_are_typed_one_per_line_and_checked_by_the_targeting_rules(tenants):
    from campaigns.models import AdGroup as AdGroupModel
    from tests.conftest import client_for
    from tests.factories import CampaignFactory

    campaign = CampaignFactory(advertiser=tenants.advertiser, objective="traffic")
    url = f"/a/{tenants.advertiser.pk}/campaigns/{campaign.pk}/ad-groups/new/"
    data = {
        "name": "Californians",
        "bid_strategy": "manual_cpc",
        "bid": "0.50",
        "countries": ["US"],
        "regions": "us-ca\nXX-99",
        "schedule": "always",
    }
    client = client_for(tenants.owner)

    refused = client.post(url, data)
    assert "Line 2:" in refused.content.decode()
    assert "us-ca" in refused.content.decode()  # what was typed stays
    assert not AdGroupModel.objects.filter(campaign=campaign).exists()

    data["regions"] = "us-ca\nUS-NY"
    client.post(url, data)
    ad_group = AdGroupModel.objects.get(campaign=campaign)
    assert ad_group.targeting["regions"] == ["US-CA", "US-NY"]
    edit = client.get(f"/a/{tenants.advertiser.pk}/ad-groups/{ad_group.pk}/").content.decode()
    assert "US-CA\nUS-NY" in edit
