"""Listing 1,000 campaigns through the API: the number of queries is the same for 10 rows as for
1,000 (no query per row: the delivery state reads prefetched ad groups and creatives), and the time
of the 1,000-row page against the same rows read with .values() and returned by a JsonResponse."""

from __future__ import annotations

from django.db import connection
from django.http import JsonResponse
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from bench.data import BenchAccount
from bench.results import Figure, expect, median_seconds
from campaigns.models import Campaign

ROWS = 1000
REPEAT = 5


def _list(client: APIClient, account: BenchAccount, rows: int) -> list[dict]:
    response = client.get(f"/api/v1/campaigns/?advertiser={account.advertiser.pk}&page_size={rows}")
    expect(response.status_code == 200, response.content[:300])
    results = response.json()["results"]
    expect(len(results) == rows, len(results))
    return results


def _queries(client: APIClient, account: BenchAccount, rows: int) -> int:
    _list(client, account, rows)  # warm: the key's last_used_at write, caches
    with CaptureQueriesContext(connection) as captured:
        _list(client, account, rows)
    return len(captured.captured_queries)


def _plain(account: BenchAccount) -> None:
    rows = Campaign.objects.filter(advertiser=account.advertiser).order_by("-created_at", "-id")
    JsonResponse({"results": list(rows.values()[:ROWS])}).content  # noqa: B018 - rendering is the work


def run(account: BenchAccount) -> list[Figure]:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {account.token}")
    few, many = _queries(client, account, 10), _queries(client, account, ROWS)
    api = median_seconds(lambda: _list(client, account, ROWS), REPEAT)
    plain = median_seconds(lambda: _plain(account), REPEAT)
    return [
        Figure("list 10 campaigns: queries", few, "queries"),
        Figure(
            "list 1,000 campaigns: queries",
            many,
            "queries",
            baseline=few,
            note="baseline: the queries for 10 rows; ratio 1.0 = constant",
        ),
        Figure(
            "list 1,000 campaigns: time",
            api * 1000,
            "ms",
            baseline=plain * 1000,
            note=f"median of {REPEAT}, in-process; baseline: .values() of the same rows + JsonResponse",
        ),
    ]
