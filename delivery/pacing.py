"""Budget pacing: the controller that spreads each campaign's budget over its advertiser's day.

The method is the adaptive throttle of Agarwal et al., "Budget pacing for targeted online
advertisements at LinkedIn" (KDD 2014), with the traffic-shaped plan of Xu et al., "Smart pacing for
effective online ad campaign optimization" (KDD 2015):

- **Plan.** A campaign's day budget is spread in proportion to the traffic it can bid on: the
  requests it was eligible for (its "opportunities", counted per UTC hour by delivery.gate) over the
  7 days before today, averaged per local hour of the day, linear within an hour. So a campaign targeting
  Japan plans its spend on Japanese hours, and dayparting shapes the plan by itself. Until a full
  day of its traffic is known, the plan is even over the day. A daily budget is the day budget; a
  lifetime budget gives each remaining day an equal share of what is left (recomputed each day, so
  a slow day is made up later); accelerated pacing has no plan and always bids.
- **Throttle.** The gate lets a campaign bid on a random `rate` share of its opportunities. Every
  minute (Celery beat; the simulator calls `update` on its own clock) the controller measures what
  the last interval cost per unit of rate and of traffic, `k` (what the day would cost at rate 1,
  smoothed exponentially), and sets the rate so that the next interval ends on the plan:
  `rate = (plan(t + interval) - spent(t)) / (k x traffic share of the next interval)`, clipped to
  [0, 1]. Behind plan, the rate rises (to 1 when the budget is not the limit: the campaign is then
  not "limited by budget"); ahead, it falls, to 0 until the plan catches up. Spending only what the
  plan allows keeps a campaign out of the day's most expensive minutes less often than a greedy one
  that spends its budget in the first hours, and leaves it bidding late in the day.
- **Reserve.** The cost still outstanding when serving stops (clicks on ads shown, pixels loading)
  is estimated as a share of the last interval's spend (a minute of it for ads billed per click,
  a tenth for ads billed per impression) and kept in the budget hash, where the charge script stops
  the campaign once only that much room is left (delivery.budget).

Each update is written where serving reads it (the rates in Redis, one version bump) and where the
advertiser sees it (campaigns.models.CampaignDay: plan, spent and rate; hourly for the chart).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import redis
from django.db import transaction
from django.utils import timezone

from accounts.models import Advertiser
from campaigns.models import Campaign, CampaignDay
from delivery import budget
from delivery.gate import RATE_KEY, opportunities_key
from delivery.hot import redis_client

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 60
HISTORY_DAYS = 7
SMOOTHING = 0.3  # weight of the newest interval in k
RESERVE_INTERVALS = {"click": 1.0, "impression": 0.1}
RATE_CHANGE_EPSILON = 0.002  # smaller moves are not worth a gate reload in every process


def state_key(campaign_id: int) -> str:
    return f"adwright:pacing:{{c{campaign_id}}}"


@dataclass(slots=True)
class Update:
    campaign_id: int
    day: date
    budget_micros: int
    spent_micros: int
    planned_micros: int
    rate: float
    reserve_micros: int


# ---------------------------------------------------------------------------------------------------
# The plan


def hourly_profile(counts: dict[int, int], zone: ZoneInfo, now: datetime) -> list[float] | None:
    """The share of a day's traffic in each local hour, from opportunities per UTC hour of the days
    before today (so that the plan holds still through the day); None when less than a full day is
    known."""
    local_midnight = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    current = int(local_midnight.timestamp()) // 3600
    known = [hour for hour in counts if current - HISTORY_DAYS * 24 <= hour < current]
    if not known or current - min(known) < 24:
        return None
    totals = [0.0] * 24
    observed = [0] * 24
    for hour in range(max(min(known), current - HISTORY_DAYS * 24), current):
        local = datetime.fromtimestamp(hour * 3600, tz=zone).hour
        totals[local] += counts.get(hour, 0)
        observed[local] += 1
    means = [total / n if n else 0.0 for total, n in zip(totals, observed, strict=True)]
    whole = sum(means)
    if whole <= 0:
        return None
    return [mean / whole for mean in means]


def cumulative_share(profile: list[float] | None, local: datetime) -> float:
    """The plan's share of the day spent by local time `local` (linear within each hour)."""
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    seconds = (local - midnight).total_seconds()
    if seconds >= 86_400:
        return 1.0
    if profile is None:
        return seconds / 86_400
    hour = int(seconds // 3600)
    return min(1.0, sum(profile[:hour]) + profile[hour] * (seconds - hour * 3600) / 3600)


def day_budget(info: budget.CampaignBudget, day: date, spent_before_today: int) -> int:
    """What today may spend: the daily budget, or the lifetime budget's share for today."""
    if info.daily_cap is not None:
        return info.daily_cap
    left = max(0, (info.lifetime_cap or 0) - spent_before_today)
    if info.ends_at is None:
        return left
    last_day = (info.ends_at - timedelta(microseconds=1)).astimezone(info.zone).date()
    days_left = max(1, (last_day - day).days + 1)
    return left // days_left


# ---------------------------------------------------------------------------------------------------
# The controller


def update(*, now: datetime | None = None, campaign_ids: Iterable[int] | None = None) -> list[Update]:
    """One step of the controller for every active campaign (or those given), at `now`."""
    now = now or timezone.now()
    campaigns = Campaign.objects.filter(
        status=Campaign.Status.ACTIVE, advertiser__status=Advertiser.Status.ACTIVE, starts_at__lte=now
    ).exclude(ends_at__lte=now)
    if campaign_ids is not None:
        campaigns = campaigns.filter(pk__in=list(campaign_ids))
    pacing_of = dict(campaigns.values_list("id", "pacing"))
    if not pacing_of:
        return []
    infos = budget.read_budgets(pacing_of)
    client = redis_client()
    loaded = client.smembers(budget.CAMPAIGNS_KEY)
    for cid in infos:
        if str(cid).encode() not in loaded:
            budget.load_budget(cid, client=client, at=now)
    ids = sorted(infos)
    pipe = client.pipeline(transaction=False)
    for cid in ids:
        info = infos[cid]
        day = budget.local_day(now, info.zone)
        pipe.get(budget.day_key(cid, day))
        pipe.get(budget.total_key(cid))
        pipe.hgetall(state_key(cid))
        pipe.hgetall(opportunities_key(cid))
        pipe.hget(budget.STOP_KEY, str(cid))
    replies = pipe.execute()
    updates: list[Update] = []
    stopped: dict[int, bool] = {}
    profiles: dict[int, list[float] | None] = {}
    writes = client.pipeline(transaction=False)
    rates_moved = False
    for position, cid in enumerate(ids):
        spent_raw, total_raw, state_raw, opportunities_raw, stop_raw = replies[
            5 * position : 5 * position + 5
        ]
        info = infos[cid]
        state = {k.decode(): v.decode() for k, v in state_raw.items()}
        counts = {int(k): int(v) for k, v in opportunities_raw.items()}
        profile = hourly_profile(counts, info.zone, now)
        profiles[cid] = profile
        step = _step(info, pacing_of[cid], now, int(spent_raw or 0), int(total_raw or 0), state, profile)
        updates.append(step.update)
        stop_until = int(stop_raw) if stop_raw is not None else -1
        now_ms = int(now.timestamp() * 1000)
        stopped[cid] = stop_raw is not None and (stop_until == 0 or stop_until > now_ms)
        writes.hset(state_key(cid), mapping=step.state)
        writes.hset(budget.budget_key(cid), "reserve", step.update.reserve_micros)
        if pacing_of[cid] == Campaign.Pacing.STANDARD:
            previous = float(state.get("rate", "1"))
            if abs(previous - step.update.rate) > RATE_CHANGE_EPSILON or "rate" not in state:
                rates_moved = True
            writes.hset(RATE_KEY, str(cid), repr(step.update.rate))
        else:
            writes.hdel(RATE_KEY, str(cid))
    if rates_moved:
        writes.incr(budget.GATE_VERSION_KEY)
    try:
        writes.execute()
    except (redis.RedisError, OSError) as exc:
        log.warning("pacing rates not written: %s", exc)
    _store(updates, infos, profiles, stopped, now)
    return updates


@dataclass(slots=True)
class _Step:
    update: Update
    state: dict[str | int | float | bytes, str | int | float | bytes]


def _step(
    info: budget.CampaignBudget,
    pacing: str,
    now: datetime,
    spent: int,
    total: int,
    state: dict[str, str],
    profile: list[float] | None,
) -> _Step:
    zone = info.zone
    local = now.astimezone(zone)
    day = local.date()
    midnight = datetime.combine(day, datetime.min.time(), zone)
    same_day = state.get("day") == day.isoformat()
    day_budget_micros = (
        int(state["budget"]) if same_day and "budget" in state else day_budget(info, day, total - spent)
    )
    previous_spent = int(state.get("spent", "0")) if same_day else 0
    previous_at = datetime.fromtimestamp(int(state["at_ms"]) / 1000, tz=zone) if same_day else midnight
    previous_rate = float(state.get("rate", "1"))
    k = float(state["k"]) if "k" in state else None

    share_now = cumulative_share(profile, local)
    share_before = cumulative_share(profile, previous_at.astimezone(zone)) if same_day else 0.0
    spent_last = max(0, spent - previous_spent)
    traffic_last = max(0.0, share_now - share_before)
    if traffic_last > 0 and previous_rate > 0:
        observed = spent_last / (previous_rate * traffic_last)
        k = observed if k is None else (1 - SMOOTHING) * k + SMOOTHING * observed

    next_local = local + timedelta(seconds=INTERVAL_SECONDS)
    share_next = 1.0 if next_local.date() != day else cumulative_share(profile, next_local)
    planned_now = math.floor(day_budget_micros * share_now)
    if pacing != Campaign.Pacing.STANDARD:
        rate = 1.0
    else:
        need = day_budget_micros * share_next - spent
        traffic_next = max(0.0, share_next - share_now)
        if need <= 0:
            rate = 0.0
        elif k is None or k <= 0 or traffic_next <= 0:
            rate = 1.0
        else:
            rate = min(1.0, max(0.0, need / (k * traffic_next)))
    elapsed = max(1.0, (now - previous_at).total_seconds()) if same_day else float(INTERVAL_SECONDS)
    per_interval = spent_last * INTERVAL_SECONDS / elapsed
    reserve = math.ceil(per_interval * RESERVE_INTERVALS["click" if info.billing_click else "impression"])
    new_state: dict[str | int | float | bytes, str | int | float | bytes] = {
        "day": day.isoformat(),
        "budget": str(day_budget_micros),
        "spent": str(spent),
        "at_ms": str(int(now.timestamp() * 1000)),
        "rate": repr(rate),
    }
    if k is not None:
        new_state["k"] = repr(k)
    return _Step(
        Update(info.campaign_id, day, day_budget_micros, spent, planned_now, rate, reserve), new_state
    )


def _store(
    updates: list[Update],
    infos: dict[int, budget.CampaignBudget],
    profiles: dict[int, list[float] | None],
    stopped: dict[int, bool],
    now: datetime,
) -> None:
    """Write each campaign's day as the advertiser sees it (one query to read, one to write)."""
    if not updates:
        return
    existing = {
        (row.campaign_id, row.day): row
        for row in CampaignDay.objects.filter(
            campaign_id__in=[u.campaign_id for u in updates], day__in={u.day for u in updates}
        )
    }
    rows = []
    for u in updates:
        info = infos[u.campaign_id]
        local = now.astimezone(info.zone)
        midnight = datetime.combine(u.day, datetime.min.time(), info.zone)
        profile = profiles[u.campaign_id]
        plan = [
            math.floor(u.budget_micros * cumulative_share(profile, midnight + timedelta(hours=h)))
            for h in range(1, 24)
        ] + [u.budget_micros]
        row = existing.get((u.campaign_id, u.day))
        hourly = list(row.hourly_spent) if row is not None else []
        hour = local.hour
        while len(hourly) < hour:
            hourly.append(hourly[-1] if hourly else 0)
        hourly[hour:] = [u.spent_micros]
        rows.append(
            CampaignDay(
                campaign_id=u.campaign_id,
                day=u.day,
                cap_micros=info.daily_cap if row is None else row.cap_micros,
                budget_micros=u.budget_micros,
                spent_micros=u.spent_micros,
                planned_micros=u.planned_micros,
                rate=u.rate,
                stopped=stopped.get(u.campaign_id, False),
                hourly_plan=plan,
                hourly_spent=hourly,
            )
        )
    with transaction.atomic():
        CampaignDay.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["campaign", "day"],
            update_fields=[
                "budget_micros", "spent_micros", "planned_micros", "rate", "stopped", "hourly_plan",
                "hourly_spent", "updated_at",
            ],
        )  # fmt: skip
