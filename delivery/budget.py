"""Budgets on the serving path: charges checked and counted in Redis, written to the ledger, reconciled.

The authority is the ledger in PostgreSQL (campaigns.models.LedgerEntry); Redis holds what serving
must read and change in microseconds, per campaign (the `{c<id>}` hash tag keeps a campaign's keys
together):

- `adwright:budget:{c<id>}`: the caps (`daily`, `lifetime`: micros, "" for none), the `reserve` kept
  for cost still outstanding, the advertiser's `tz`, and `loaded`;
- `adwright:spend:{c<id>}:d:<YYYY-MM-DD>` and `adwright:spend:{c<id>}:total`: gross micros charged
  on the advertiser's day, and ever;
- `adwright:charged:{c<id>}:<event id>`: the event's charge decision (1 charged, 0 refused).

A charge (`charge`) is one Lua script, atomic in Redis: a decision already taken for the event is
answered again (idempotent); otherwise the amount is accepted only if it fits under both caps, the
counters move, and the billable event goes on the event stream together with its `charge` entry in
the same script, so that a process killed at any point leaves either both or neither. Ingestion
writes the charge into the ledger, whose unique event id makes a second write nothing.

When the room left under a cap falls below the campaign's reserve (the cost of ads already shown
whose billable events may still come: clicks on CPC ads, pixels still loading), the script stops the
campaign in `adwright:gate:stop` until the advertiser's next midnight (daily) or for good
(lifetime); delivery.gate reads it before every auction. A budget saved in the Ads Manager, the API
or the admin is written to Redis at once (`sync_budget`): a lower cap before the transaction commits
(so no charge above it is accepted after the commit), the new one after it.

`reconcile` (Celery beat, every minute) makes Redis agree with the ledger: it snapshots the counters
together with the stream's last entry id in one script, waits until ingestion has written everything
up to that entry, and moves each counter by its difference from the ledger (an increment, so charges
made meanwhile are kept). Redis that lost its data is rebuilt from the ledger (`load_budget`, on the
first charge that finds no budget). Whatever the ledger shows charged over a cap becomes a credit
entry: over a day's highest daily budget, or over the lifetime budget.

The published daily bound: an advertiser is never charged more than the day's highest daily budget
(nor, ever, more than the lifetime budget); ads served while the last billable events were in flight
are at the platform's cost, which the pacing benchmark measures (at most 1% of the budget).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import IntEnum
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import redis
from django.db import connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone
from redis.client import Pipeline

from campaigns.models import Campaign, CampaignDay, LedgerEntry
from campaigns.models.budget import spend_and_today
from delivery.events import STREAM, STREAM_MAX_LENGTH, EventKind, add_events
from delivery.hot import redis_client

log = logging.getLogger(__name__)

CAMPAIGNS_KEY = "adwright:budget:campaigns"  # the set of campaign ids with a loaded budget
STOP_KEY = "adwright:gate:stop"  # campaign id -> epoch ms until which it may not bid ("0": for good)
GATE_VERSION_KEY = "adwright:gate:version"  # moved on every change of the stops and pacing rates
DAY_KEY_TTL_SECONDS = 3 * 86_400
# A charge's decision is remembered as long as its click may still come (the click URL's 7 days).
CHARGED_TTL_SECONDS = 8 * 86_400
CREDIT_NAMESPACE = uuid.UUID("6b0d7a52-3c0e-4a43-9d38-9c1f0e3a3f10")
_EPOCH = datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC"))


def budget_key(campaign_id: int) -> str:
    return f"adwright:budget:{{c{campaign_id}}}"


def day_key(campaign_id: int, day: date) -> str:
    return f"adwright:spend:{{c{campaign_id}}}:d:{day.isoformat()}"


def total_key(campaign_id: int) -> str:
    return f"adwright:spend:{{c{campaign_id}}}:total"


def charged_key(campaign_id: int, event_id: str) -> str:
    return f"adwright:charged:{{c{campaign_id}}}:{event_id}"


# ---------------------------------------------------------------------------------------------------
# The scripts

# KEYS: budget, day, total, charged, stream, stop, gate version
# ARGV: amount, charged ttl, day ttl, stream maxlen, event kind, event json, charge json,
#       campaign id, stop-until ms (the advertiser's next midnight)
# Returns {status, spent today, spent total}: 1 charged, 0 refused (over a cap), 2 already decided
# (then the stored decision is the second element), -1 budget not loaded.
_CHARGE = """
local budget = redis.call('HMGET', KEYS[1], 'daily', 'lifetime', 'reserve', 'loaded')
if not budget[4] then return {-1, 0, 0} end
local decided = redis.call('GET', KEYS[4])
if decided then return {2, tonumber(decided), 0} end
local amount = tonumber(ARGV[1])
local day = tonumber(redis.call('GET', KEYS[2]) or '0')
local total = tonumber(redis.call('GET', KEYS[3]) or '0')
local daily = tonumber(budget[1] or '')
local lifetime = tonumber(budget[2] or '')
local reserve = tonumber(budget[3] or '0') or 0
local ok = 1
if daily and day + amount > daily then ok = 0 end
if lifetime and total + amount > lifetime then ok = 0 end
redis.call('SET', KEYS[4], ok, 'EX', ARGV[2])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[4], '*', 'kind', ARGV[5], 'data', ARGV[6])
if ok == 1 then
  day = redis.call('INCRBY', KEYS[2], amount)
  redis.call('EXPIRE', KEYS[2], ARGV[3])
  total = redis.call('INCRBY', KEYS[3], amount)
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[4], '*', 'kind', 'charge', 'data', ARGV[7])
end
local stop = nil
if lifetime and (lifetime - total <= reserve or ok == 0 and lifetime - total < amount) then
  stop = '0'
elseif daily and (daily - day <= reserve or ok == 0) then
  stop = ARGV[9]
end
if stop and redis.call('HGET', KEYS[6], ARGV[8]) ~= stop then
  redis.call('HSET', KEYS[6], ARGV[8], stop)
  redis.call('INCR', KEYS[7])
end
return {ok, day, total}
"""

# KEYS: budget, day, total, stop, gate version, campaigns set
# ARGV: daily, lifetime, reserve ("" keeps the stored one), tz, campaign id, stop-until ms,
#       day spend, total spend, only-if-lower, initialise counters (1: set them when missing)
# Writes the caps and re-decides the stop. With only-if-lower, a cap is replaced only by a lower one
# (before a transaction commits, nothing may be loosened).
_SYNC = """
local function lower(new, old)
  if new == '' then return old == '' end
  if old == '' or old == false then return true end
  return tonumber(new) <= tonumber(old)
end
if ARGV[10] == '1' then
  redis.call('SET', KEYS[2], ARGV[7], 'NX', 'EX', 259200)
  redis.call('SET', KEYS[3], ARGV[8], 'NX')
end
local old = redis.call('HMGET', KEYS[1], 'daily', 'lifetime')
local daily, lifetime = ARGV[1], ARGV[2]
if ARGV[9] == '1' then
  if not lower(daily, old[1] or '') then daily = old[1] or '' end
  if not lower(lifetime, old[2] or '') then lifetime = old[2] or '' end
end
local reserve = ARGV[3]
if reserve == '' then reserve = redis.call('HGET', KEYS[1], 'reserve') or '0' end
redis.call('HSET', KEYS[1], 'daily', daily, 'lifetime', lifetime, 'reserve', reserve,
  'tz', ARGV[4], 'loaded', '1')
redis.call('SADD', KEYS[6], ARGV[5])
local day = tonumber(redis.call('GET', KEYS[2]) or '0')
local total = tonumber(redis.call('GET', KEYS[3]) or '0')
reserve = tonumber(reserve) or 0
local d, l = tonumber(daily), tonumber(lifetime)
local stop = false
if l and l - total <= reserve then stop = '0' elseif d and d - day <= reserve then stop = ARGV[6] end
local current = redis.call('HGET', KEYS[4], ARGV[5])
if stop and current ~= stop then
  redis.call('HSET', KEYS[4], ARGV[5], stop)
  redis.call('INCR', KEYS[5])
elseif not stop and current then
  redis.call('HDEL', KEYS[4], ARGV[5])
  redis.call('INCR', KEYS[5])
end
return {day, total}
"""

# KEYS: the stream, then pairs (day, total) per campaign. Returns the stream's last id, then the pairs.
_SNAPSHOT = """
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local out = {last[1] and last[1][1] or '0-0'}
for i = 2, #KEYS do
  out[#out + 1] = redis.call('GET', KEYS[i]) or '0'
end
return out
"""


class Status(IntEnum):
    REFUSED = 0
    CHARGED = 1
    ALREADY = 2
    NOT_LOADED = -1


@dataclass(frozen=True, slots=True)
class Charge:
    """The outcome of charging one billable event."""

    event_id: str
    charged: bool  # this event is charged (now or by an earlier call)
    duplicate: bool  # the decision was taken before; nothing changed
    amount_micros: int
    spent_today_micros: int
    spent_total_micros: int


# ---------------------------------------------------------------------------------------------------
# What a campaign's charges need to know about it


@dataclass(frozen=True, slots=True)
class CampaignBudget:
    campaign_id: int
    advertiser_id: int
    currency: str
    tz: str
    budget_type: str
    budget_micros: int
    ends_at: datetime | None
    billing_click: bool  # any ad group billed per click: outstanding cost lasts longer

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def daily_cap(self) -> int | None:
        return self.budget_micros if self.budget_type == Campaign.BudgetType.DAILY else None

    @property
    def lifetime_cap(self) -> int | None:
        return self.budget_micros if self.budget_type == Campaign.BudgetType.LIFETIME else None


_INFO_TTL_SECONDS = 30.0
_info_cache: dict[int, tuple[float, CampaignBudget]] = {}


def campaign_budget(campaign_id: int, *, fresh: bool = False) -> CampaignBudget | None:
    """The campaign's budget facts, cached per process for half a minute (the caps themselves are
    read from Redis on every charge, so a cached value here never lets a charge through)."""
    now = time.monotonic()
    cached = _info_cache.get(campaign_id)
    if cached is not None and not fresh and now - cached[0] < _INFO_TTL_SECONDS:
        return cached[1]
    budgets = read_budgets([campaign_id])
    info = budgets.get(campaign_id)
    if info is not None:
        _info_cache[campaign_id] = (now, info)
    return info


def read_budgets(campaign_ids: Iterable[int]) -> dict[int, CampaignBudget]:
    rows = Campaign.objects.filter(pk__in=list(campaign_ids)).values_list(
        "id", "advertiser_id", "advertiser__currency", "advertiser__time_zone", "budget_type",
        "budget_micros", "ends_at",
    )  # fmt: skip
    ids = [row[0] for row in rows]
    click_billed = set(
        Campaign.objects.filter(pk__in=ids, ad_groups__billing_event="click").values_list("id", flat=True)
    )
    return {row[0]: CampaignBudget(*row, billing_click=row[0] in click_billed) for row in rows}


def local_day(at: datetime, tz: ZoneInfo | str) -> date:
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    return at.astimezone(zone).date()


def next_midnight_ms(at: datetime, tz: ZoneInfo | str) -> int:
    """The epoch milliseconds of the advertiser's next local midnight after `at`."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    local = at.astimezone(zone)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), zone)
    return int(midnight.timestamp() * 1000)


# ---------------------------------------------------------------------------------------------------
# Charging


def charge(
    *,
    event_id: str,
    campaign_id: int,
    ad_group_id: int,
    creative_id: int,
    amount_micros: int,
    reason: str,
    at: datetime,
    event_kind: EventKind,
    event: Mapping[str, Any],
    client: redis.Redis | None = None,
    also: Callable[[Pipeline], None] | None = None,
) -> Charge:
    """Charge one billable event and put it on the event stream, atomically, once per event id.

    `event` is the impression or click event itself (delivery.events): it goes on the stream whether
    or not the charge is accepted. Raises nothing for a campaign that no longer exists: the event is
    recorded and nothing is charged. `also` adds commands to the same Redis round trip.
    """
    client = client or redis_client()
    info = campaign_budget(campaign_id)
    if info is None or amount_micros <= 0:
        pipe = client.pipeline(transaction=False)
        add_events(pipe, [(event_kind, event)])
        if also is not None:
            also(pipe)
        pipe.execute()
        return Charge(event_id, False, False, 0, 0, 0)
    day = local_day(at, info.zone)
    entry = {
        "event_id": event_id,
        "kind": LedgerEntry.Kind.CHARGE.value,
        "reason": reason,
        "advertiser_id": info.advertiser_id,
        "campaign_id": campaign_id,
        "ad_group_id": ad_group_id,
        "creative_id": creative_id,
        "amount_micros": amount_micros,
        "currency": info.currency,
        "day": day.isoformat(),
        "at": int(at.timestamp() * 1000),
    }
    keys = [
        budget_key(campaign_id),
        day_key(campaign_id, day),
        total_key(campaign_id),
        charged_key(campaign_id, event_id),
        STREAM,
        STOP_KEY,
        GATE_VERSION_KEY,
    ]
    args = [
        amount_micros,
        CHARGED_TTL_SECONDS,
        DAY_KEY_TTL_SECONDS,
        STREAM_MAX_LENGTH,
        event_kind.value,
        orjson.dumps(dict(event)),
        orjson.dumps(entry),
        campaign_id,
        next_midnight_ms(at, info.zone),
    ]
    for attempt in range(2):
        pipe = client.pipeline(transaction=False)
        _script(client, _CHARGE)(keys=keys, args=args, client=pipe)
        if also is not None and attempt == 0:
            also(pipe)
        status, first, second = pipe.execute()[0]
        if status != Status.NOT_LOADED:
            break
        load_budget(campaign_id, client=client, at=at)
    else:  # pragma: no cover - load_budget always leaves the budget loaded
        raise RuntimeError(f"the budget of campaign {campaign_id} could not be loaded into Redis")
    if status == Status.ALREADY:
        return Charge(event_id, bool(first), True, amount_micros if first else 0, 0, 0)
    charged = status == Status.CHARGED
    return Charge(event_id, charged, False, amount_micros if charged else 0, int(first), int(second))


_scripts: dict[tuple[int, str], Any] = {}


def _script(client: redis.Redis, source: str) -> Any:
    key = (id(client), source)
    script = _scripts.get(key)
    if script is None:
        script = _scripts[key] = client.register_script(source)
    return script


# ---------------------------------------------------------------------------------------------------
# Budgets into Redis


def load_budget(campaign_id: int, *, client: redis.Redis | None = None, at: datetime | None = None) -> None:
    """Put the campaign's caps in Redis, with its counters rebuilt from the ledger where they are
    missing (a Redis that lost its data)."""
    client = client or redis_client()
    info = campaign_budget(campaign_id, fresh=True)
    if info is None:
        return
    at = at or timezone.now()
    day = local_day(at, info.zone)
    spent_day, spent_total = ledger_spend(campaign_id, day)
    _sync(client, info, at, only_if_lower=False, counters=(spent_day, spent_total))


def sync_budget(campaign: Campaign) -> None:
    """A campaign's budget or status was saved: Redis follows at once.

    Called inside the saving transaction. A lower cap is written now (a charge accepted between the
    commit and an on-commit hook would be one too many); the saved values once the commit is done.
    """
    client = redis_client()
    campaign_id = campaign.pk
    previous_cap: int | None = None
    loaded = False
    try:
        loaded = bool(client.sismember(CAMPAIGNS_KEY, str(campaign_id)))
        if loaded:
            stored = client.hget(budget_key(campaign_id), "daily")
            previous_cap = int(stored) if stored else None
            info = _budget_of(campaign)
            _sync(client, info, timezone.now(), only_if_lower=True)
    except (redis.RedisError, OSError) as exc:
        log.warning("budget of campaign %s not lowered in Redis before commit: %s", campaign_id, exc)

    def after_commit() -> None:
        # A campaign Redis does not know has not been charged since Redis last lost its data: its
        # first charge loads the saved budget, and there is no day's cap to keep yet.
        try:
            _info_cache.pop(campaign_id, None)
            if loaded or client.sismember(CAMPAIGNS_KEY, str(campaign_id)):
                info = campaign_budget(campaign_id, fresh=True)
                if info is not None:
                    _sync(client, info, timezone.now(), only_if_lower=False)
                record_cap(campaign_id, previous_cap=previous_cap)
        except (redis.RedisError, OSError) as exc:
            log.warning("budget of campaign %s not written to Redis: %s", campaign_id, exc)

    transaction.on_commit(after_commit)


def _budget_of(campaign: Campaign) -> CampaignBudget:
    cached = _info_cache.get(campaign.pk)
    advertiser = campaign.advertiser
    return CampaignBudget(
        campaign_id=campaign.pk,
        advertiser_id=campaign.advertiser_id,
        currency=advertiser.currency,
        tz=advertiser.time_zone,
        budget_type=campaign.budget_type,
        budget_micros=campaign.budget_micros,
        ends_at=campaign.ends_at,
        billing_click=cached[1].billing_click if cached else False,
    )


def _sync(
    client: redis.Redis,
    info: CampaignBudget,
    at: datetime,
    *,
    only_if_lower: bool,
    counters: tuple[int, int] | None = None,
    reserve: int | None = None,
) -> tuple[int, int]:
    day = local_day(at, info.zone)
    cid = info.campaign_id
    daily, lifetime = info.daily_cap, info.lifetime_cap
    spent = counters or (0, 0)
    day_spend, total_spend = _script(client, _SYNC)(
        keys=[budget_key(cid), day_key(cid, day), total_key(cid), STOP_KEY, GATE_VERSION_KEY, CAMPAIGNS_KEY],
        args=[
            "" if daily is None else daily,
            "" if lifetime is None else lifetime,
            "" if reserve is None else reserve,
            info.tz,
            cid,
            next_midnight_ms(at, info.zone),
            spent[0],
            spent[1],
            "1" if only_if_lower else "0",
            "1" if counters is not None else "0",
        ],
    )
    return int(day_spend), int(total_spend)


def record_cap(campaign_id: int, at: datetime | None = None, *, previous_cap: int | None = None) -> None:
    """Keep the highest daily budget in force on the campaign's current day (a day never costs more):
    the budget now, and `previous_cap`, the one it replaced."""
    info = campaign_budget(campaign_id)
    if info is None or info.daily_cap is None:
        return
    cap = max(info.daily_cap, previous_cap or 0)
    day = local_day(at or timezone.now(), info.zone)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO campaigns_campaignday
                (campaign_id, day, cap_micros, budget_micros, spent_micros, planned_micros, rate,
                 stopped, hourly_plan, hourly_spent, updated_at)
            VALUES (%s, %s, %s, %s, 0, 0, 1.0, false, '[]', '[]', now())
            ON CONFLICT (campaign_id, day) DO UPDATE
                SET cap_micros = GREATEST(COALESCE(campaigns_campaignday.cap_micros, 0), EXCLUDED.cap_micros)
            """,
            [campaign_id, day, cap, info.daily_cap],
        )


# ---------------------------------------------------------------------------------------------------
# The ledger's view


def ledger_spends(days: Mapping[int, date]) -> dict[int, tuple[int, int]]:
    """Gross charges of each campaign on its advertiser's `days[campaign id]`, and ever (what Redis
    counts), in one query."""
    sums = spend_and_today(days)
    return {
        cid: (sums[cid][1].charged_micros, sums[cid][0].charged_micros) if cid in sums else (0, 0)
        for cid in days
    }


def ledger_spend(campaign_id: int, day: date) -> tuple[int, int]:
    return ledger_spends({campaign_id: day})[campaign_id]


# ---------------------------------------------------------------------------------------------------
# Reconciliation


@dataclass(slots=True)
class Reconciled:
    campaigns: int = 0
    adjusted: int = 0  # counters moved to agree with the ledger
    credits: int = 0
    credited_micros: int = 0
    caught_up: bool = True


def reconcile(*, at: datetime | None = None, wait_seconds: float = 20.0) -> Reconciled:
    """Make Redis agree with the ledger, and credit what was charged over a cap."""
    from delivery import ingest

    client = redis_client()
    at = at or timezone.now()
    result = Reconciled()
    loaded = {int(member) for member in client.smembers(CAMPAIGNS_KEY)}
    active = set(Campaign.objects.filter(status=Campaign.Status.ACTIVE).values_list("id", flat=True))
    budgets = read_budgets(loaded | active)
    for campaign_id in loaded - set(budgets):
        client.srem(CAMPAIGNS_KEY, campaign_id)  # the campaign is gone
    for campaign_id in sorted(active - loaded):
        load_budget(campaign_id, client=client, at=at)  # a Redis that lost them: rebuilt from the ledger
    ids = sorted(budgets)
    result.campaigns = len(ids)
    days = {cid: local_day(at, budgets[cid].zone) for cid in ids}
    keys = [STREAM]
    for cid in ids:
        keys += [day_key(cid, days[cid]), total_key(cid)]
    last_id, *values = _script(client, _SNAPSHOT)(keys=keys, args=[])
    if not ingest.caught_up_to(last_id, seconds=wait_seconds):
        result.caught_up = False
        log.warning("budget reconciliation skipped: ingestion is behind the stream")
        return result
    if ids:
        spends = ledger_spends(days)
        pipe = client.pipeline(transaction=False)
        for position, cid in enumerate(ids):
            in_redis = (int(values[2 * position]), int(values[2 * position + 1]))
            in_ledger = spends[cid]
            for key, ledger, redis_value in (
                (day_key(cid, days[cid]), in_ledger[0], in_redis[0]),
                (total_key(cid), in_ledger[1], in_redis[1]),
            ):
                if ledger != redis_value:
                    pipe.incrby(key, ledger - redis_value)
                    result.adjusted += 1
                    log.warning(
                        "campaign %s: Redis counted %s, the ledger %s; corrected", cid, redis_value, ledger
                    )
            pipe.expire(day_key(cid, days[cid]), DAY_KEY_TTL_SECONDS)
        pipe.execute()
        for cid in ids:  # the stops follow the corrected counters
            _sync(client, budgets[cid], at, only_if_lower=False)
    credits = credit_overspend(at=at)
    result.credits = len(credits)
    result.credited_micros = sum(entry.amount_micros for entry in credits)
    return result


def credit_overspend(
    *, at: datetime | None = None, campaign_ids: Iterable[int] | None = None
) -> list[LedgerEntry]:
    """Credit entries for whatever the ledger shows charged over a cap that are not credited yet.

    Daily: over the day's highest daily budget (CampaignDay.cap_micros, or the budget itself for a
    day without a record), for the last two days of each campaign's ledger. Lifetime: over the
    lifetime budget. Each credit's id is derived from what it brings the credited total to, so that
    running this twice credits once."""
    at = at or timezone.now()
    entries = LedgerEntry.objects.all()
    if campaign_ids is not None:
        entries = entries.filter(campaign_id__in=list(campaign_ids))
    recent = at.date() - timedelta(days=2)
    per_day = (
        entries.filter(day__gte=recent)
        .values("campaign_id", "day")
        .annotate(
            charged=Sum("amount_micros", filter=Q(kind=LedgerEntry.Kind.CHARGE)),
            credited=Sum(
                "amount_micros",
                filter=Q(kind=LedgerEntry.Kind.CREDIT, reason=LedgerEntry.Reason.OVER_DAILY_BUDGET),
            ),
        )
    )
    per_day_rows = list(per_day)
    budgets = read_budgets({row["campaign_id"] for row in per_day_rows})
    caps = {
        (row.campaign_id, row.day): row.cap_micros
        for row in CampaignDay.objects.filter(
            campaign_id__in=list(budgets), day__gte=recent, cap_micros__isnull=False
        )
    }
    new: list[LedgerEntry] = []
    for row in per_day_rows:
        info = budgets.get(row["campaign_id"])
        if info is None or info.daily_cap is None:
            continue
        cap = max(caps.get((info.campaign_id, row["day"]), 0) or 0, info.daily_cap)
        over = int(row["charged"] or 0) - int(row["credited"] or 0) - cap
        if over > 0:
            credited_after = int(row["credited"] or 0) + over
            new.append(
                _credit(info, row["day"], over, LedgerEntry.Reason.OVER_DAILY_BUDGET, credited_after, at)
            )
    lifetime = (
        entries.filter(campaign__budget_type=Campaign.BudgetType.LIFETIME)
        .values("campaign_id")
        .annotate(
            charged=Sum("amount_micros", filter=Q(kind=LedgerEntry.Kind.CHARGE)),
            credited=Sum("amount_micros", filter=Q(kind=LedgerEntry.Kind.CREDIT)),
        )
    )
    lifetime_rows = list(lifetime)
    budgets.update(read_budgets({row["campaign_id"] for row in lifetime_rows} - set(budgets)))
    for row in lifetime_rows:
        info = budgets.get(row["campaign_id"])
        if info is None or info.lifetime_cap is None:
            continue
        over = int(row["charged"] or 0) - int(row["credited"] or 0) - info.lifetime_cap
        if over > 0:
            credited_after = int(row["credited"] or 0) + over
            new.append(
                _credit(
                    info,
                    local_day(at, info.zone),
                    over,
                    LedgerEntry.Reason.OVER_LIFETIME_BUDGET,
                    credited_after,
                    at,
                )
            )
    if new:
        LedgerEntry.objects.bulk_create(new, ignore_conflicts=True)
    return new


def _credit(
    info: CampaignBudget, day: date, amount: int, reason: str, credited_after: int, at: datetime
) -> LedgerEntry:
    name = f"{info.campaign_id}:{day.isoformat()}:{reason}:{credited_after}"
    return LedgerEntry(
        event_id=uuid.uuid5(CREDIT_NAMESPACE, name),
        kind=LedgerEntry.Kind.CREDIT,
        reason=reason,
        advertiser_id=info.advertiser_id,
        campaign_id=info.campaign_id,
        amount_micros=amount,
        currency=info.currency,
        day=day,
        at=at,
    )


def forget_redis_state(client: redis.Redis | None = None) -> None:
    """Tests and the reliability drills: lose what Redis knows of budgets, as a crash would."""
    client = client or redis_client()
    for pattern in ("adwright:budget:*", "adwright:spend:*", "adwright:charged:*"):
        for key in client.scan_iter(match=pattern, count=1000):
            client.delete(key)
    client.delete(STOP_KEY, GATE_VERSION_KEY, CAMPAIGNS_KEY)
    _info_cache.clear()
    from delivery import engine  # this process's gate forgets its copy too

    engine.reset_gate_cache()
