"""What happens after the auction, in the simulated world: which ads are seen, clicked and converted.

For each ad won (a `Win` of a `Decision`):
- the impression fires for `IMPRESSION_RATE` of them (the rest never render: a closed page, a
  failed load), a second or two after the decision, through the real tracking code
  (delivery.tracking.record_impression with the win's signed URL), from the person's IP and browser;
- whether it is clicked is drawn from the ground truth (delivery.simulator.truth), whose fatigue term
  counts the person's earlier exposures to the campaign on the same (simulated, UTC) day, kept in
  Redis per world seed so that every worker sees them, as the platform's frequency counters do (runs
  of the same seed over the same day add up, there as here); the click goes through record_click
  seconds to a minute later (click spammers: at once, and again a few times);
- a conversion is drawn for a click from the truth's conversion probability, and reported by the
  advertiser's postback (delivery.conversions.receive, with the click id the landing URL carried) a
  while later: minutes to a day or two, as real purchases follow clicks. Conversions wait in a Redis
  sorted set until a batch's clock passes their time, so each is reported at its own time, by
  whichever worker plays that batch. Only the advertisers that set up a conversion event report
  them (the campaign's own, else the advertiser's first active one).

Each fired impression leaves a `truth` event (event_id, p_click, p_conversion, clicked, converted)
on the event stream, stored in delivery_truth beside the events it explains.

`draw` makes every random choice of a batch at once, with numpy (which impressions fire, the truth,
clicks, conversions, the delays); `simulate` plays them out through the tracking code, and
delivery.simulator.history writes the same draws straight into the event tables, for speed.

Spend is what the ads' valid events were charged (delivery.budget, through the tracking code): the
auction's price of each valid impression for ad groups billed per impression, and for those billed
per click, each valid click at the impression's price over the predicted click rate. A valid
billable event that its budget could no longer pay for is counted in `over_budget` instead.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
import orjson
from numpy.random import Generator

from campaigns.audience import DEVICES
from campaigns.targeting import INTEREST_SEGMENTS
from delivery import tracking
from delivery.auction import click_price_micros
from delivery.events import EventKind, emit_many
from delivery.hot import redis_client
from delivery.request import AdRequest, CreativeInfo, Decision, Win
from delivery.simulator import truth
from delivery.simulator.traffic import Traffic
from delivery.simulator.world import KIND_BOT, KIND_CLICK_SPAM

IMPRESSION_RATE = 0.95
CONVERSION_DELAY_MAX_SECONDS = 3 * 86_400.0  # reported within the 7 days conversions are taken
CONVERSIONS_PER_BATCH = 2000
EXPOSURES_TTL_SECONDS = 2 * 86_400
BASE_URL = "https://ads.adwright.test"  # the tracking URLs' host does not matter: the tokens do
SPAM_REPEAT_CLICKS = (1, 4)  # extra fires of a spammer's click URL, at least and at most

log = logging.getLogger(__name__)
_DEVICE_CODE = {name: i for i, (name, _) in enumerate(DEVICES)}
_FORMAT_CODE = {name: i for i, name in enumerate(truth.FORMATS)}


@dataclass(slots=True)
class Tally:
    """What a batch (or a run) of simulated traffic came to."""

    requests: int = 0
    wins: int = 0
    impressions: int = 0  # fired
    valid_impressions: int = 0
    clicks: int = 0  # fired, first fires only
    valid_clicks: int = 0
    conversions: int = 0
    ivt: Counter[str] = field(default_factory=Counter)  # invalid events by reason
    spend: Counter[tuple[int, str]] = field(default_factory=Counter)  # micros by (campaign id, currency)
    # Valid billable events whose charge the budget refused (served at the platform's cost), in micros
    over_budget: Counter[tuple[int, str]] = field(default_factory=Counter)
    campaign_clicks: Counter[int] = field(default_factory=Counter)  # valid clicks by campaign id
    # The truth's click probabilities of the valid impressions, summed by campaign, in millionths of a
    # click: the clicks to expect, without the noise of drawing them.
    expected_clicks: Counter[int] = field(default_factory=Counter)

    def add(self, other: Tally) -> None:
        for name in ("requests", "wins", "impressions", "valid_impressions", "clicks", "valid_clicks",
                     "conversions"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.ivt.update(other.ivt)
        self.spend.update(other.spend)
        self.over_budget.update(other.over_budget)
        self.campaign_clicks.update(other.campaign_clicks)
        self.expected_clicks.update(other.expected_clicks)

    def as_fields(self) -> dict[str, int]:
        """Flat counters, as the delivery loop adds them up in a Redis hash."""
        out = {
            "requests": self.requests, "wins": self.wins, "impressions": self.impressions,
            "valid_impressions": self.valid_impressions, "clicks": self.clicks,
            "valid_clicks": self.valid_clicks, "conversions": self.conversions,
        }  # fmt: skip
        out.update({f"ivt:{reason}": n for reason, n in self.ivt.items()})
        out.update({f"spend:{campaign}:{currency}": n for (campaign, currency), n in self.spend.items()})
        out.update({f"over:{campaign}:{currency}": n for (campaign, currency), n in self.over_budget.items()})
        out.update({f"cclicks:{campaign}": n for campaign, n in self.campaign_clicks.items()})
        out.update({f"xclicks:{campaign}": n for campaign, n in self.expected_clicks.items()})
        return out

    @classmethod
    def from_fields(cls, fields: Mapping[str, int]) -> Tally:
        tally = cls()
        for name, value in fields.items():
            if name.startswith("ivt:"):
                tally.ivt[name.removeprefix("ivt:")] = int(value)
            elif name.startswith("spend:"):
                _, campaign, currency = name.split(":")
                tally.spend[(int(campaign), currency)] = int(value)
            elif name.startswith("over:"):
                _, campaign, currency = name.split(":")
                tally.over_budget[(int(campaign), currency)] = int(value)
            elif name.startswith("cclicks:"):
                tally.campaign_clicks[int(name.removeprefix("cclicks:"))] = int(value)
            elif name.startswith("xclicks:"):
                tally.expected_clicks[int(name.removeprefix("xclicks:"))] = int(value)
            elif name in cls.__dataclass_fields__:
                setattr(tally, name, int(value))
        return tally

    @property
    def ivt_share(self) -> float:
        """Invalid impressions and clicks among all those recorded."""
        recorded = self.impressions + self.clicks
        return sum(self.ivt.values()) / recorded if recorded else 0.0


@dataclass(slots=True)
class Drawn:
    """What the world does with a batch's ads: which impressions fire, and for each fired one (arrays
    aligned with `wins`) its ground truth and what was drawn from it."""

    wins: list[Win]  # the fired ones, in the order of their requests
    requests: list[AdRequest]  # each win's request
    request_of: np.ndarray  # each win's request's index in the traffic
    kind: np.ndarray  # world.KIND_* of each win's person
    exposures: np.ndarray  # the person's earlier impressions of the campaign that (UTC) day
    p_click: np.ndarray
    p_conversion: np.ndarray
    clicked: np.ndarray
    converted: np.ndarray  # only ever where clicked
    impression_delay: np.ndarray  # seconds from the decision to the impression
    click_delay: np.ndarray  # seconds from the impression to the click
    repeats: np.ndarray  # a click spammer's extra fires of the click URL
    conversion_delay: np.ndarray  # seconds from the click to the conversion

    def __len__(self) -> int:
        return len(self.wins)

    def truth_events(self) -> list[dict[str, Any]]:
        """The `truth` event of each fired impression (stored in delivery_truth beside its events)."""
        return [
            {"event_id": win.event_id, "p_click": p_click, "p_conversion": p_conversion, "clicked": clicked,
             "converted": converted}
            for win, p_click, p_conversion, clicked, converted in zip(
                self.wins, self.p_click.tolist(), self.p_conversion.tolist(), self.clicked.tolist(),
                self.converted.tolist(), strict=True,
            )
        ]  # fmt: skip

    @classmethod
    def empty(cls) -> Drawn:
        none = np.zeros(0, dtype=np.int64)
        never = np.zeros(0, dtype=bool)
        no_time = np.zeros(0, dtype=np.float64)
        return cls([], [], none, none, none, no_time, no_time, never, never, no_time, no_time, none, no_time)


def draw(
    seed: int,
    traffic: Traffic,
    decisions: Sequence[Decision],
    creatives: Mapping[int, CreativeInfo],
    rng: Generator,
) -> Drawn:
    """Draw the outcomes of the decisions' wins (one decision per request of `traffic`, in order).

    Counts each fired impression in the person's exposures (Redis, per world seed), which the truth's
    fatigue reads. The draws from `rng` come in a fixed order, so a seeded batch always plays the same.
    """
    rows = [(i, win) for i, decision in enumerate(decisions) for win in decision.wins]
    fired = [
        (i, win) for (i, win), draw in zip(rows, rng.random(len(rows)), strict=True) if draw < IMPRESSION_RATE
    ]
    if not fired:
        return Drawn.empty()
    request_of = np.array([i for i, _ in fired], dtype=np.int64)
    wins = [win for _, win in fired]
    requests = [decisions[i].request for i in request_of.tolist()]
    exposures = _count_exposures(seed, [r.user_key for r in requests], [r.at for r in requests], wins)

    n = len(wins)
    click_noise = rng.normal(0.0, truth.CLICK_NOISE_SD, n)
    conversion_noise = rng.normal(0.0, truth.CONVERSION_NOISE_SD, n)
    p_click, p_conversion = probabilities(
        seed, traffic, request_of, wins, creatives,
        exposures=exposures, click_noise=click_noise, conversion_noise=conversion_noise,
    )  # fmt: skip
    kind = traffic.kind[request_of]
    clicked = rng.random(n) < p_click
    converted = clicked & (rng.random(n) < p_conversion)

    impression_delay = rng.uniform(0.3, 2.5, n)
    # People read before they click (seconds to a minute); spammers click at once, and again.
    click_delay = np.where(kind == KIND_CLICK_SPAM, rng.uniform(0.05, 0.4, n), rng.lognormal(2.0, 0.8, n))
    repeats = rng.integers(SPAM_REPEAT_CLICKS[0], SPAM_REPEAT_CLICKS[1] + 1, n)
    conversion_delay = np.minimum(rng.lognormal(np.log(1800.0), 1.5, n), CONVERSION_DELAY_MAX_SECONDS)
    return Drawn(
        wins=wins,
        requests=requests,
        request_of=request_of,
        kind=kind,
        exposures=exposures,
        p_click=p_click,
        p_conversion=p_conversion,
        clicked=clicked,
        converted=converted,
        impression_delay=impression_delay,
        click_delay=click_delay,
        repeats=repeats,
        conversion_delay=conversion_delay,
    )


def probabilities(
    seed: int,
    traffic: Traffic,
    request_of: np.ndarray,
    wins: Sequence[Win],
    creatives: Mapping[int, CreativeInfo],
    *,
    exposures: np.ndarray,
    click_noise: np.ndarray,
    conversion_noise: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The truth's click and conversion probabilities of ads shown: `wins[j]` to the request at
    `request_of[j]` of `traffic`, the person having seen its campaign `exposures[j]` times that day."""
    requests = [traffic.requests[i] for i in request_of.tolist()]
    infos = [creatives.get(win.creative_id) for win in wins]
    category = np.array(
        [truth.category_code(info) if info is not None else -1 for info in infos], dtype=np.int64
    )
    interest_match = np.array(
        [
            c >= 0 and INTEREST_SEGMENTS[c] in r.context.interests
            for c, r in zip(category.tolist(), requests, strict=True)
        ],
        dtype=bool,
    )
    topic_match = category == traffic.page_topic[request_of]
    device = np.array([_DEVICE_CODE.get(r.context.device_type, 0) for r in requests], dtype=np.int64)
    fmt = np.array(
        [_FORMAT_CODE.get(_format(info, r), 0) for info, r in zip(infos, requests, strict=True)],
        dtype=np.int64,
    )
    creative_ids = [win.creative_id for win in wins]
    p_click = truth.p_click(
        format_code=fmt,
        interest_match=interest_match,
        topic_match=topic_match,
        placement_effect=truth.placement_effects(seed, [win.placement_id or 0 for win in wins]),
        device_code=device,
        local_hour=traffic.local_hour[request_of],
        exposures=exposures,
        creative_effect=truth.creative_quality(seed, creative_ids),
        noise=click_noise,
    )
    p_conversion = truth.p_conversion(
        interest_match=interest_match,
        topic_match=topic_match,
        device_code=device,
        age_band=traffic.age_band[request_of],
        campaign_effect=truth.campaign_conversion_effects(seed, [win.campaign_id for win in wins]),
        creative_effect=truth.creative_conversion_effects(seed, creative_ids),
        noise=conversion_noise,
    )
    # Invalid traffic has its own truth: crawlers and click spammers never convert.
    kind = traffic.kind[request_of]
    p_click = np.where(
        kind == KIND_BOT, truth.BOT_CTR, np.where(kind == KIND_CLICK_SPAM, truth.SPAM_CTR, p_click)
    )
    p_conversion = np.where((kind == KIND_CLICK_SPAM) | (kind == KIND_BOT), 0.0, p_conversion)
    return p_click, p_conversion


def simulate(
    seed: int,
    traffic: Traffic,
    decisions: Sequence[Decision],
    creatives: Mapping[int, CreativeInfo],
    rng: Generator,
    *,
    base_url: str = BASE_URL,
) -> Tally:
    """Fire the impressions and clicks of the decisions (one per request of `traffic`, in order)."""
    tally = Tally(requests=len(decisions), wins=sum(len(decision.wins) for decision in decisions))
    if decisions:
        report_due_conversions(seed, max(d.request.at for d in decisions))
    drawn = draw(seed, traffic, decisions, creatives, rng)
    if not drawn.wins:
        return tally
    kind, requests, clicked, converted = drawn.kind, drawn.requests, drawn.clicked, drawn.converted
    due: list[tuple[Win, datetime]] = []
    for j, win in enumerate(drawn.wins):
        request = requests[j]
        ctx = request.context
        urls = tracking.tracking_urls(win, base_url, user_key=request.user_key)
        shown_at = request.at + timedelta(seconds=float(drawn.impression_delay[j]))
        impression = tracking.record_impression(
            token_from_url(urls.impression_url), ip=ctx.ip, user_agent=ctx.user_agent, at=shown_at
        )
        tally.impressions += impression.recorded
        if impression.counted:
            tally.valid_impressions += 1
            tally.expected_clicks[win.campaign_id] += round(float(drawn.p_click[j]) * 1_000_000)
            if win.billing_event == "impression":
                if impression.charged_micros:
                    tally.spend[(win.campaign_id, win.currency)] += impression.charged_micros
                elif win.price_micros:
                    tally.over_budget[(win.campaign_id, win.currency)] += win.price_micros
        elif impression.recorded:
            tally.ivt[impression.ivt_reason] += 1
        if clicked[j]:
            click_at = shown_at + timedelta(seconds=float(drawn.click_delay[j]))
            fires = 1 + (int(drawn.repeats[j]) if kind[j] == KIND_CLICK_SPAM else 0)
            for fire in range(fires):
                click = tracking.record_click(
                    token_from_url(urls.click_url),
                    ip=ctx.ip,
                    user_agent=ctx.user_agent,
                    at=click_at + timedelta(seconds=0.1 * fire),
                )
                if not click.recorded:
                    continue
                tally.clicks += 1
                if click.counted:
                    tally.valid_clicks += 1
                    tally.campaign_clicks[win.campaign_id] += 1
                    if win.billing_event == "click":
                        if click.charged_micros:
                            tally.spend[(win.campaign_id, win.currency)] += click.charged_micros
                        else:
                            tally.over_budget[(win.campaign_id, win.currency)] += cost_per_click_micros(win)
                else:
                    tally.ivt[click.ivt_reason] += 1
        tally.conversions += int(converted[j])
        if converted[j] and clicked[j]:
            due.append((win, click_at + timedelta(seconds=float(drawn.conversion_delay[j]))))
    emit_many((EventKind.TRUTH, event) for event in drawn.truth_events())
    if due:
        queue_conversions(seed, due, rng)
    return tally


# Conversions, reported by the advertisers' postbacks at their own time ----------------------------


def _conversions_key(seed: int) -> str:
    return f"adwright:sim:{seed}:conversions"


_events_cache: dict[int, tuple[float, int | None]] = {}
_EVENTS_TTL_SECONDS = 60.0


def conversion_event_id(campaign_id: int) -> int | None:
    """The conversion event the campaign's advertiser reports (None: it tracks no conversions)."""
    now = time.monotonic()
    cached = _events_cache.get(campaign_id)
    if cached is not None and now - cached[0] < _EVENTS_TTL_SECONDS:
        return cached[1]
    from campaigns.models import Campaign, ConversionEvent

    campaign = Campaign.objects.filter(pk=campaign_id).values("conversion_event_id", "advertiser_id").first()
    event_id = None
    if campaign is not None:
        event_id = campaign["conversion_event_id"] or (
            ConversionEvent.objects.filter(advertiser_id=campaign["advertiser_id"], is_active=True)
            .order_by("pk")
            .values_list("pk", flat=True)
            .first()
        )
    _events_cache[campaign_id] = (now, event_id)
    return event_id


def queue_conversions(seed: int, due: Sequence[tuple[Win, datetime]], rng: Generator) -> None:
    """Hold conversions until the simulated clock reaches them (report_due_conversions)."""
    pipe = redis_client().pipeline(transaction=False)
    values = rng.lognormal(np.log(40.0), 0.8, len(due))
    for (win, at), value in zip(due, values, strict=True):
        event = conversion_event_id(win.campaign_id)
        if event is None:
            continue
        member = orjson.dumps(
            {
                "event": event,
                "event_id": f"sim-{win.event_id}",
                "click_id": win.event_id,
                "at": at.timestamp(),
                "value": f"{value:.2f}",
            }
        )
        pipe.zadd(_conversions_key(seed), {member: at.timestamp()})
    pipe.execute()


def report_due_conversions(seed: int, until: datetime) -> int:
    """Post every queued conversion whose time has come; returns how many were new. Each is taken by
    one worker only (ZREM decides), and a postback sent twice would be a duplicate anyway."""
    from campaigns.models import ConversionEvent

    client = redis_client()
    key = _conversions_key(seed)
    members = cast(
        "list[bytes]",
        client.zrangebyscore(key, "-inf", until.timestamp(), start=0, num=CONVERSIONS_PER_BATCH),
    )
    if not members:
        return 0
    pipe = client.pipeline(transaction=False)
    for member in members:
        pipe.zrem(key, member)
    mine = [member for member, removed in zip(members, pipe.execute(), strict=True) if removed]
    events = ConversionEvent.objects.select_related("advertiser").in_bulk(
        {orjson.loads(m)["event"] for m in mine}
    )
    new = 0
    for member in mine:
        data = orjson.loads(member)
        event = events.get(data["event"])
        if event is None or not event.is_active:
            continue
        occurred_at = datetime.fromtimestamp(data["at"], tz=UTC)
        new += post_conversion(event, data["event_id"], occurred_at, data["value"], data["click_id"])
    return new


def post_conversion(event: Any, event_id: str, occurred_at: datetime, value: str, click_id: str) -> bool:
    """Report a simulated conversion as the advertiser's server would, by postback at its own time
    (the simulator's clock); whether it was new. One the endpoint refuses is logged."""
    from delivery.conversions import ConversionError, receive

    try:
        received = receive(
            event=event, event_id=event_id, occurred_at=occurred_at, value=value, currency=None,
            click_id=click_id, user_key=None, source="postback", now=occurred_at,
        )  # fmt: skip
    except ConversionError as exc:
        log.info("simulated conversion refused: %s", exc)
        return False
    return not received.duplicate


def cost_per_click_micros(win: Win) -> int:
    """A click's price for an ad group billed per click (delivery.auction.click_price_micros)."""
    return click_price_micros(win.price_micros, win.pctr)


def token_from_url(url: str) -> str:
    """The signed token of an impression (`/t/v1/i/<token>.gif`) or click (`/t/v1/c/<token>`) URL."""
    return url.rsplit("/", 1)[-1].split("?", 1)[0].removesuffix(".gif")


def _format(info: CreativeInfo | None, request: Any) -> str:
    if info is not None:
        return info.format
    formats = request.slots[0].formats if request.slots else frozenset()
    return next(iter(formats), "banner")


def _count_exposures(seed: int, user_keys: list[str], ats: list[Any], wins: list[Win]) -> np.ndarray:
    """Each person's earlier impressions of the campaign on the same (UTC) day, this one counted in.

    One Redis round trip for the batch: HINCRBY answers the count with this impression.
    """
    keys = [
        f"adwright:sim:{seed}:exposures:{at:%Y%m%d}:{user_key}"
        for user_key, at in zip(user_keys, ats, strict=True)
    ]
    pipe = redis_client().pipeline(transaction=False)
    for key, win in zip(keys, wins, strict=True):
        pipe.hincrby(key, str(win.campaign_id), 1)
    for key in dict.fromkeys(keys):  # each person's key once, after its counts
        pipe.expire(key, EXPOSURES_TTL_SECONDS)
    replies = pipe.execute()
    return np.array(replies[: len(keys)], dtype=np.int64) - 1
