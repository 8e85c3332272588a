"""The Ads Manager's campaigns list and an htmx inline budget edit, in an account of 500 campaigns,
1,500 ad groups and 5,000 creatives: server time (in-process, through the whole middleware stack,
as a logged-in admin), against the same rows read with .values() and rendered bare, measured side
by side. The issue's bound is 150 ms each."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection
from django.template import engines
from django.test import Client
from django.test.utils import override_settings

from accounts.models import Advertiser, Agency, Membership, Role, User
from bench.data import fill
from bench.results import Figure, expect, median_seconds
from campaigns.models import AdGroup, Campaign, Creative

CAMPAIGNS, AD_GROUPS_PER_CAMPAIGN = 500, 3  # 1,500 ad groups
CREATIVES_PER_AD_GROUP = (4, 3, 3)  # 10 a campaign: 5,000 creatives
REPEAT = 15
TARGET_MS = 150

BARE = engines["django"].from_string(
    "<table>{% for row in rows %}<tr><td>{{ row.name }}</td><td>{{ row.status }}</td>"
    "<td>{{ row.budget_micros }}</td><td>{{ row.objective }}</td></tr>{% endfor %}</table>"
)


def build() -> tuple[Advertiser, User]:
    agency = Agency.objects.create(name="Ads Manager agency", slug="ads-manager-agency")
    advertiser = Advertiser.objects.create(agency=agency, name="Ads Manager", currency="USD", time_zone="UTC")
    user = User.objects.create_user("bench-admin@example.com", "bench-password-123")
    Membership.objects.create(user=user, advertiser=advertiser, role=Role.ADMIN)
    # 10 creatives a campaign: 4, 3 and 3 over its three ad groups.
    fill(
        advertiser, CAMPAIGNS, ad_groups_per_campaign=AD_GROUPS_PER_CAMPAIGN, creatives_per_ad_group=(4, 3, 3)
    )
    expect(AdGroup.objects.filter(advertiser=advertiser).count() == 1500, "1,500 ad groups")
    expect(Creative.objects.filter(advertiser=advertiser).count() == 5000, "5,000 creatives")
    return advertiser, user


def _get(client: Client, path: str, *, htmx: bool = False) -> bytes:
    response = client.get(path, headers={"HX-Request": "true"} if htmx else None)
    expect(response.status_code == 200, (path, response.status_code))
    return response.content


def run(advertiser: Advertiser, user: User) -> list[Figure]:
    # The pages name static files; in-process there is no collectstatic manifest to look them up in.
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages):
        return _run(advertiser, user)


def _run(advertiser: Advertiser, user: User) -> list[Figure]:
    client = Client()
    client.force_login(user)
    base = f"/a/{advertiser.pk}/campaigns/"
    campaign = Campaign.objects.filter(advertiser=advertiser).order_by("name")[0]
    budget_url = f"{base}{campaign.pk}/budget/"

    expect(b"Campaign 0000" in _get(client, base), "the list shows the first campaign")
    queries: list[str] = []

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        _get(client, base)
    page = median_seconds(lambda: _get(client, base), REPEAT)
    by_spend = median_seconds(lambda: _get(client, f"{base}?sort=-spend&status=all", htmx=True), REPEAT)
    overview = median_seconds(lambda: _get(client, f"/a/{advertiser.pk}/"), REPEAT)
    by_delivery = median_seconds(lambda: _get(client, f"{base}?sort=delivery&status=all", htmx=True), REPEAT)

    def bare_page() -> None:
        rows = Campaign.objects.filter(advertiser=advertiser).not_archived().order_by("name", "pk")
        BARE.render({"rows": list(rows.values()[:50])})

    def bare_all() -> None:
        BARE.render(
            {"rows": list(Campaign.objects.filter(advertiser=advertiser).order_by("name", "pk").values())}
        )

    amounts = iter(range(1, 10**6))

    def edit() -> None:
        response = client.post(
            budget_url, {"budget": f"{20 + next(amounts) % 500}.50"}, headers={"HX-Request": "true"}
        )
        expect(response.status_code == 200 and b"<tr" in response.content, response.content[:200])

    def bare_edit() -> None:
        Campaign.objects.filter(pk=campaign.pk).update(budget_micros=20_500_000 + next(amounts))
        BARE.render({"rows": list(Campaign.objects.filter(pk=campaign.pk).values())})

    edit_time = median_seconds(edit, REPEAT)
    bare_edit_time = median_seconds(bare_edit, REPEAT)
    return [
        Figure(
            "ads manager: campaigns list (50 rows)",
            page * 1000,
            "ms",
            baseline=median_seconds(bare_page, REPEAT) * 1000,
            target=TARGET_MS,
            note=f"500 campaigns, 1,500 ad groups, 5,000 creatives; {len(queries)} queries; "
            f"median of {REPEAT}; baseline: the same 50 rows by .values() in a bare template",
        ),
        Figure(
            "ads manager: list sorted by spend (htmx)",
            by_spend * 1000,
            "ms",
            baseline=median_seconds(bare_all, REPEAT) * 1000,
            target=TARGET_MS,
            note="the table partial, all 500 sorted by a metric column, 50 shown; "
            "baseline: the 500 rows by .values() in a bare template",
        ),
        Figure(
            "ads manager: list sorted by delivery (htmx)",
            by_delivery * 1000,
            "ms",
            baseline=median_seconds(bare_all, REPEAT) * 1000,
            target=TARGET_MS,
            note="the delivery state of all 500 is derived to sort on it; ad groups and creatives are "
            "read for the active ones (a third of them here); baseline: the 500 rows by .values()",
        ),
        Figure(
            "ads manager: account overview",
            overview * 1000,
            "ms",
            baseline=median_seconds(bare_all, REPEAT) * 1000,
            target=TARGET_MS,
            note="every campaign counted by its derived delivery state (as above); "
            "baseline: the 500 rows by .values()",
        ),
        Figure(
            "ads manager: htmx inline budget edit",
            edit_time * 1000,
            "ms",
            baseline=bare_edit_time * 1000,
            target=TARGET_MS,
            note="POST, validated, saved with its audit entry, row re-rendered; "
            "baseline: an .update() and the row by .values() in a bare template",
        ),
    ]
