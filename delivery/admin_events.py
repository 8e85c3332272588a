"""Read-only pages of the raw events inside the admin: /admin/events/<kind>/.

The event tables have composite primary keys, which the admin's ModelAdmin refuses, so these are
plain staff-only views rendered with the admin's base template. Nothing here writes: events and
the money they carry change only through ingestion and the ledger.

Mounted by config/urls.py before the admin's own URLs:
    path("admin/events/", include("delivery.admin_events")),
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path

from delivery.ivt import IvtReason
from delivery.models import ClickEvent, DecisionEvent, ImpressionEvent, NoticeEvent

app_name = "admin_events"

LIMIT = 100
PERMISSION = "delivery.view_decisionevent"
ANY_IVT = "any"


@dataclass(frozen=True, slots=True)
class Kind:
    model: type[Model]
    title: str
    columns: tuple[str, ...]
    has_ivt: bool = False


KINDS: dict[str, Kind] = {
    "decisions": Kind(
        DecisionEvent,
        "Decisions",
        (
            "decided_at",
            "event_id",
            "source",
            "advertiser_id",
            "campaign_id",
            "ad_group_id",
            "creative_id",
            "placement_id",
            "country",
            "device_type",
            "price_cpm_micros",
            "price_micros",
            "currency",
            "pctr",
            "test",
        ),
    ),
    "impressions": Kind(
        ImpressionEvent,
        "Impressions",
        ("decided_at", "at", "event_id", "advertiser_id", "campaign_id", "ip", "ivt_reason"),
        has_ivt=True,
    ),
    "clicks": Kind(
        ClickEvent,
        "Clicks",
        (
            "decided_at",
            "at",
            "event_id",
            "advertiser_id",
            "campaign_id",
            "ip",
            "had_impression",
            "ivt_reason",
        ),
        has_ivt=True,
    ),
    "notices": Kind(
        NoticeEvent,
        "Notices",
        (
            "decided_at",
            "at",
            "event_id",
            "notice",
            "advertiser_id",
            "campaign_id",
            "price_cpm_micros",
            "loss_reason",
        ),
    ),
}


class EventFilter(forms.Form):
    campaign = forms.IntegerField(required=False, min_value=1, label="Campaign id")
    advertiser = forms.IntegerField(required=False, min_value=1, label="Advertiser id")
    ivt = forms.ChoiceField(
        required=False,
        label="Invalid traffic",
        choices=[("", "All"), (ANY_IVT, "Any reason")] + [(r.value, r.value) for r in IvtReason],
    )
    day = forms.DateField(required=False, label="Day (UTC)", widget=forms.DateInput(attrs={"type": "date"}))


def _rows(kind: Kind, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The latest LIMIT events of a kind matching the filter, newest first, each with its decision's
    advertiser and campaign (the other kinds share the decision's event id)."""
    events: QuerySet[Any] = kind.model._default_manager.all()
    decisions = DecisionEvent.objects.all()
    if data.get("day"):
        # Every event carries its decision's time, the partition key: the day prunes partitions.
        start = datetime.combine(data["day"], time.min, tzinfo=UTC)
        window = {"decided_at__gte": start, "decided_at__lt": start + timedelta(days=1)}
        events, decisions = events.filter(**window), decisions.filter(**window)
    scoped = False
    if data.get("campaign"):
        decisions, scoped = decisions.filter(campaign_id=data["campaign"]), True
    if data.get("advertiser"):
        decisions, scoped = decisions.filter(advertiser_id=data["advertiser"]), True
    if kind.model is DecisionEvent:
        events = decisions
    elif scoped:
        events = events.filter(event_id__in=decisions.values("event_id"))
    if kind.has_ivt and data.get("ivt"):
        events = (
            events.exclude(ivt_reason="") if data["ivt"] == ANY_IVT else events.filter(ivt_reason=data["ivt"])
        )
    latest = list(events.order_by("-decided_at").values()[:LIMIT])
    if kind.model is not DecisionEvent and latest:
        owners: dict[Any, dict[str, Any]] = {
            row["event_id"]: dict(row)
            for row in DecisionEvent.objects.filter(
                event_id__in=[row["event_id"] for row in latest],
                decided_at__in={row["decided_at"] for row in latest},
            ).values("event_id", "advertiser_id", "campaign_id")
        }
        for row in latest:
            owner = owners.get(row["event_id"], {})
            row["advertiser_id"] = owner.get("advertiser_id")
            row["campaign_id"] = owner.get("campaign_id")
    return latest


@staff_member_required
def event_list(request: HttpRequest, kind: str) -> HttpResponse:
    if kind not in KINDS:
        raise Http404("No such kind of event.")
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied("Viewing events needs the permission to view decision events.")
    spec = KINDS[kind]
    form = EventFilter(request.GET or None)
    if not spec.has_ivt:
        del form.fields["ivt"]
    # An invalid filter shows its errors and no rows, rather than every event unfiltered.
    valid = not form.is_bound or form.is_valid()
    rows = _rows(spec, form.cleaned_data if form.is_bound else {}) if valid else []
    context = {
        **admin.site.each_context(request),
        "title": f"{spec.title}: the latest {LIMIT}",
        "kind": kind,
        "kinds": [(key, value.title) for key, value in KINDS.items()],
        "form": form,
        "columns": spec.columns,
        "rows": [[row.get(column) for column in spec.columns] for row in rows],
        "limit": LIMIT,
    }
    return render(request, "admin/delivery/events.html", context)


@staff_member_required
def index(request: HttpRequest) -> HttpResponse:
    return redirect("admin_events:list", kind="decisions")


urlpatterns = [
    path("", index, name="index"),
    path("<slug:kind>/", event_list, name="list"),
]
