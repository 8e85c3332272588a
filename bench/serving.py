"""The ad server's speed: building the targeting index, one decision in process, decisions over HTTP.

- Index build for 10,000 deliverable ad groups (target: under a second). Baseline: reading the same
  rows from PostgreSQL without compiling them, so the ratio is what compiling costs on top of the
  unavoidable read.
- One decision in process with 1,000 deliverable ad groups, of which about 100 (each with one
  creative) match the request and are scored: p50 <= 2 ms and p99 <= 10 ms, recording the win on
  the Redis stream as serving does. Baseline: the way an ORM-minded ad server decides, one query
  for the matching ad groups per request and eCPMs computed in Python, measured side by side.
- Decisions over HTTP on loopback, served by gunicorn as `make run` serves (2 workers x 4 threads):
  at least 500 decisions/s with p99 <= 50 ms and no errors. Baseline: the same gunicorn answering
  the same POST from a plain Django view that returns a fixed JSON (the framework's floor).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from accounts.models import Advertiser, Agency
from bench.results import Figure, expect
from bench.throughput import SECONDS, gunicorn, load
from campaigns.models import AdGroup, BidStrategy, Campaign, Creative, Objective
from delivery import engine
from delivery.index import build
from delivery.models import Placement, Publisher
from delivery.request import AdRequest, Context, Slot, Source

COUNTRIES = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "SE", "PL", "CA")
DECISION_ROUNDS = int(os.environ.get("BENCH_DECISIONS", "3000"))
HTTP_CLIENTS = int(os.environ.get("BENCH_HTTP_CLIENTS", "8"))


def world(name: str, ad_groups: int) -> Advertiser:
    """An advertiser with `ad_groups` active ad groups (one campaign each), one approved banner
    each, targeting one of ten countries in turn, with bids spread from 1.00 to 5.99 CPM."""
    agency = Agency.objects.create(name=f"{name} agency", slug=f"{name.lower()}-serving")
    advertiser = Advertiser.objects.create(agency=agency, name=name, currency="USD", time_zone="UTC")
    start = timezone.now() - timedelta(days=1)
    campaigns = Campaign.objects.bulk_create(
        Campaign(
            advertiser=advertiser,
            name=f"Serving {i:05d}",
            objective=Objective.AWARENESS,
            status=Campaign.Status.ACTIVE,
            budget_micros=100_000_000,
            starts_at=start,
        )
        for i in range(ad_groups)
    )
    groups = AdGroup.objects.bulk_create(
        AdGroup(
            advertiser=advertiser,
            campaign=campaign,
            name="Ad group",
            bid_strategy=BidStrategy.MANUAL_CPM,
            bid_micros=1_000_000 + (i * 7919) % 5_000_000,
            targeting={"countries": [COUNTRIES[i % len(COUNTRIES)]], "device_types": ["mobile", "desktop"]},
            optimization_goal="impressions",
            billing_event="impression",
        )
        for i, campaign in enumerate(campaigns)
    )
    Creative.objects.bulk_create(
        Creative(
            advertiser=advertiser,
            ad_group=group,
            name="Banner",
            format=Creative.Format.BANNER,
            landing_url="https://example.com/",
            image="creatives/bench/banner.png",
            width=300,
            height=250,
            review_status=Creative.ReviewStatus.APPROVED,
            content_hash="bench",
            approved_content_hash="bench",
        )
        for group in groups
    )
    return advertiser


def _placement() -> Placement:
    publisher = Publisher.objects.create(name="Bench news", domain="bench-news.example")
    return Placement.objects.create(
        publisher=publisher,
        name="Article MPU",
        key="bench-mpu",
        format=Creative.Format.BANNER,
        sizes=["300x250"],
        floor_cpm_micros=500_000,
        daily_requests=1_000_000,
    )


def _request(slot: Slot, n: int) -> AdRequest:
    return AdRequest(
        id=f"bench-{n}",
        user_key=f"user-{n % 5000}",
        context=Context(country="US", device_type="mobile", os="ios", language="en"),
        slots=(slot,),
        at=timezone.now(),
        source=Source.DECISIONS,
    )


def _orm_decision(n: int) -> int:
    """The baseline: the matching ad groups read by a query per request, priced in Python."""
    rows = list(
        AdGroup.objects.filter(
            status=AdGroup.Status.ACTIVE,
            campaign__status=Campaign.Status.ACTIVE,
            targeting__countries__contains=["US"],
            creatives__review_status=Creative.ReviewStatus.APPROVED,
            creatives__width=300,
            creatives__height=250,
        )
        .filter(Q(campaign__ends_at__isnull=True) | Q(campaign__ends_at__gt=timezone.now()))
        .values_list("id", "bid_micros")
    )
    ranked = sorted(rows, key=lambda row: (-(row[1] or 0), (row[0] * 2654435761 + n) % (1 << 32)))
    return ranked[0][0] if ranked else 0


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def run() -> list[Figure]:
    figures: list[Figure] = []
    # The other benches' accounts (bench database only) would add their ad groups to the index.
    Advertiser.objects.update(status=Advertiser.Status.SUSPENDED)
    big = world("Index10k", 10_000)
    started = time.perf_counter()
    groups = AdGroup.objects.filter(advertiser=big).select_related("campaign", "advertiser")
    list(groups.values_list("id", "targeting", "campaign__starts_at", "advertiser__currency"))
    list(Creative.objects.filter(advertiser=big).values("id", "ad_group_id", "image", "landing_url"))
    read_seconds = time.perf_counter() - started
    builds = []
    for _ in range(3):
        snapshot = build()
        builds.append(snapshot.build_seconds)
    expect(snapshot.size == 10_000, f"{snapshot.size} ad groups in the index")
    figures.append(
        Figure(
            "index build, 10,000 ad groups",
            statistics.median(builds),
            "s",
            baseline=read_seconds,
            target=1.0,
            note="median of 3 builds; baseline: reading the same rows without compiling them",
        )
    )
    Advertiser.objects.filter(pk=big.pk).update(status=Advertiser.Status.SUSPENDED)

    world("Serving1k", 1_000)
    placement = _placement()
    snapshot = engine.rebuild()
    expect(snapshot.size == 1_000, f"{snapshot.size} ad groups in the index")
    info = snapshot.placements[placement.pk]
    slot = Slot.for_placement(info)
    probe = engine.decide(
        AdRequest(**{**{f: getattr(_request(slot, 0), f) for f in AdRequest.__slots__}, "explain": True})
    )
    scored = len(probe.explanations[0].candidates) if probe.explanations else 0
    expect(bool(probe.wins) and 90 <= scored <= 110, f"{scored} candidates scored, {len(probe.wins)} wins")
    for n in range(200):  # warm-up
        engine.decide(_request(slot, n))
    timings = []
    for n in range(DECISION_ROUNDS):
        request = _request(slot, n)
        t0 = time.perf_counter()
        engine.decide(request)
        timings.append((time.perf_counter() - t0) * 1000)
    baseline = []
    for n in range(min(300, DECISION_ROUNDS)):
        t0 = time.perf_counter()
        _orm_decision(n)
        baseline.append((time.perf_counter() - t0) * 1000)
    setup = f"1,000 deliverable ad groups, {scored} scored per request, {DECISION_ROUNDS} decisions"
    figures += [
        Figure(
            "decision in process: p50",
            statistics.median(timings),
            "ms",
            baseline=statistics.median(baseline),
            target=2.0,
            note=f"{setup}; baseline: one ORM query per request, eCPM in Python",
        ),
        Figure(
            "decision in process: p99",
            _percentile(timings, 0.99),
            "ms",
            baseline=_percentile(baseline, 0.99),
            target=10.0,
        ),
    ]
    figures += _http(placement.key)
    return figures


def _http(key: str) -> list[Figure]:
    body = json.dumps(
        {
            "placements": [{"key": key}],
            "user": {"key": "u-1"},
            "context": {"country": "US", "device_type": "mobile", "os": "ios", "language": "en"},
        }
    ).encode()
    headers = {"Content-Type": "application/json"}
    runs = {}
    with gunicorn() as port:
        for path in ("/serve/v1/decisions", "/bench/plain/decision/"):
            load(port, [path], headers, 1.0, HTTP_CLIENTS, method="POST", body=body)  # warm-up
            runs[path] = load(port, [path], headers, SECONDS, HTTP_CLIENTS, method="POST", body=body)
    served, plain = runs["/serve/v1/decisions"], runs["/bench/plain/decision/"]
    setup = f"gunicorn 2x4 threads, {HTTP_CLIENTS} client threads on the same 2 cores, {SECONDS:g} s"
    return [
        Figure(
            "decisions over HTTP: throughput",
            served.per_second,
            "decisions/s",
            baseline=plain.per_second,
            minimum=500,
            note=f"{setup}; baseline: a plain view answering a fixed JSON; no errors",
        ),
        Figure(
            "decisions over HTTP: p99",
            _percentile(served.latencies_ms, 0.99),
            "ms",
            baseline=_percentile(plain.latencies_ms, 0.99),
            target=50.0,
        ),
    ]
