"""Ads Manager pages: the change history (audit log) of an account and of one campaign.

Entries are shown as people read them: who, when (in the account's time zone), from where, and each
changed field by its label, from the old value to the new, money in the account currency, choices
by their label, targeting summarised. Everything shown comes from the entry itself (the log keeps
who acted as it read at the time), so a page costs the same few queries whatever it lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.apps import apps
from django.core.paginator import Paginator
from django.db import models
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import URLPattern, URLResolver, path
from django.utils.dateparse import parse_datetime

from accounts.models import Advertiser, AuditLog
from accounts.money import format_micros
from accounts.pages import advertiser_page
from campaigns.models import AdGroup, Campaign, Creative

PAGE_SIZE = 25

# The object types the filter offers, in the order people think of them.
OBJECT_TYPES = {
    "campaigns.Campaign": "Campaigns",
    "campaigns.AdGroup": "Ad groups",
    "campaigns.Creative": "Creatives",
    "campaigns.ConversionEvent": "Conversion events",
    "accounts.Membership": "Members",
    "accounts.ApiKey": "API keys",
    "accounts.Advertiser": "Account",
}
# As they read in the middle of a sentence: "owner@acme.test paused campaign Spring sale".
OBJECT_NAMES = {
    "campaigns.Campaign": "campaign",
    "campaigns.AdGroup": "ad group",
    "campaigns.Creative": "creative",
    "campaigns.ConversionEvent": "conversion event",
    "accounts.Membership": "member",
    "accounts.ApiKey": "API key",
    "accounts.Advertiser": "account",
}
ACTIONS = {
    "create": "created",
    "update": "changed",
    "delete": "removed",
    "activate": "activated",
    "pause": "paused",
    "archive": "archived",
    "revoke": "revoked",
    "approve": "approved",
    "reject": "rejected",
    "duplicate": "duplicated",
    "test_event": "sent a test event for",
}
# Where a column's own name reads badly, the label the forms use.
FIELD_LABELS = {
    "is_active": "Active",
    "click_window_days": "Click-through window",
    "view_window_days": "View-through window",
    "counting": "Count",
    "revoked_at": "Revoked",
    "budget_micros": "Budget",
    "bid_micros": "Bid",
}
# Fields that say nothing to a person reading the history.
HIDDEN_FIELDS = frozenset(
    {"id", "advertiser_id", "created_at", "updated_at", "content_hash", "approved_content_hash"}
)
# Foreign keys are ids, meaningless to a reader; the entry's object name says what it is about.
SHOWN_IDS = frozenset({"conversion_event_id"})
TARGETING_LABELS = {
    "countries": "Countries",
    "regions": "Regions",
    "languages": "Languages",
    "age_ranges": "Ages",
    "genders": "Genders",
    "device_types": "Devices",
    "operating_systems": "Operating systems",
    "placements_include": "Placements included",
    "placements_exclude": "Placements excluded",
    "interests": "Interests",
    "keywords": "Keywords",
}
EMPTY = "—"


@dataclass(frozen=True, slots=True)
class Change:
    label: str
    before: str | None  # None: the field had no earlier value to show (a creation)
    after: str | None  # None: removed


@dataclass(frozen=True, slots=True)
class Row:
    entry: AuditLog
    action: str
    object_type: str
    changes: list[Change]


def _targeting(value: Any) -> str:
    if not isinstance(value, dict):
        return EMPTY
    parts = []
    for key, label in TARGETING_LABELS.items():
        items = value.get(key) or []
        if not items:
            continue
        if key == "age_ranges":
            shown = [
                f"{item.get('min', '')}\u2013{item.get('max', '')}" if isinstance(item, dict) else str(item)
                for item in items
            ]
        else:
            shown = [str(item) for item in items]
        text = ", ".join(shown[:6]) + (f" +{len(shown) - 6} more" if len(shown) > 6 else "")
        parts.append(f"{label}: {text}")
    grid = value.get("dayparting")
    if grid:
        hours = sum(1 for day in grid for hour in day if hour)
        parts.append(f"Schedule: {hours} of 168 hours a week")
    return "; ".join(parts) or "Everyone (no targeting)"


def _format(field: models.Field | None, name: str, value: Any, advertiser: Advertiser) -> str:
    if value is None or value == "" or value == []:
        return EMPTY
    if name.endswith("_micros") and isinstance(value, int):
        return format_micros(value, advertiser.currency)
    if name == "targeting":
        return _targeting(value)
    if name.endswith("_days") and isinstance(value, int):
        return f"{value} day{'' if value == 1 else 's'}"
    if field is not None and field.choices:
        labels = dict(field.flatchoices)
        if isinstance(value, list):
            return ", ".join(str(labels.get(item, item)) for item in value)
        return str(labels.get(value, value))
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(field, models.DateTimeField) and isinstance(value, str):
        moment = parse_datetime(value)
        if isinstance(moment, datetime):
            return moment.astimezone(advertiser.tz).strftime("%-d %b %Y, %H:%M")
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}: {item}" for key, item in value.items())
    return str(value)


def _fields_by_attname(object_type: str) -> dict[str, models.Field]:
    try:
        model = apps.get_model(object_type)
    except (LookupError, ValueError):
        return {}
    return {field.attname: field for field in model._meta.concrete_fields}


def _label(field: models.Field | None, name: str) -> str:
    if name in FIELD_LABELS:
        return FIELD_LABELS[name]
    label = str(field.verbose_name) if field is not None else name.removesuffix("_micros").replace("_", " ")
    label = label.removesuffix(" micros").removesuffix(" id")
    return label[:1].upper() + label[1:]


def describe(entry: AuditLog, advertiser: Advertiser) -> list[Change]:
    """The entry's changes, field by field, in words."""
    if entry.action == "test_event":
        return []
    fields = _fields_by_attname(entry.object_type)
    before, after = entry.before or {}, entry.after or {}
    names = [
        name
        for name in {**before, **after}
        if name not in HIDDEN_FIELDS and (not name.endswith("_id") or name in SHOWN_IDS)
    ]
    if entry.before is None:  # a creation: what was set, leaving out the empty values
        names = [name for name in names if after.get(name) not in (None, "", [], {})]
    changes = []
    for name in names:
        field = fields.get(name)
        changes.append(
            Change(
                label=_label(field, name),
                before=_format(field, name, before.get(name), advertiser)
                if entry.before is not None
                else None,
                after=_format(field, name, after.get(name), advertiser) if entry.after is not None else None,
            )
        )
    return changes


def _rows(entries: list[AuditLog], advertiser: Advertiser) -> list[Row]:
    return [
        Row(
            entry=entry,
            action=ACTIONS.get(entry.action, entry.action.replace("_", " ")),
            object_type=OBJECT_NAMES.get(entry.object_type, entry.object_type.split(".")[-1]),
            changes=describe(entry, advertiser),
        )
        for entry in entries
    ]


def _history_page(
    request: HttpRequest, advertiser: Advertiser, entries: QuerySet[AuditLog], context: dict[str, Any]
) -> HttpResponse:
    source = request.GET.get("source", "")
    object_type = request.GET.get("type", "")
    if source in AuditLog.Source.values:
        entries = entries.filter(source=source)
    else:
        source = ""
    if object_type in OBJECT_TYPES:
        entries = entries.filter(object_type=object_type)
    else:
        object_type = ""
    page = Paginator(entries.order_by("-created_at", "-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    query = {key: value for key, value in (("source", source), ("type", object_type)) if value}
    context = {
        **context,
        "advertiser": advertiser,
        "page": page,
        "rows": _rows(list(page.object_list), advertiser),
        "sources": AuditLog.Source.choices,
        "object_types": context.get("object_types", OBJECT_TYPES),
        "source": source,
        "object_type": object_type,
        "filter_query": "&".join(f"{key}={value}" for key, value in query.items()),
        "filtered": bool(query),
    }
    template = "campaigns/history/history.html"
    if request.htmx and request.GET.get("page"):  # type: ignore[attr-defined]
        template += "#rows"  # "Load more": the next entries, appended to the list
    elif request.htmx:  # type: ignore[attr-defined]
        template += "#results"  # a filter changed: the list from the start
    return render(request, template, context)


@advertiser_page
def account_history(request: HttpRequest, advertiser: Advertiser) -> HttpResponse:
    entries = AuditLog.objects.filter(advertiser=advertiser)
    return _history_page(request, advertiser, entries, {"campaign": None})


@advertiser_page
def campaign_history(request: HttpRequest, advertiser: Advertiser, campaign_id: int) -> HttpResponse:
    """The campaign's entries and those of its ad groups and creatives (archived ones included)."""
    campaign = get_object_or_404(Campaign.objects.filter(advertiser=advertiser), pk=campaign_id)
    ad_group_ids = [str(pk) for pk in AdGroup.objects.filter(campaign=campaign).values_list("pk", flat=True)]
    creative_ids = [
        str(pk) for pk in Creative.objects.filter(ad_group__campaign=campaign).values_list("pk", flat=True)
    ]
    entries = AuditLog.objects.filter(advertiser=advertiser).filter(
        Q(object_type=Campaign._meta.label, object_id=str(campaign.pk))
        | Q(object_type=AdGroup._meta.label, object_id__in=ad_group_ids)
        | Q(object_type=Creative._meta.label, object_id__in=creative_ids)
    )
    object_types = {
        key: OBJECT_TYPES[key] for key in ("campaigns.Campaign", "campaigns.AdGroup", "campaigns.Creative")
    }
    return _history_page(request, advertiser, entries, {"campaign": campaign, "object_types": object_types})


urlpatterns: list[URLPattern | URLResolver] = [
    path("history/", account_history, name="account_history"),
    path("campaigns/<int:campaign_id>/history/", campaign_history, name="campaign_history"),
]
