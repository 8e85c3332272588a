"""Money in the Ads Manager, the API and the admin: spend from the ledger (net of credits, on the
advertiser's days), the budget left, credits, pacing and the budget states of delivery, tried by the
owner, the analyst (read only) and an outsider.

The clock is frozen at 22:30 in New York (the advertiser's time zone), when it is already the next
day in UTC: "today" must be the advertiser's day, not the server's.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Advertiser, Role, User
from campaigns.charts import hours_into, pacing_chart, plan_at
from campaigns.models import Campaign, CampaignDay, Conversion, DeliveryState, LedgerEntry
from campaigns.models.campaign import held_back, recent_days_prefetch
from reporting import rollup
from tests.campaigns.test_api_campaigns import Callers, key_caller, make_callers
from tests.conftest import Tenants, client_for
from tests.factories import (
    AdvertiserFactory,
    ConversionEventFactory,
    MembershipFactory,
    UserFactory,
    servable_campaign,
)

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime(2025, 6, 11, 2, 30, tzinfo=UTC)  # 22:30 on 10 June in New York
TODAY = date(2025, 6, 10)  # the advertiser's
YESTERDAY = TODAY - timedelta(days=1)
USD = 1_000_000


@pytest.fixture(autouse=True)
def frozen() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def owner(tenants: Tenants) -> Client:
    return client_for(tenants.owner)


@pytest.fixture
def analyst(tenants: Tenants) -> Client:
    return client_for(tenants.analyst)


@pytest.fixture
def outsider(tenants: Tenants) -> Client:
    return client_for(tenants.outsider)


def url(name: str, advertiser: Advertiser, *args: Any) -> str:
    return reverse(name, args=[advertiser.pk, *args])


def delivering(advertiser: Advertiser, **fields: Any) -> Campaign:
    campaign = servable_campaign(advertiser=advertiser, starts_at=NOW - timedelta(days=30), **fields)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.ACTIVE)
    campaign.refresh_from_db()
    return campaign


def entry(campaign: Campaign, micros: int, at: datetime, *, credit: str = "") -> LedgerEntry:
    """A charge (an impression) at `at`, or a credit with the given reason, on the advertiser's day."""
    advertiser = campaign.advertiser
    return LedgerEntry.objects.create(
        event_id=uuid.uuid4(),
        kind=LedgerEntry.Kind.CREDIT if credit else LedgerEntry.Kind.CHARGE,
        reason=credit or LedgerEntry.Reason.IMPRESSION,
        advertiser=advertiser,
        campaign=campaign,
        ad_group_id=None if credit else 1,
        amount_micros=micros,
        currency=advertiser.currency,
        day=at.astimezone(advertiser.tz).date(),
        at=at,
    )


def budget_day(campaign: Campaign, day: date = TODAY, **fields: Any) -> CampaignDay:
    values: dict[str, Any] = {
        "cap_micros": campaign.budget_micros,
        "budget_micros": 40 * USD,
        "spent_micros": 30 * USD,
        "planned_micros": 37 * USD,
        "rate": 1.0,
        # Cumulative at each hour's end: 1 an hour planned; the last spent value is 22:30's.
        "hourly_plan": [(h + 1) * 40 * USD // 24 for h in range(24)],
        "hourly_spent": [min(h * 1_400_000, 30 * USD) for h in range(1, 24)],
    }
    return CampaignDay.objects.create(campaign=campaign, day=day, **(values | fields))


def spend_world(advertiser: Advertiser) -> Campaign:
    """Charges and credits around the advertiser's midnight: today's net is $15.15, the last 7 days'
    $35.75, the last 30 days' $42.75."""
    campaign = delivering(advertiser, name="Spring sale")
    entry(campaign, 12_500_000, NOW - timedelta(hours=1))  # 21:30 today
    entry(campaign, 3_250_000, NOW - timedelta(hours=5))  # 17:30 today
    entry(campaign, 400_000, datetime(2025, 6, 10, 4, 0, tzinfo=UTC))  # midnight exactly: today
    entry(campaign, 600_000, datetime(2025, 6, 10, 3, 59, 59, tzinfo=UTC))  # 23:59:59 yesterday
    entry(campaign, 1_000_000, NOW - timedelta(minutes=5), credit=LedgerEntry.Reason.OVER_DAILY_BUDGET)
    entry(campaign, 20_000_000, NOW - timedelta(days=1))  # yesterday
    entry(campaign, 7_000_000, NOW - timedelta(days=10))  # before the last 7 days
    rollup.roll_up()  # the list reads the reports' rollups
    return campaign


def row_html(html: str, campaign: Campaign) -> str:
    match = re.search(rf'<tr id="campaign-{campaign.pk}".*?</tr>', html, re.S)
    assert match, f"no row for {campaign}"
    return match.group(0)


def money_cells(row: str) -> list[str]:
    return re.findall(r'<span class="money">([^<]*)</span>', row)


# The campaigns list -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("range_", "spend"), [("today", "$15.15"), ("7d", "$35.75"), ("30d", "$42.75"), ("yesterday", "$20.60")]
)
def test_list_shows_the_ledgers_net_spend_on_the_advertisers_days(
    tenants: Tenants, owner: Client, range_: str, spend: str
) -> None:
    campaign = spend_world(tenants.advertiser)
    idle = delivering(tenants.advertiser, name="Idle")
    theirs = delivering(tenants.other_advertiser)
    entry(theirs, 99 * USD, NOW - timedelta(hours=1))

    html = owner.get(url("campaign_list", tenants.advertiser) + f"?range={range_}").content.decode()

    # Budget, spend today, spend in the range.
    assert money_cells(row_html(html, campaign)) == ["$50.00", "$15.15", spend]
    assert money_cells(row_html(html, idle)) == ["$50.00", "$0.00", "$0.00"]
    assert "$99.00" not in html
    assert "No delivery yet" not in html
    assert "net of credits" in html


def test_conversions_and_cpa_count_the_ranges_days(tenants: Tenants, owner: Client) -> None:
    campaign = spend_world(tenants.advertiser)
    event = ConversionEventFactory.create(advertiser=tenants.advertiser)

    def convert(at: datetime, *, attributed: bool = True) -> None:
        Conversion.objects.create(
            advertiser=tenants.advertiser, conversion_event=event, event_id=uuid.uuid4().hex, occurred_at=at,
            currency="USD", source="postback", attribution="click" if attributed else "none",
            attributed_event_id=uuid.uuid4() if attributed else None,
            campaign=campaign if attributed else None, touch_at=at if attributed else None,
        )  # fmt: skip

    convert(NOW - timedelta(hours=1))
    convert(datetime(2025, 6, 4, 4, 0, tzinfo=UTC))  # midnight starting 4 June in New York: in
    convert(datetime(2025, 6, 4, 3, 59, 59, tzinfo=UTC))  # 23:59:59 on 3 June: before the 7 days
    convert(NOW - timedelta(hours=2), attributed=False)  # not attributed: not counted
    rollup.roll_up()

    html = owner.get(url("campaign_list", tenants.advertiser)).content.decode()
    row = row_html(html, campaign)

    assert '<td class="num">2</td>' in row
    assert '<td class="num">$17.88</td>' in row  # $35.75 over 2 conversions
    assert html.split("<tfoot>")[1].count('<td class="num">$17.88</td>') == 1  # the total's CPA


def test_overview_counts_a_limited_campaign_as_delivering_and_worth_a_look(
    tenants: Tenants, owner: Client
) -> None:
    budget_day(delivering(tenants.advertiser, name="Paced"), rate=0.5)
    budget_day(delivering(tenants.advertiser, name="Spent"), stopped=True)
    html = owner.get(url("account_overview", tenants.advertiser)).content.decode()
    assert "<strong>1</strong> of 2 campaigns delivering." in html
    attention = html.split("Needs your attention")[1]
    assert "Paced" in attention and "Limited by budget" in attention
    assert "Spent" in attention and "Daily budget spent" in attention


def test_overview_totals_the_spend(tenants: Tenants, owner: Client) -> None:
    spend_world(tenants.advertiser)
    html = owner.get(url("account_overview", tenants.advertiser)).content.decode()
    assert "<dt>Spend</dt><dd>$35.75</dd>" in html
    assert "No delivery yet" not in html


def test_sorting_by_spend(tenants: Tenants, owner: Client) -> None:
    big, small, none = (delivering(tenants.advertiser, name=name) for name in ("Big", "Small", "None"))
    entry(big, 9 * USD, NOW - timedelta(days=2))
    entry(small, 2 * USD, NOW - timedelta(hours=1))
    entry(small, 1 * USD, NOW - timedelta(days=2))
    rollup.roll_up()

    def order(sort: str) -> list[str]:
        html = owner.get(url("campaign_list", tenants.advertiser) + f"?sort={sort}").content.decode()
        return [c.name for c in sorted((big, small, none), key=lambda c: html.index(f'id="campaign-{c.pk}"'))]

    assert order("-spend") == ["Big", "Small", "None"]
    assert order("spend") == ["None", "Small", "Big"]
    assert order("-spend_today")[0] == "Small"


def test_extreme_custom_ranges_still_answer(tenants: Tenants, owner: Client) -> None:
    spend_world(tenants.advertiser)
    for start, end in (
        ("0001-01-01", "9999-12-31"),
        ("9999-12-31", "9999-12-31"),
        ("0001-01-01", "0001-01-01"),
    ):
        query = f"?range=custom&start={start}&end={end}&sort=-cpa"
        assert owner.get(url("campaign_list", tenants.advertiser) + query).status_code == 200


def test_list_query_count_stays_bounded_for_20_campaigns(
    tenants: Tenants, owner: Client, django_assert_num_queries: Any
) -> None:
    def make(n: int) -> None:
        for i in range(n):
            campaign = delivering(tenants.advertiser)
            entry(campaign, USD, NOW - timedelta(hours=1))
            entry(campaign, 2 * USD, NOW - timedelta(days=2))
            entry(campaign, 300_000, NOW, credit=LedgerEntry.Reason.OVER_DAILY_BUDGET)
            budget_day(campaign, rate=0.5 if i % 2 else 1.0, stopped=i % 3 == 0)
        rollup.roll_up()

    sorts = ("name", "-spend", "delivery", "-spend_today")
    paths = {sort: url("campaign_list", tenants.advertiser) + f"?sort={sort}" for sort in sorts}
    make(2)
    owner.get(paths["name"])
    few = {}
    for sort, path in paths.items():
        with CaptureQueriesContext(connection) as queries:
            owner.get(path)
        few[sort] = len(queries)
    make(18)
    for sort, path in paths.items():
        with django_assert_num_queries(few[sort]):
            html = owner.get(path).content.decode()
        assert html.count('name="campaigns"') == 20
        assert html.count("$0.70</span>") == 20  # spend today: $1.00 charged, $0.30 credited
        assert html.count("$2.70</span>") == 20  # the last 7 days


# Delivery states ----------------------------------------------------------------------------------


def test_delivery_says_limited_by_budget_when_pacing_holds_back(tenants: Tenants, owner: Client) -> None:
    limited = delivering(tenants.advertiser, name="Limited")
    budget_day(limited, rate=0.62)
    free = delivering(tenants.advertiser, name="Free")
    budget_day(free, rate=1.0)
    spent = delivering(tenants.advertiser, name="Spent")
    budget_day(spent, stopped=True, rate=0.0)
    stopped_yesterday = delivering(tenants.advertiser, name="Stopped yesterday")
    budget_day(stopped_yesterday, day=YESTERDAY, stopped=True, rate=0.0)
    fresh = delivering(tenants.advertiser, name="Fresh")  # no budget day yet

    html = owner.get(url("campaign_list", tenants.advertiser)).content.decode()

    assert "Limited by budget" in row_html(html, limited)
    assert "Pacing is holding back 38% of the auctions it could enter" in row_html(html, limited)
    assert "Budget spent" in row_html(html, spent)
    assert "Daily budget spent: delivery resumes at midnight (America/New_York)." in row_html(html, spent)
    states = {
        c.name: re.findall(r"delivery--(\w+)", row_html(html, c)) for c in (free, stopped_yesterday, fresh)
    }
    assert states == {"Free": ["delivering"], "Stopped yesterday": ["delivering"], "Fresh": ["delivering"]}


def test_budget_states_of_the_model() -> None:
    advertiser = AdvertiserFactory.create(time_zone="America/New_York")
    campaign = delivering(advertiser)
    assert campaign.delivery().state == DeliveryState.DELIVERING

    day = budget_day(campaign, rate=0.995)
    delivery = campaign.delivery()
    assert (delivery.state, delivery.is_delivering) == (DeliveryState.LIMITED_BY_BUDGET, True)
    assert "less than 1%" in delivery.reason

    CampaignDay.objects.filter(pk=day.pk).update(rate=0.0)
    assert campaign.delivery().reason.startswith("Ahead of today's plan: pacing holds back every auction")

    CampaignDay.objects.filter(pk=day.pk).update(stopped=True)
    delivery = campaign.delivery()
    assert (delivery.state, delivery.is_delivering) == (DeliveryState.BUDGET_SPENT, False)

    Campaign.objects.filter(pk=campaign.pk).update(
        budget_type=Campaign.BudgetType.LIFETIME, ends_at=NOW + timedelta(days=3)
    )
    campaign.refresh_from_db()
    assert campaign.delivery().reason == "Lifetime budget spent: raise the budget to deliver again."

    # Accelerated pacing always bids: a rate below 1 is not a limit on it.
    Campaign.objects.filter(pk=campaign.pk).update(pacing=Campaign.Pacing.ACCELERATED)
    CampaignDay.objects.filter(pk=day.pk).update(stopped=False, rate=0.5)
    campaign.refresh_from_db()
    assert campaign.delivery().state == DeliveryState.DELIVERING

    # Paused wins over the budget: the budget is only read for a campaign that may serve.
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.PAUSED)
    campaign.refresh_from_db()
    assert campaign.delivery().state == DeliveryState.PAUSED


def test_the_budget_day_is_the_advertisers_today(django_assert_num_queries: Any) -> None:
    """At 02:30 UTC on 11 June it is 10 June in New York and 11 June in Tokyo: each campaign reads its
    advertiser's day, from one prefetch query for the whole list."""
    tokyo = AdvertiserFactory.create(time_zone="Asia/Tokyo")
    new_york = AdvertiserFactory.create(time_zone="America/New_York")
    in_tokyo, in_new_york = delivering(tokyo), delivering(new_york)
    budget_day(in_tokyo, day=TODAY, stopped=True)  # yesterday in Tokyo: not today's
    budget_day(in_tokyo, day=TODAY + timedelta(days=1), rate=0.5)
    budget_day(in_new_york, day=TODAY, stopped=True)
    budget_day(in_new_york, day=TODAY + timedelta(days=1), rate=0.5)  # not yet in New York

    campaigns = list(
        Campaign.objects.filter(pk__in=[in_tokyo.pk, in_new_york.pk])
        .select_related("advertiser")
        .prefetch_related("ad_groups__creatives", recent_days_prefetch())
    )
    with django_assert_num_queries(0):
        states = {c.pk: c.delivery().state for c in campaigns}
    assert states == {
        in_tokyo.pk: DeliveryState.LIMITED_BY_BUDGET,
        in_new_york.pk: DeliveryState.BUDGET_SPENT,
    }


def test_held_back_in_words() -> None:
    assert [held_back(rate) for rate in (1.0, 0.999, 0.62, 0.125, 0.0)] == [
        "0%",
        "less than 1%",
        "38%",
        "88%",
        "100%",
    ]


def test_home_page_reads_the_budget_days_without_a_query_per_campaign(
    tenants: Tenants, django_assert_max_num_queries: Any
) -> None:
    client = client_for(tenants.owner)
    budget_day(delivering(tenants.advertiser), rate=0.5)
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("home"))
    for _ in range(5):
        budget_day(delivering(tenants.advertiser), rate=0.5)
    with django_assert_max_num_queries(len(one)):
        html = client.get(reverse("home")).content.decode()
    assert html.count("Limited by budget") == 6


# The campaign page's budget panel -----------------------------------------------------------------


def panel_of(html: str) -> str:
    match = re.search(r'<section class="card budget-panel".*?</section>', html, re.S)
    assert match, "no budget panel"
    return re.sub(r"\s+", " ", match.group(0))


def test_budget_panel_of_a_daily_budget(tenants: Tenants, owner: Client) -> None:
    campaign = spend_world(tenants.advertiser)
    entry(campaign, 250_000, NOW - timedelta(days=3), credit=LedgerEntry.Reason.OVER_DAILY_BUDGET)
    budget_day(campaign, rate=0.62)

    response = owner.get(url("campaign_detail", tenants.advertiser, campaign.pk))

    assert response.status_code == 200
    panel = panel_of(response.content.decode())
    assert (
        '<strong class="money">$15.15</strong> spent today of <span class="money">$50.00</span> daily budget'
        in panel
    )
    assert "(30%)" in panel
    assert '<dt>Remaining today</dt><dd class="money">$34.85</dd>' in panel
    assert '<dt>Spent in all</dt><dd class="money">$42.50</dd>' in panel  # $42.75 less $0.25 credited
    # Credits: the total and each entry, latest first.
    assert (
        'Credited: <span class="money">$1.25</span></strong> — spend over your budget is never charged.'
        in panel
    )
    credits = re.findall(
        r'<time datetime="([\d-]+)">[^<]*</time></td><td>([^<]*)</td>'
        r'<td class="num"><span class="money">([^<]*)</span>',
        panel,
    )
    assert credits == [
        ("2025-06-10", "Spent over the daily budget", "$1.00"),
        ("2025-06-07", "Spent over the daily budget", "$0.25"),
    ]
    # Pacing: the figures, the state, the chart and its table.
    assert '<dt>Planned by now</dt><dd class="money">$37.00</dd>' in panel
    assert '<dt>Spent by now</dt><dd class="money">$30.00</dd>' in panel
    assert "62% of auctions" in panel
    assert "Limited by budget" in panel
    assert "Pacing is holding back 38% of the auctions it could enter" in panel
    assert '<svg class="pacing-chart__svg"' in panel
    assert 'role="img"' in panel and '<title id="pacing-chart-title">' in panel
    assert "By 22:30, $30.00 spent against $37.50 planned, of a $40.00 day budget." in panel
    assert 'class="pacing-chart__plan" points="48.0,180.0 ' in panel
    assert panel.count('<th scope="row">') == 24
    assert "22:00\N{EN DASH}23:00" in panel and "so far" in panel
    assert "No spend yet today" not in panel


def test_budget_panel_of_a_lifetime_budget(tenants: Tenants, owner: Client) -> None:
    campaign = spend_world(tenants.advertiser)
    Campaign.objects.filter(pk=campaign.pk).update(
        budget_type=Campaign.BudgetType.LIFETIME, budget_micros=100 * USD, ends_at=NOW + timedelta(days=5)
    )
    budget_day(campaign, budget_micros=9 * USD, stopped=True, rate=0.0)

    panel = panel_of(owner.get(url("campaign_detail", tenants.advertiser, campaign.pk)).content.decode())

    assert (
        '<strong class="money">$42.75</strong> spent of <span class="money">$100.00</span> lifetime budget'
        in panel
    )
    assert '<dt>Remaining</dt><dd class="money">$57.25</dd>' in panel
    assert '<dt>Spent today</dt><dd class="money">$15.15</dd>' in panel
    assert """<dt>Today's share</dt><dd class="money">$9.00</dd>""" in panel
    assert "Budget spent" in panel
    assert "Lifetime budget spent" in panel


def test_remaining_budget_is_never_below_zero(tenants: Tenants, owner: Client) -> None:
    campaign = delivering(tenants.advertiser, budget_micros=10 * USD)
    entry(campaign, 12 * USD, NOW - timedelta(hours=2))
    panel = panel_of(owner.get(url("campaign_detail", tenants.advertiser, campaign.pk)).content.decode())
    assert '<dt>Remaining today</dt><dd class="money">$0.00</dd>' in panel
    assert "(100%)" in panel
    assert "budget-meter__fill--full" in panel


def test_budget_panel_before_pacing_has_run_today(tenants: Tenants, owner: Client) -> None:
    campaign = delivering(tenants.advertiser)
    budget_day(campaign, day=YESTERDAY, rate=0.3)
    panel = panel_of(owner.get(url("campaign_detail", tenants.advertiser, campaign.pk)).content.decode())
    assert "No spend yet today: pacing starts with the first auction." in panel
    assert '<svg class="pacing-chart__svg"' not in panel
    assert "$0.00</strong> spent today" in panel
    assert "Credited" not in panel


def test_a_day_whose_cap_was_recorded_but_not_yet_paced_is_not_pacing(
    tenants: Tenants, owner: Client, callers: Callers
) -> None:
    """Saving a budget records the day's cap (delivery.budget.record_cap) before pacing runs."""
    campaign = delivering(tenants.advertiser)
    budget_day(
        campaign, budget_micros=campaign.budget_micros, spent_micros=0, planned_micros=0, hourly_plan=[],
        hourly_spent=[],
    )  # fmt: skip
    panel = panel_of(owner.get(url("campaign_detail", tenants.advertiser, campaign.pk)).content.decode())
    assert "No spend yet today: pacing starts with the first auction." in panel
    body = callers.owner.get(f"/api/v1/campaigns/{campaign.pk}").json()
    assert body["pacing_today"] is None
    assert body["delivery"]["state"] == "delivering"


def test_the_panel_says_so_when_the_daily_budget_was_lowered_today(tenants: Tenants, owner: Client) -> None:
    campaign = delivering(tenants.advertiser, budget_micros=20 * USD)
    budget_day(campaign, cap_micros=50 * USD)
    panel = panel_of(owner.get(url("campaign_detail", tenants.advertiser, campaign.pk)).content.decode())
    assert "The daily budget was lowered today from $50.00" in panel


def test_analyst_sees_the_panel_without_edit_controls_and_outsider_gets_404(
    tenants: Tenants, analyst: Client, outsider: Client
) -> None:
    campaign = spend_world(tenants.advertiser)
    budget_day(campaign, rate=0.62)
    response = analyst.get(url("campaign_detail", tenants.advertiser, campaign.pk))
    assert response.status_code == 200
    html = response.content.decode()
    panel = panel_of(html)
    assert "$15.15" in panel and "Credited" in panel and "pacing-chart__svg" in panel
    assert "<form" not in panel and "<button" not in panel
    assert "Save changes" not in html
    assert outsider.get(url("campaign_detail", tenants.advertiser, campaign.pk)).status_code == 404
    for name in ("campaign_list", "account_overview"):
        assert outsider.get(url(name, tenants.advertiser)).status_code == 404


def test_campaign_page_query_count_does_not_grow_with_credits_or_ad_groups(
    tenants: Tenants, owner: Client, django_assert_max_num_queries: Any
) -> None:
    campaign = spend_world(tenants.advertiser)
    budget_day(campaign, rate=0.62)
    path = url("campaign_detail", tenants.advertiser, campaign.pk)
    owner.get(path)
    with CaptureQueriesContext(connection) as one:
        owner.get(path)
    for day in range(30):
        entry(campaign, 10_000, NOW - timedelta(days=day), credit=LedgerEntry.Reason.OVER_DAILY_BUDGET)
    with django_assert_max_num_queries(len(one)):
        html = owner.get(path).content.decode()
    assert "The latest 10 credits" in html


# The chart's geometry -----------------------------------------------------------------------------


def test_the_pacing_chart_draws_cumulative_plan_and_spend() -> None:
    campaign = delivering(AdvertiserFactory.create(time_zone="America/New_York"))
    day = budget_day(campaign)
    chart = pacing_chart(day, "USD", NEW_YORK, now=NOW)

    plan = chart.plan_points.split()
    spent = chart.spent_points.split()
    assert (len(plan), len(spent)) == (25, 24)  # midnight, then each hour's end (the last: 22:30)
    assert plan[0] == spent[0] == f"{chart.box.left}.0,{chart.box.bottom}.0"
    assert plan[-1] == f"{chart.box.right}.0,{chart.box.top}.0"  # the whole day budget at 24:00
    x_last = chart.box.left + (chart.box.right - chart.box.left) * 22.5 / 24
    assert spent[-1].startswith(f"{round(x_last, 1)},")
    assert chart.spent_end is not None and chart.now_x == round(x_last, 1)
    assert [tick.label for tick in chart.y_ticks] == ["$0", "$20", "$40"]
    assert [tick.label for tick in chart.x_ticks] == ["00:00", "06:00", "12:00", "18:00", "24:00"]
    assert [(row.hours, row.spent, row.so_far) for row in chart.rows[21:]] == [
        ("21:00\N{EN DASH}22:00", "$30.00", False),
        ("22:00\N{EN DASH}23:00", "$30.00", True),
        ("23:00\N{EN DASH}24:00", "", False),
    ]


def test_the_chart_reads_the_local_clock_on_a_summer_time_day() -> None:
    campaign = delivering(AdvertiserFactory.create(time_zone="America/New_York"))
    day = budget_day(campaign, day=date(2025, 3, 9))  # clocks went forward at 02:00: a 23-hour day
    assert hours_into(day, datetime(2025, 3, 9, 10, 30, tzinfo=NEW_YORK), NEW_YORK) == 10.5
    assert hours_into(day, datetime(2025, 3, 10, 1, 0, tzinfo=NEW_YORK), NEW_YORK) == 24
    assert hours_into(day, datetime(2025, 3, 8, 23, 0, tzinfo=NEW_YORK), NEW_YORK) == 0
    # Another day's chart has no "now".
    assert pacing_chart(day, "USD", NEW_YORK, now=NOW).now_x is None


def test_an_empty_day_draws_no_lines() -> None:
    campaign = delivering(AdvertiserFactory.create())
    day = budget_day(campaign, budget_micros=0, hourly_plan=[], hourly_spent=[])
    chart = pacing_chart(day, "USD", NEW_YORK, now=None)
    assert (chart.plan_points, chart.spent_points, chart.spent_end, chart.now_x) == ("", "", None, None)
    assert {row.planned for row in chart.rows} == {"—"}


def test_plan_at_is_linear_within_the_hour() -> None:
    plan = [10, 30, 60]
    assert [plan_at(plan, hours) for hours in (0, 0.5, 1, 1.5, 2.25, 3, 9)] == [0, 5, 10, 20, 37, 60, 60]
    assert plan_at([], 5) == 0


# The API ------------------------------------------------------------------------------------------


@pytest.fixture
def callers(tenants: Tenants, redis_client: Any) -> Callers:
    return make_callers(tenants)


def test_api_spend_fields(callers: Callers) -> None:
    campaign = spend_world(callers.advertiser)
    budget_day(campaign, rate=0.62)

    for caller in (callers.owner, callers.analyst, callers.owner_session):
        body = caller.get(f"/api/v1/campaigns/{campaign.pk}").json()
        assert body["spend_today_micros"] == 15_150_000
        assert body["spend_total_micros"] == 42_750_000
        assert body["credited_micros"] == 1_000_000
        assert body["remaining_budget_micros"] == 50 * USD - 15_150_000
        assert body["pacing_today"] == {
            "day": "2025-06-10",
            "rate": 0.62,
            "planned_micros": 37 * USD,
            "spent_micros": 30 * USD,
            "stopped": False,
        }
        assert body["pacing"] == "standard"  # the setting, unchanged
        assert body["delivery"]["state"] == "limited_by_budget"

    response = callers.outsider.get(f"/api/v1/campaigns/{campaign.pk}")
    assert response.status_code == 404


def test_api_spend_of_a_lifetime_budget_and_of_a_new_campaign(callers: Callers) -> None:
    campaign = spend_world(callers.advertiser)
    Campaign.objects.filter(pk=campaign.pk).update(
        budget_type=Campaign.BudgetType.LIFETIME, budget_micros=40 * USD, ends_at=NOW + timedelta(days=5)
    )
    body = callers.owner.get(f"/api/v1/campaigns/{campaign.pk}").json()
    assert body["remaining_budget_micros"] == 0  # 42.75 spent of 40: never below 0
    assert body["pacing_today"] is None

    created = callers.owner.post(
        "/api/v1/campaigns",
        {
            "advertiser": callers.advertiser.pk,
            "name": "New",
            "objective": "traffic",
            "budget_micros": 5 * USD,
        },
    ).json()
    assert (created["spend_today_micros"], created["spend_total_micros"], created["credited_micros"]) == (
        0,
        0,
        0,
    )
    assert created["remaining_budget_micros"] == 5 * USD


def test_api_list_reads_spend_without_a_query_per_campaign(
    callers: Callers, django_assert_num_queries: Any
) -> None:
    def add() -> Campaign:
        campaign = delivering(callers.advertiser)
        entry(campaign, USD, NOW - timedelta(hours=1))
        entry(campaign, 200_000, NOW, credit=LedgerEntry.Reason.OVER_DAILY_BUDGET)
        budget_day(campaign, rate=0.5)
        return campaign

    add()
    callers.owner.get("/api/v1/campaigns")  # the key's last_used_at is written on its first call only
    with CaptureQueriesContext(connection) as one:
        callers.owner.get("/api/v1/campaigns")
    for _ in range(9):
        add()
    with django_assert_num_queries(len(one)):
        rows = callers.owner.get("/api/v1/campaigns").json()["results"]
    assert len(rows) == 10
    assert {row["spend_today_micros"] for row in rows} == {800_000}
    assert {row["pacing_today"]["rate"] for row in rows} == {0.5}


def test_api_list_across_time_zones_uses_each_advertisers_today(tenants: Tenants, redis_client: Any) -> None:
    """An agency key sees accounts in New York and Tokyo: each one's "today" is its own."""
    tokyo = AdvertiserFactory.create(agency=tenants.advertiser.agency, time_zone="Asia/Tokyo", currency="JPY")
    in_tokyo, in_new_york = delivering(tokyo), delivering(tenants.advertiser)
    for campaign in (in_tokyo, in_new_york):
        entry(campaign, 5 * USD, NOW - timedelta(hours=1))  # today in both: 11 June in Tokyo, 10 in New York
        entry(campaign, 7 * USD, datetime(2025, 6, 10, 10, tzinfo=UTC))  # 10 June in both: today in New York
    caller = key_caller(agency=tenants.advertiser.agency)
    rows = {row["id"]: row for row in caller.get("/api/v1/campaigns").json()["results"]}
    assert rows[in_tokyo.pk]["spend_today_micros"] == 5 * USD
    assert rows[in_new_york.pk]["spend_today_micros"] == 12 * USD


# The admin ----------------------------------------------------------------------------------------


@pytest.fixture
def staff(db: None) -> Client:
    user: User = UserFactory.create(email="support@adwright.test", is_staff=True, is_superuser=True)
    return client_for(user)


def test_ledger_admin_is_read_only(tenants: Tenants, staff: Client) -> None:
    campaign = spend_world(tenants.advertiser)
    charge = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE).first()
    assert charge is not None
    changelist = reverse("admin:campaigns_ledgerentry_changelist")

    html = staff.get(changelist).content.decode()
    assert "$12.50" in html and "Spring sale" in html and str(charge.event_id) in html
    for query in (
        f"?q={charge.event_id}",
        "?q=spring",
        "?q=not-a-uuid",
        "?kind__exact=credit",
        "?day__gte=2025-06-10",
    ):
        assert staff.get(changelist + query).status_code == 200, query
    assert str(charge.event_id) in staff.get(changelist + f"?q={charge.event_id}").content.decode()
    assert (
        staff.get(changelist + "?kind__exact=credit").content.decode().count("Spent over the daily budget")
        >= 1
    )

    change = reverse("admin:campaigns_ledgerentry_change", args=[charge.pk])
    page = staff.get(change)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert staff.post(change, {"amount_micros": 1}).status_code == 403
    assert staff.get(reverse("admin:campaigns_ledgerentry_add")).status_code == 403
    assert (
        staff.post(
            reverse("admin:campaigns_ledgerentry_delete", args=[charge.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    charge.refresh_from_db()
    assert charge.amount_micros == 12_500_000
    assert LedgerEntry.objects.filter(campaign=campaign).count() == 7


def test_campaign_day_admin_is_read_only(tenants: Tenants, staff: Client) -> None:
    campaign = delivering(tenants.advertiser, name="Paced")
    day = budget_day(campaign, rate=0.62, stopped=True)
    changelist = reverse("admin:campaigns_campaignday_changelist")
    html = staff.get(changelist).content.decode()
    assert "Paced" in html and "$40.00" in html and "$37.00" in html and "62.0%" in html
    assert staff.get(changelist + "?q=paced&stopped__exact=1").status_code == 200
    assert staff.get(reverse("admin:campaigns_campaignday_add")).status_code == 403
    page = staff.get(reverse("admin:campaigns_campaignday_change", args=[day.pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()


def test_money_admins_are_for_staff_only(tenants: Tenants) -> None:
    for name in ("ledgerentry", "campaignday"):
        response = client_for(tenants.owner).get(reverse(f"admin:campaigns_{name}_changelist"))
        assert response.status_code == 302


def test_money_admin_lists_take_the_same_queries_for_more_rows(tenants: Tenants, staff: Client) -> None:
    from tests.admin_helpers import changelist_queries

    def add() -> None:
        campaign = delivering(AdvertiserFactory.create())
        entry(campaign, USD, NOW)
        budget_day(campaign)

    add()
    before = {
        name: changelist_queries(staff, reverse(f"admin:campaigns_{name}_changelist"))
        for name in ("ledgerentry", "campaignday", "campaign")
    }
    for _ in range(4):
        add()
    after = {
        name: changelist_queries(staff, reverse(f"admin:campaigns_{name}_changelist"))
        for name in ("ledgerentry", "campaignday", "campaign")
    }
    assert after == before


def test_a_member_of_two_accounts_sees_each_ones_money_only(tenants: Tenants) -> None:
    other = AdvertiserFactory.create(name="Second")
    MembershipFactory.create(user=tenants.analyst, advertiser=other, role=Role.ANALYST)
    mine = spend_world(tenants.advertiser)
    theirs = delivering(other, name="Other spring")
    entry(theirs, 77 * USD, NOW - timedelta(hours=1))
    client = client_for(tenants.analyst)
    html = client.get(url("campaign_list", tenants.advertiser)).content.decode()
    assert "$77.00" not in html and "$15.15" in html
    # Another account's campaign under this account's URL: 404.
    assert client.get(url("campaign_detail", tenants.advertiser, theirs.pk)).status_code == 404
    assert client.get(url("campaign_detail", other, mine.pk)).status_code == 404
