"""The traffic simulator's world, traffic and ground truth: seeded, shaped as designed, and consistent
with the audience structure that estimates read."""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pycountry
import pytest
from numpy.random import PCG64, Generator

from campaigns import audience
from campaigns.models import Creative
from campaigns.targeting import DEVICE_TYPES, INTEREST_SEGMENTS, OPERATING_SYSTEMS, Gender, language_codes
from delivery import demo, ivt
from delivery.request import CreativeInfo, PlacementInfo, Source, Win
from delivery.simulator import batches, traffic, truth
from delivery.simulator.outcomes import cost_per_click_micros, token_from_url
from delivery.simulator.world import (
    KIND_BOT,
    KIND_CLICK_SPAM,
    KIND_HUMAN,
    TrafficPlacement,
    World,
)

DAY = datetime(2025, 5, 1, tzinfo=UTC)


def demo_placements() -> list[TrafficPlacement]:
    """The demo's inventory (delivery.demo), with ids as the database would give them."""
    out: list[TrafficPlacement] = []
    for publisher_id, publisher in enumerate(demo.PUBLISHERS, start=1):
        for spec in publisher.placements:
            sizes = frozenset(tuple(int(n) for n in size.split("x")) for size in spec.sizes)
            info = PlacementInfo(
                id=len(out) + 1, key=spec.key, publisher_id=publisher_id, publisher_domain=publisher.domain,
                format=str(spec.format), sizes=sizes, floor_cpm_micros=1_000_000,
            )  # fmt: skip
            out.append(TrafficPlacement(info=info, daily_requests=spec.daily_requests))
    return out


@pytest.fixture(scope="module")
def world() -> World:
    return World.build(7, demo_placements(), n_users=60_000)


@pytest.fixture(scope="module")
def day_of_traffic(world: World) -> traffic.Traffic:
    """A whole simulated day, each hour with its share of 200,000 requests."""
    rng = Generator(PCG64(11))
    parts = []
    for hour in range(24):
        start = DAY + timedelta(hours=hour)
        parts.append(
            traffic.traffic_between(
                world, start, start + timedelta(hours=1), traffic.hourly_volume(world, start, 8_000), rng
            )
        )
    return traffic.Traffic(
        requests=[r for part in parts for r in part.requests],
        identity=np.concatenate([p.identity for p in parts]),
        kind=np.concatenate([p.kind for p in parts]),
        page_topic=np.concatenate([p.page_topic for p in parts]),
        local_hour=np.concatenate([p.local_hour for p in parts]),
        age_band=np.concatenate([p.age_band for p in parts]),
    )


# The audience structure ----------------------------------------------------------------------------


def test_the_audience_tables_are_complete_and_valid():
    assert sum(audience.COUNTRY_SHARES.values()) == pytest.approx(1.0)
    assert sum(geo.share for geo in audience.GEOS) == pytest.approx(1.0)
    for country in audience.COUNTRIES:
        assert sum(g.share for g in audience.GEOS if g.country == country) == pytest.approx(
            audience.COUNTRY_SHARES[country]
        )
    for geo in audience.GEOS:
        assert pycountry.countries.get(alpha_2=geo.country) is not None
        if geo.region:
            assert pycountry.subdivisions.get(code=geo.region).country_code == geo.country
        ZoneInfo(geo.time_zone)
        assert sum(share for _, share in geo.languages) == pytest.approx(1.0)
        assert {lang for lang, _ in geo.languages} <= language_codes()
    assert sum(share for *_, share in audience.AGE_BANDS) == pytest.approx(1.0)
    assert sum(share for _, share in audience.GENDERS) == pytest.approx(1.0)
    assert {g for g, _ in audience.GENDERS} == set(Gender.ALL)
    assert [d for d, _ in audience.DEVICES] == list(DEVICE_TYPES)
    assert sum(share for _, share in audience.DEVICES) == pytest.approx(1.0)
    for device, systems in audience.OS_BY_DEVICE.items():
        assert sum(share for _, share in systems) == pytest.approx(1.0), device
        assert {name for name, _ in systems} <= set(OPERATING_SYSTEMS)
    assert set(audience.INTEREST_BASE_RATES) == set(INTEREST_SEGMENTS)
    assert set(audience.TOPIC_KEYWORDS) == set(INTEREST_SEGMENTS)
    assert tuple(truth.FORMATS) == tuple(Creative.Format.values)


def test_the_demo_publishers_have_their_audiences_and_their_campaigns_keywords_appear_on_pages():
    assert {p.domain for p in demo.PUBLISHERS} <= set(audience.PUBLISHER_AUDIENCES)
    vocabulary = {word for words in audience.TOPIC_KEYWORDS.values() for word in words}
    for advertiser in demo.ADVERTISERS:
        for campaign in advertiser.campaigns:
            for group in campaign.ad_groups:
                assert set(group.targeting.get("keywords", [])) <= vocabulary, group.name


def test_a_publisher_not_in_the_table_gets_a_stable_audience_of_two_interests():
    skew = audience.publisher_skew("knitting-weekly.example")
    assert skew == audience.publisher_skew("knitting-weekly.example")
    assert len(skew.interests) == 2 and set(skew.interests) <= set(INTEREST_SEGMENTS)
    assert all(lift > 1 for lift in skew.interests.values())


def test_expected_shares_add_up():
    everyone = audience.expected_share()
    assert everyone == pytest.approx(1.0)
    skew = audience.placement_skew("trailheadmag.com", "banner", {(320, 50)})
    shares = audience.audience_shares(skew)
    for dimension in ("countries", "languages", "age_bands", "genders", "device_types", "operating_systems"):
        assert sum(shares[dimension].values()) == pytest.approx(1.0), dimension
    # Trailhead's readers are outdoor people on phones, more than everyone is.
    assert shares["interests"]["outdoors"] > 2 * audience.audience_shares()["interests"]["outdoors"]
    assert shares["device_types"]["mobile"] > 0.8
    # An unknown age fails an age restriction: all bands together are the known share.
    assert audience.expected_share(age_ranges=[(13, 100)]) == pytest.approx(audience.AGE_KNOWN_SHARE)
    # Countries and regions are one location dimension: a region adds nothing to its own country.
    assert audience.expected_share(countries=["US"], regions=["US-CO"]) == pytest.approx(
        audience.expected_share(countries=["US"])
    )
    assert audience.expected_share(regions=["US-CO"]) == pytest.approx(0.28 * 0.018)


def _matches(request, *, countries=(), regions=(), languages=(), age_ranges=(), genders=(), device_types=(),
             operating_systems=(), interests=(), keywords=()) -> bool:  # fmt: skip
    """delivery.engine's targeting semantics, spelled out for one request."""
    c = request.context
    return (
        (not (countries or regions) or c.country in countries or c.region in regions)
        and (not languages or c.language in languages)
        and (not age_ranges or (c.age is not None and any(lo <= c.age <= hi for lo, hi in age_ranges)))
        and (not genders or c.gender in genders)
        and (not device_types or c.device_type in device_types)
        and (not operating_systems or c.os in operating_systems)
        and (not interests or bool(c.interests & set(interests)))
        and (not keywords or bool(c.keywords & set(keywords)))
    )


@pytest.mark.parametrize(
    "targeting",
    [
        {"countries": ["US", "CA"]},
        {"languages": ["fr"]},
        {"age_ranges": [(25, 44)]},
        {"genders": ["female"]},
        {"device_types": ["mobile"], "operating_systems": ["ios"]},
        {"interests": ["outdoors", "fitness"]},
        {"keywords": ["hiking boots", "running"]},
        {  # the demo's Spring Trail Collection
            "countries": ["US", "CA"],
            "languages": ["en"],
            "age_ranges": [(25, 54)],
            "device_types": ["desktop", "mobile", "tablet"],
            "interests": ["outdoors", "fitness", "travel"],
        },
    ],
)
def test_the_traffic_of_a_day_matches_the_expected_shares(world, day_of_traffic, targeting):
    people = day_of_traffic.kind == KIND_HUMAN
    for placement in world.placements:
        info = placement.info
        rows = np.flatnonzero(
            people & np.array([r.slots[0].placement_id == info.id for r in day_of_traffic.requests])
        )
        if len(rows) < 5_000:
            continue
        seen = np.mean([_matches(day_of_traffic.requests[i], **targeting) for i in rows])
        skew = audience.placement_skew(info.publisher_domain, info.format, info.sizes)
        expected = audience.expected_share(skew, **targeting)
        # A world of 60,000 people with heavy-tailed activity is a sample of the structure.
        assert seen == pytest.approx(expected, abs=0.025, rel=0.12), info.key


# The world ---------------------------------------------------------------------------------------


def test_the_same_seed_builds_the_same_world_and_another_seed_another():
    placements = demo_placements()
    one, two = World.build(3, placements, n_users=5_000), World.build(3, placements[::-1], n_users=5_000)
    for column in ("geo", "language", "age", "age_known", "gender", "device", "os", "interests", "activity"):
        assert np.array_equal(getattr(one, column), getattr(two, column)), column
    assert one.user_keys == two.user_keys and one.ips == two.ips and one.user_agents == two.user_agents
    assert [p.url for p in one.pages.values()] == [p.url for p in two.pages.values()]
    other = World.build(4, placements, n_users=5_000)
    assert not np.array_equal(one.geo, other.geo) or not np.array_equal(one.activity, other.activity)
    assert other.user_keys[0] == "sim-4-0"


def test_people_are_drawn_from_the_structure(world):
    n = world.n_users
    country = Counter(audience.GEOS[g].country for g in world.geo[:n].tolist())
    for code, share in audience.COUNTRY_SHARES.items():
        assert country[code] / n == pytest.approx(share, abs=0.006), code
    for who in range(0, n, 97):
        geo = audience.GEOS[world.geo[who]]
        assert audience.LANGUAGES[world.language[who]] in {lang for lang, _ in geo.languages}
        device = audience.DEVICES[world.device[who]][0]
        assert audience.OPERATING_SYSTEMS[world.os[who]] in {o for o, _ in audience.OS_BY_DEVICE[device]}
        band = audience.AGE_BANDS[world.band[who]]
        assert band[1] <= world.age[who] <= band[2]
    assert world.age_known[:n].mean() == pytest.approx(audience.AGE_KNOWN_SHARE, abs=0.01)
    # Interests follow the rates of each person's country, band and gender.
    country_index = np.array([audience.COUNTRIES.index(g.country) for g in audience.GEOS])[world.geo[:n]]
    expected = audience.interest_rates()[country_index, world.band[:n], world.gender[:n]]
    assert world.interests[:n].mean(axis=0) == pytest.approx(expected.mean(axis=0), abs=0.01)
    per_person = world.interests[:n].sum(axis=1)
    assert 1.5 < per_person.mean() < 3.0
    assert (per_person == 0).mean() < 0.15


def test_a_few_people_browse_a_lot(world):
    activity = np.sort(world.activity)[::-1]
    top_percent = activity[: len(activity) // 100].sum() / activity.sum()
    assert 0.05 < top_percent < 0.25  # log-normal: the top 1% do about a tenth of the browsing


def test_bots_and_spammers_are_identities_of_their_own(world):
    assert (world.kind[: world.n_users] == KIND_HUMAN).all()
    bots, spammers = world.identities(KIND_BOT), world.identities(KIND_CLICK_SPAM)
    assert len(bots) > 10 and len(spammers) >= 2
    assert set(bots.tolist()).isdisjoint(spammers.tolist())
    assert all(ivt.user_agent_reason(world.user_agents[i]) for i in bots)
    # Bots replay people's cookies: the platform sees interests and ages, so targeted ads reach them.
    assert world.interests[bots].any(axis=1).mean() > 0.7
    assert world.age_known[bots].mean() > 0.6
    # Spammers pass for people: the filters must catch them by behaviour, not by their agent.
    assert not any(ivt.user_agent_reason(world.user_agents[i]) for i in spammers)


# Traffic -----------------------------------------------------------------------------------------


def test_the_same_generator_gives_the_same_requests(world):
    start = DAY + timedelta(hours=18)
    one = traffic.requests_for_hour(world, start, 2_000, Generator(PCG64(5)))
    two = traffic.requests_for_hour(world, start, 2_000, Generator(PCG64(5)))
    three = traffic.requests_for_hour(world, start, 2_000, Generator(PCG64(6)))
    assert one == two
    assert one != three


def test_requests_fill_the_hour_in_time_order_on_known_placements(world):
    start = DAY + timedelta(hours=9)
    requests = traffic.requests_for_hour(world, start, 5_000, Generator(PCG64(1)))
    assert len(requests) == 5_000
    assert len({r.id for r in requests}) == 5_000
    times = [r.at for r in requests]
    assert times == sorted(times)
    assert start <= times[0] and times[-1] < start + timedelta(hours=1)
    slots = {slot.id: slot for slot in world.slots}
    benchmark = ipaddress.ip_network("198.18.0.0/15")
    for request in requests[::50]:
        assert request.source == Source.SIMULATOR
        assert request.at.tzinfo is not None
        (slot,) = request.slots
        assert slots[slot.id] is slot
        assert ipaddress.ip_address(request.context.ip) in benchmark
        assert request.user_key.startswith("sim-7-")
        assert request.context.url.startswith("https://")
        assert request.context.keywords


def test_people_are_real_browsers_and_bots_are_a_small_share(day_of_traffic):
    kinds = Counter(day_of_traffic.kind.tolist())
    n = len(day_of_traffic)
    assert kinds[KIND_BOT] / n == pytest.approx(traffic.BOT_SHARE, abs=0.002)
    assert kinds[KIND_CLICK_SPAM] / n == pytest.approx(traffic.CLICK_SPAM_SHARE, abs=0.001)
    agents = Counter(r.context.user_agent for r in day_of_traffic.requests)
    flagged = sum(count for agent, count in agents.items() if ivt.user_agent_reason(agent))
    assert flagged == kinds[KIND_BOT]


def test_spammers_come_in_bursts(world):
    start = DAY + timedelta(hours=20)
    batch = traffic.traffic_between(world, start, start + timedelta(hours=1), 60_000, Generator(PCG64(2)))
    for spammer in world.identities(KIND_CLICK_SPAM):
        times = [batch.requests[i].at for i in np.flatnonzero(batch.identity == spammer)]
        assert len(times) > 20
        assert max(times) - min(times) <= traffic.SPAM_BURST


def test_the_diurnal_curve_peaks_in_the_evening_and_sleeps_before_dawn():
    hours = np.arange(24) + 0.5
    curve = traffic.diurnal(hours)
    assert curve.mean() == pytest.approx(1.0)
    assert 20 <= int(np.argmax(curve)) <= 21
    assert 3 <= int(np.argmin(curve)) <= 4
    assert curve[3:5].max() < 0.25 * curve.max()


def test_a_countrys_traffic_follows_its_local_evening(world):
    """Requests from France at 20:00 Paris time outnumber those at 04:00 Paris time many times over."""
    paris = ZoneInfo("Europe/Paris")
    counts = {}
    for local in (4, 20):
        start = datetime(2025, 5, 1, local, tzinfo=paris).astimezone(UTC) - timedelta(minutes=30)
        n = traffic.hourly_volume(world, start, 20_000)
        batch = traffic.traffic_between(world, start, start + timedelta(hours=1), n, Generator(PCG64(local)))
        counts[local] = sum(1 for r in batch.requests if r.context.country == "FR")
    assert counts[20] > 5 * counts[4]


def test_the_hours_of_a_day_average_the_requested_volume(world):
    volumes = [traffic.hourly_volume(world, DAY + timedelta(hours=h), 10_000) for h in range(24)]
    assert sum(volumes) == pytest.approx(240_000, rel=0.01)
    assert max(volumes) > 1.2 * min(volumes)  # the world is not flat: most people are in Europe and America


def test_no_requests_for_an_empty_interval_or_no_placements(world):
    assert len(traffic.traffic_between(world, DAY, DAY, 100, Generator(PCG64(1)))) == 0
    empty = World.build(1, [], n_users=1_000)
    assert traffic.requests_for_hour(empty, DAY, 100, Generator(PCG64(1))) == []


# The ground truth ----------------------------------------------------------------------------------


def _p_click(**changes):
    n = 1
    args = {
        "format_code": np.zeros(n, dtype=np.int64),
        "interest_match": np.zeros(n, dtype=bool),
        "topic_match": np.zeros(n, dtype=bool),
        "placement_effect": np.zeros(n),
        "device_code": np.zeros(n, dtype=np.int64),
        "local_hour": np.full(n, 14.0),
        "exposures": np.zeros(n, dtype=np.int64),
        "creative_effect": np.zeros(n),
        "noise": np.zeros(n),
    }
    args.update({k: np.atleast_1d(v) for k, v in changes.items()})
    return float(truth.p_click(**args)[0])


def _p_conversion(**changes):
    args = {
        "interest_match": np.zeros(1, dtype=bool),
        "topic_match": np.zeros(1, dtype=bool),
        "device_code": np.zeros(1, dtype=np.int64),
        "age_band": np.full(1, 2),
        "campaign_effect": np.zeros(1),
        "creative_effect": np.zeros(1),
        "noise": np.zeros(1),
    }
    args.update({k: np.atleast_1d(v) for k, v in changes.items()})
    return float(truth.p_conversion(**args)[0])


def test_click_probability_moves_the_intended_way():
    base = _p_click()
    assert base == pytest.approx(truth.BASE_CTR[0])
    assert _p_click(interest_match=True) > _p_click(topic_match=True) > base
    assert _p_click(exposures=1) < base
    assert _p_click(exposures=5) < _p_click(exposures=1)
    assert _p_click(exposures=1) / base == pytest.approx(truth.FATIGUE, rel=0.01)
    assert _p_click(creative_effect=0.5) > base > _p_click(creative_effect=-0.5)
    assert _p_click(format_code=2) > _p_click(format_code=1) > base  # video > native > banner
    ctv = [d for d, _ in audience.DEVICES].index("ctv")
    assert _p_click(device_code=ctv) < base
    assert _p_click(local_hour=21.5) > base > _p_click(local_hour=4.0)


def test_conversion_probability_moves_the_intended_way():
    base = _p_conversion()
    assert 0.02 < base < 0.06
    assert _p_conversion(interest_match=True) > base
    assert _p_conversion(campaign_effect=0.4) > base
    assert _p_conversion(age_band=0) < base  # teenagers rarely buy


def test_probabilities_stay_inside_zero_and_one_at_the_extremes():
    rng = Generator(PCG64(3))
    n = 10_000
    p = truth.p_click(
        format_code=rng.integers(0, 3, n),
        interest_match=rng.random(n) < 0.5,
        topic_match=rng.random(n) < 0.5,
        placement_effect=rng.normal(0, 5, n),
        device_code=rng.integers(0, 4, n),
        local_hour=rng.uniform(0, 24, n),
        exposures=rng.integers(0, 500, n),
        creative_effect=rng.normal(0, 10, n),
        noise=rng.normal(0, 10, n),
    )
    assert ((p > 0) & (p < 1)).all()
    q = truth.p_conversion(
        interest_match=rng.random(n) < 0.5,
        topic_match=rng.random(n) < 0.5,
        device_code=rng.integers(0, 4, n),
        age_band=rng.integers(0, 7, n),
        campaign_effect=rng.normal(0, 10, n),
        creative_effect=rng.normal(0, 10, n),
        noise=rng.normal(0, 10, n),
    )
    assert ((q > 0) & (q < 1)).all()


def test_typical_click_rates_by_format_are_industry_like():
    rng = Generator(PCG64(4))
    n = 200_000
    for code, (low, high) in enumerate([(0.001, 0.004), (0.004, 0.015), (0.008, 0.03)]):
        p = truth.p_click(
            format_code=np.full(n, code),
            interest_match=rng.random(n) < 0.25,
            topic_match=rng.random(n) < 0.2,
            placement_effect=truth.placement_effects(7, rng.integers(1, 50, n)),
            device_code=rng.integers(0, 3, n),
            local_hour=rng.uniform(0, 24, n),
            exposures=rng.poisson(1.0, n),
            creative_effect=truth.creative_quality(7, rng.integers(1, 200, n)),
            noise=rng.normal(0, truth.CLICK_NOISE_SD, n),
        )
        assert low < p.mean() < high, truth.FORMATS[code]


def test_latent_effects_are_stable_per_seed_and_id():
    truth._stable_normal.cache_clear()
    first = truth.creative_quality(7, [1, 2, 3])
    truth._stable_normal.cache_clear()
    assert np.array_equal(first, truth.creative_quality(7, [1, 2, 3]))
    assert not np.array_equal(first, truth.creative_quality(8, [1, 2, 3]))
    assert len(set(first.tolist())) == 3
    # Across many creatives the quality spreads as designed.
    spread = truth.creative_quality(7, range(1, 5001))
    assert spread.std() == pytest.approx(truth.CREATIVE_CTR_SD, rel=0.05)
    assert abs(spread.mean()) < 0.02
    assert not np.array_equal(truth.placement_effects(7, [1, 2]), truth.creative_quality(7, [1, 2]))


def _creative(categories=(), advertiser_name="Alpine Outfitters", advertiser_id=1) -> CreativeInfo:
    return CreativeInfo(
        id=1, ad_group_id=1, campaign_id=1, advertiser_id=advertiser_id, format="banner", width=300,
        height=250, image_url="", headline="", body="", call_to_action="", landing_url="https://a.example/",
        vast_url="", vast_xml="", advertiser_name=advertiser_name, advertiser_domains=("a.example",),
        categories=tuple(categories), attributes=(),
    )  # fmt: skip


def test_a_creatives_category_comes_from_its_iab_category_else_from_its_advertiser():
    assert truth.creative_category(_creative(["IAB18-1"])) == "beauty"
    assert truth.creative_category(_creative(["IAB9-6"])) == "outdoors"
    assert truth.creative_category(_creative(["IAB8"])) == "cooking"
    blank = truth.creative_category(_creative())
    assert blank in INTEREST_SEGMENTS
    assert blank == truth.creative_category(_creative())
    names = {
        truth.creative_category(_creative(advertiser_name=f"Brand {i}", advertiser_id=i)) for i in range(60)
    }
    assert len(names) > 10


# Batches -------------------------------------------------------------------------------------------


def test_a_batch_survives_its_trip_through_redis_bytes(world):
    start = DAY + timedelta(hours=12)
    original = traffic.traffic_between(world, start, start + timedelta(minutes=10), 400, Generator(PCG64(8)))
    decoded = batches.decode(batches.encode(batches.Batch(run_id="r1", seed=7, traffic=original)))
    assert decoded.run_id == "r1" and decoded.seed == 7
    assert decoded.traffic.requests == original.requests
    for name in ("identity", "kind", "page_topic", "local_hour", "age_band"):
        assert np.array_equal(getattr(decoded.traffic, name), getattr(original, name)), name
    assert batches.decode_requests(batches.encode_requests(original.requests)) == original.requests


def test_the_token_of_a_tracking_url():
    assert token_from_url("https://ads.example/t/v1/i/abc:def.gif") == "abc:def"
    assert token_from_url("https://ads.example/t/v1/c/abc:def") == "abc:def"


def test_placements_without_a_daily_volume_share_the_traffic_alike():
    placements = [TrafficPlacement(info=p.info, daily_requests=0) for p in demo_placements()[:2]]
    world = World.build(1, placements, n_users=2_000)
    requests = traffic.requests_for_hour(world, DAY, 2_000, Generator(PCG64(1)))
    assert len(requests) == 2_000
    per_placement = Counter(r.slots[0].placement_id for r in requests)
    assert per_placement[1] == pytest.approx(1_000, abs=150)


def test_a_click_billed_ad_pays_the_cleared_price_over_its_predicted_click_rate():
    win = Win(
        event_id="e", slot_id="s", placement_id=1, advertiser_id=1, campaign_id=1, ad_group_id=1,
        creative_id=1, bid_cpm_micros=4_000_000, price_cpm_micros=1_500_000, price_micros=1_500,
        currency="USD", billing_event="click", pctr=0.01, pcvr=0.03, runner_up_cpm_micros=1_500_000,
    )  # fmt: skip
    assert cost_per_click_micros(win) == 150_000
    # A CPC bid of 0.40 at pCTR 1% is an eCPM of 4.00: paying that clears at the bid, never above.
    assert cost_per_click_micros(replace(win, price_cpm_micros=4_000_000, price_micros=4_000)) == 400_000
    assert cost_per_click_micros(replace(win, pctr=0.0)) == 0
