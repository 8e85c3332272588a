"""The simulator's ad requests: who visits which placement when, as `AdRequest`s.

For an interval of simulated time, each placement's share of the requests is its daily volume times
the share of its audience in each geo times the diurnal curve at that geo's local time (people browse
in the evening and sleep at 4 am), so the traffic follows the sun around the world. Within a
(placement, geo) cell people are picked by activity times the placement's audience skew; the page is
one of the publisher's, by topic. Everything is vectorised with numpy; `AdRequest`s are built in one
loop at the end.

Invalid traffic rides along so that the filters have something to catch: `BOT_SHARE` of requests
come from crawlers, HTTP libraries and headless browsers (at any hour: bots do not sleep), and
`CLICK_SPAM_SHARE` from a few click spammers who pass for people but fire their requests in bursts
of a couple of minutes and click far more, and faster, than anyone reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import numpy as np
from numpy.random import Generator

from campaigns import audience
from delivery.request import AdRequest, Context, Source
from delivery.simulator.world import KIND_BOT, KIND_CLICK_SPAM, World

BOT_SHARE = 0.02
CLICK_SPAM_SHARE = 0.003
SPAM_BURST = timedelta(minutes=2)

# Requests by local hour (0 = midnight to 1 am), relative to the day's mean: a trough at 3-5 am, a
# lunch bump and the evening peak around 9 pm.
_DIURNAL = np.array([
    0.55, 0.35, 0.22, 0.15, 0.14, 0.20, 0.40, 0.70, 0.90, 0.95, 1.00, 1.05,
    1.15, 1.10, 1.00, 1.00, 1.05, 1.15, 1.30, 1.50, 1.70, 1.75, 1.50, 1.00,
])  # fmt: skip
DIURNAL = _DIURNAL / _DIURNAL.mean()
_GENDER_NAMES = [g for g, _ in audience.GENDERS]
_DEVICE_NAMES = [d for d, _ in audience.DEVICES]


def diurnal(local_hour: np.ndarray | float) -> np.ndarray:
    """The curve at fractional local hours, each value taken as the middle of its hour, interpolated."""
    position = (np.asarray(local_hour, dtype=np.float64) - 0.5) % 24.0
    low = np.floor(position).astype(np.int64)
    frac = position - low
    return DIURNAL[low] * (1 - frac) + DIURNAL[(low + 1) % 24] * frac


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def utc_offsets(at: datetime) -> np.ndarray:
    """Each geo's offset from UTC at `at`, in seconds (daylight saving time included)."""
    return np.array(
        [at.astimezone(_zone(geo.time_zone)).utcoffset().total_seconds() for geo in audience.GEOS]  # type: ignore[union-attr]
    )


def local_hours(at: datetime) -> np.ndarray:
    """Each geo's local time of day at `at`, in fractional hours."""
    seconds = (at.timestamp() + utc_offsets(at)) % 86_400
    return seconds / 3600.0


def _daily(world: World) -> np.ndarray:
    """Each placement's requests a day; when none has a volume yet, all alike (a hand-made placement)."""
    daily = np.array([p.daily_requests for p in world.placements], dtype=np.float64)
    return daily if daily.sum() > 0 else np.ones(len(daily))


def _rates(world: World, at: datetime) -> np.ndarray:
    """Expected requests per hour at `at`, by (placement, geo)."""
    weights = np.array([world.profiles[i].geo_weight for i in world.profile_of])
    totals = weights.sum(axis=1, keepdims=True)
    shares = np.divide(weights, totals, out=np.zeros_like(weights), where=totals > 0)
    return _daily(world)[:, None] / 24.0 * shares * diurnal(local_hours(at))[None, :]


def hourly_factor(world: World, at: datetime) -> float:
    """How busy the hour around `at` is against the day's mean hour (1.0 is an average hour)."""
    if not world.placements:
        return 0.0
    return float(_rates(world, at).sum() / (_daily(world).sum() / 24.0))


def hourly_volume(world: World, hour_start: datetime, mean_per_hour: int) -> int:
    """Requests in the hour from `hour_start`, for a day averaging `mean_per_hour` an hour."""
    return round(mean_per_hour * hourly_factor(world, hour_start + timedelta(minutes=30)))


@dataclass(slots=True)
class Traffic:
    """Requests in time order, with what the platform does not see about each, for the ground truth."""

    requests: list[AdRequest]
    identity: np.ndarray  # index of the person, spammer or bot in the world
    kind: np.ndarray  # world.KIND_*
    page_topic: np.ndarray  # index into INTEREST_SEGMENTS: what the page is about
    local_hour: np.ndarray  # fractional hour of the day where the person is
    age_band: np.ndarray  # index into AGE_BANDS: the person's, known to the platform or not

    def __len__(self) -> int:
        return len(self.requests)

    def part(self, start: int, stop: int) -> Traffic:
        return self.take(np.arange(start, min(stop, len(self.requests))))

    def take(self, rows: np.ndarray) -> Traffic:
        """The requests at `rows` (indices), in that order."""
        return Traffic(
            requests=[self.requests[i] for i in rows.tolist()],
            identity=self.identity[rows],
            kind=self.kind[rows],
            page_topic=self.page_topic[rows],
            local_hour=self.local_hour[rows],
            age_band=self.age_band[rows],
        )


def requests_for_hour(world: World, hour_start: datetime, n_requests: int, rng: Generator) -> list[AdRequest]:
    return traffic_between(world, hour_start, hour_start + timedelta(hours=1), n_requests, rng).requests


def traffic_between(world: World, start: datetime, end: datetime, n_requests: int, rng: Generator) -> Traffic:
    """`n_requests` requests between `start` (aware) and `end`, shared out as the world's traffic is
    at the interval's middle."""
    duration = (end - start).total_seconds()
    if n_requests <= 0 or duration <= 0 or not world.placements:
        return _empty()
    middle = start + (end - start) / 2
    n_bots = int(rng.binomial(n_requests, BOT_SHARE))
    n_spam = int(rng.binomial(n_requests - n_bots, CLICK_SPAM_SHARE))
    n_people = n_requests - n_bots - n_spam

    rates = _rates(world, middle)
    placement_parts, identity_parts = [], []
    if rates.sum() > 0 and n_people:
        counts = rng.multinomial(n_people, (rates / rates.sum()).ravel()).reshape(rates.shape)
        for p in np.flatnonzero(counts.sum(axis=1)):
            placement_parts.append(np.full(int(counts[p].sum()), p, dtype=np.int64))
            identity_parts.append(_pick_people(world, int(p), counts[p], rng))
    volume = _daily(world) / _daily(world).sum()
    for kind, count in ((KIND_BOT, n_bots), (KIND_CLICK_SPAM, n_spam)):
        if count:
            picks = np.searchsorted(np.cumsum(volume), rng.random(count), side="right")
            placement_parts.append(np.minimum(picks, len(volume) - 1))
            identity_parts.append(rng.choice(world.identities(kind), count))
    placement = np.concatenate(placement_parts)
    identity = np.concatenate(identity_parts)

    seconds = rng.random(len(identity)) * duration
    spam = world.kind[identity] == KIND_CLICK_SPAM
    if spam.any():
        # Each spammer works in one burst in the interval.
        burst = min(SPAM_BURST.total_seconds(), duration)
        spammers = world.identities(KIND_CLICK_SPAM)
        burst_start = rng.random(len(spammers)) * (duration - burst)
        starts = burst_start[np.searchsorted(spammers, identity[spam])]
        seconds[spam] = starts + rng.random(int(spam.sum())) * burst
    order = np.argsort(seconds, kind="stable")
    placement, identity, seconds = placement[order], identity[order], seconds[order]

    page, topic = _pick_pages(world, placement, rng)
    geo = world.geo[identity]
    offsets = utc_offsets(middle)[geo]
    epoch = start.timestamp() + seconds
    local_hour = ((epoch + offsets) % 86_400) / 3600.0
    requests = _requests(world, start, placement, identity, page, seconds)
    return Traffic(
        requests=requests,
        identity=identity,
        kind=world.kind[identity],
        page_topic=topic,
        local_hour=local_hour,
        age_band=world.band[identity],
    )


def _empty() -> Traffic:
    none = np.zeros(0, dtype=np.int64)
    return Traffic([], none, none.astype(np.int8), none, none.astype(np.float64), none)


def _pick_people(world: World, placement: int, counts: np.ndarray, rng: Generator) -> np.ndarray:
    """For each geo g, counts[g] people of g, by the placement's weights (a searchsorted on its slice)."""
    cumulative = world.profiles[world.profile_of[placement]].cumulative
    geos = np.flatnonzero(counts)
    repeats = counts[geos]
    first, last = world.geo_bounds[geos], world.geo_bounds[geos + 1]  # people [first, last) of each geo
    below = np.where(first > 0, cumulative[np.maximum(first - 1, 0)], 0.0)
    top = cumulative[last - 1]
    low, high = np.repeat(below, repeats), np.repeat(top, repeats)
    target = low + rng.random(len(low)) * (high - low)
    picked = np.searchsorted(cumulative, target, side="right")
    return np.clip(picked, np.repeat(first, repeats), np.repeat(last - 1, repeats))


def _pick_pages(world: World, placement: np.ndarray, rng: Generator) -> tuple[np.ndarray, np.ndarray]:
    """A page of each request's publisher (its index among the publisher's pages), and its topic."""
    publisher = np.array([p.info.publisher_id for p in world.placements])[placement]
    page = np.zeros(len(placement), dtype=np.int64)
    topic = np.zeros(len(placement), dtype=np.int64)
    draws = rng.random(len(placement))
    for publisher_id, pages in world.pages.items():
        rows = np.flatnonzero(publisher == publisher_id)
        picked = np.searchsorted(pages.cumulative, draws[rows], side="right")
        page[rows] = np.minimum(picked, len(pages.url) - 1)
        topic[rows] = pages.topic[page[rows]]
    return page, topic


def _requests(
    world: World,
    start: datetime,
    placement: np.ndarray,
    identity: np.ndarray,
    page: np.ndarray,
    seconds: np.ndarray,
) -> list[AdRequest]:
    geos = audience.GEOS
    country = [geos[g].country for g in world.geo[identity].tolist()]
    region = [geos[g].region for g in world.geo[identity].tolist()]
    language = [audience.LANGUAGES[lang] for lang in world.language[identity].tolist()]
    device = [_DEVICE_NAMES[d] for d in world.device[identity].tolist()]
    os_name = [audience.OPERATING_SYSTEMS[o] for o in world.os[identity].tolist()]
    gender = [_GENDER_NAMES[g] for g in world.gender[identity].tolist()]
    ages = np.where(world.age_known[identity], world.age[identity], -1).tolist()
    slots, pages, placements = world.slots, world.pages, world.placements
    prefix = f"sim{world.seed}-{int(start.timestamp())}"
    out = []
    # Whole microseconds after `start`: adding a timedelta is far cheaper than datetime.fromtimestamp.
    micros = np.floor(seconds * 1e6).astype(np.int64).tolist()
    for i, (p, who, pg, us) in enumerate(
        zip(placement.tolist(), identity.tolist(), page.tolist(), micros, strict=True)
    ):
        site = pages[placements[p].info.publisher_id]
        context = Context(
            country=country[i],
            region=region[i],
            language=language[i],
            device_type=device[i],
            os=os_name[i],
            age=ages[i] if ages[i] >= 0 else None,
            gender=gender[i],
            interests=world.interest_sets[who],
            keywords=site.keywords[pg],
            url=site.url[pg],
            ip=world.ips[who],
            user_agent=world.user_agents[who],
        )
        out.append(
            AdRequest(
                id=f"{prefix}-{i}",
                user_key=world.user_keys[who],
                context=context,
                slots=(slots[p],),
                at=start + timedelta(microseconds=us),
                source=Source.SIMULATOR,
            )
        )
    return out
