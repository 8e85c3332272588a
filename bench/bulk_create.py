"""A bulk create of 1,000 campaigns by POST /api/v1/campaigns/bulk (validation of each item, the
model's full_clean, role and rate-limit checks, audit entries), against the same 1,000 rows written
by Campaign.objects.bulk_create: the difference is what validation and the audit log cost."""

from __future__ import annotations

from datetime import timedelta
from itertools import count

from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import AuditLog
from bench.data import BenchAccount
from bench.results import Figure, expect, median_seconds
from campaigns.models import Campaign, Objective

ITEMS = 1000
REPEAT = 3
TARGET_SECONDS = 3.0

_runs = count()


def _items(account: BenchAccount, run: int) -> list[dict]:
    starts = (timezone.now() + timedelta(days=1)).replace(microsecond=0).isoformat()
    return [
        {
            "advertiser": account.advertiser.pk,
            "name": f"Bulk {run}-{i:04d}",
            "objective": "traffic",
            "budget_type": "daily",
            "budget_micros": 5_000_000 + i,
            "pacing": "standard",
            "starts_at": starts,
            "frequency_cap_impressions": 3,
            "frequency_cap_period": "day",
        }
        for i in range(ITEMS)
    ]


def _api(client: APIClient, account: BenchAccount) -> None:
    run = next(_runs)
    body = {"items": _items(account, run), "all_or_nothing": True}
    response = client.post("/api/v1/campaigns/bulk/", body, format="json")
    expect(response.status_code == 200, response.content[:500])
    results = response.json()["results"]
    expect(len(results) == ITEMS and all(r.get("status") == "created" for r in results), results[:3])


def _plain(account: BenchAccount) -> None:
    run = next(_runs)
    starts = timezone.now() + timedelta(days=1)
    Campaign.objects.bulk_create(
        Campaign(
            advertiser=account.advertiser,
            name=f"Plain {run}-{i:04d}",
            objective=Objective.TRAFFIC,
            budget_micros=5_000_000 + i,
            starts_at=starts,
            frequency_cap_impressions=3,
            frequency_cap_period="day",
        )
        for i in range(ITEMS)
    )


def run(account: BenchAccount) -> list[Figure]:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {account.token}")
    audited = AuditLog.objects.filter(advertiser=account.advertiser).count()
    api = median_seconds(lambda: _api(client, account), REPEAT)
    created = AuditLog.objects.filter(advertiser=account.advertiser).count() - audited
    expect(created == ITEMS * REPEAT, f"every created campaign is audited ({created})")
    plain = median_seconds(lambda: _plain(account), REPEAT)
    return [
        Figure(
            "bulk create 1,000 campaigns",
            api,
            "s",
            baseline=plain,
            target=TARGET_SECONDS,
            note=f"median of {REPEAT}, in-process, all_or_nothing; baseline: Campaign.objects.bulk_create",
        )
    ]
