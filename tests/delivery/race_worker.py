"""The child processes of the budget races: each a fresh interpreter (spawned, not forked: a fork of
the test process would inherit whatever locks its other threads hold), talking only to Redis."""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django.setup()

from delivery import budget  # noqa: E402
from delivery.events import EventKind, new_event_id  # noqa: E402


def _charge(info: budget.CampaignBudget, amount: int, at: datetime) -> bool:
    event_id = new_event_id(at)
    event = {"event_id": event_id, "at": int(at.timestamp() * 1000), "ip": None, "user_agent": "race"}
    outcome = budget.charge(
        event_id=event_id, campaign_id=info.campaign_id, ad_group_id=1, creative_id=1, amount_micros=amount,
        reason="impression", at=at, event_kind=EventKind.IMPRESSION, event={**event, "ivt_reason": ""},
    )  # fmt: skip
    return outcome.charged and not outcome.duplicate


def _know(info: budget.CampaignBudget) -> None:
    # The campaign's facts as the parent read them: the children never query the test database.
    budget._info_cache[info.campaign_id] = (time.monotonic(), info)


def charge_many(
    info: budget.CampaignBudget, amounts: list[int], at: datetime, results: Any, start: Any
) -> None:
    _know(info)
    start.wait()
    results.put([amount for amount in amounts if _charge(info, amount, at)])


def charge_for(
    info: budget.CampaignBudget, amount: int, at: datetime, seconds: float, results: Any, start: Any
) -> None:
    _know(info)
    start.wait()
    accepted = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        accepted += _charge(info, amount, at)
    results.put(accepted)
