"""Ads Manager pages: conversion events, with the postback URL and pixel that report them.

The ingestion endpoints (/t/v1/conversions and /t/v1/pixel.gif) come with the budgets/conversions
work; these pages already give out the URLs they will serve. Until then, "Send test event" records
a test in the audit log, so that a team can check who set what up, and says so.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, URLResolver, path
from django.views.decorators.http import require_POST

from accounts.audit import Actor, record
from accounts.models import Advertiser, AuditLog
from accounts.money import format_micros
from accounts.pages import advertiser_page
from campaigns import services
from campaigns.forms.conversion import ConversionEventForm, event_key
from campaigns.models import ConversionEvent
from campaigns.services import create_conversion_event

TEST_EVENT = "test_event"
RECENT_TESTS = 10


def _event(advertiser: Advertiser, pk: int, *, for_update: bool = False) -> ConversionEvent:
    """One event of this account (404 for another account's id)."""
    events = ConversionEvent.objects.filter(advertiser=advertiser)
    if for_update:
        events = events.select_for_update()
    return get_object_or_404(events, pk=pk)


def _tracking(request: HttpRequest, event: ConversionEvent) -> dict[str, str]:
    """The URLs that report this event, with the advertiser's placeholders left as they type them."""
    query = f"event={event_key(event)}&click_id={{click_id}}&event_id={{event_id}}&value={{value}}"
    # The query is added after build_absolute_uri(), which would percent-encode the placeholders' braces.
    postback = f"{request.build_absolute_uri('/t/v1/conversions')}?{query}"
    pixel_url = f"{request.build_absolute_uri('/t/v1/pixel.gif')}?{query}"
    pixel = f'<img src="{pixel_url}" width="1" height="1" alt="" style="display:none">'
    return {"postback": postback, "pixel": pixel, "key": event_key(event)}


def _recent_tests(event: ConversionEvent) -> list[AuditLog]:
    return list(
        AuditLog.objects.filter(
            advertiser_id=event.advertiser_id,
            object_type=ConversionEvent._meta.label,
            object_id=str(event.pk),
            action=TEST_EVENT,
        )[:RECENT_TESTS]
    )


@advertiser_page
def conversion_list(request: HttpRequest, advertiser: Advertiser) -> HttpResponse:
    events = ConversionEvent.objects.filter(advertiser=advertiser).order_by("name", "pk")
    return render(request, "campaigns/conversions/list.html", {"advertiser": advertiser, "events": events})


@advertiser_page
def conversion_new(request: HttpRequest, advertiser: Advertiser) -> HttpResponse:
    form = ConversionEventForm(request.POST or None, advertiser=advertiser)
    if request.method == "POST" and form.is_valid():
        fields = {name: form.cleaned_data[name] for name in form.Meta.fields}
        event = create_conversion_event(advertiser=advertiser, actor=Actor.from_request(request), **fields)
        messages.success(
            request, f"Conversion event “{event.name}” created. Install its postback or pixel below."
        )
        return redirect("conversion_edit", advertiser_id=advertiser.pk, pk=event.pk)
    return render(request, "campaigns/conversions/new.html", {"advertiser": advertiser, "form": form})


@advertiser_page
def conversion_edit(request: HttpRequest, advertiser: Advertiser, pk: int) -> HttpResponse:
    """The event's page: its settings, how to report it, and the recent test events."""
    event = _event(advertiser, pk)
    form = ConversionEventForm(request.POST or None, instance=event, advertiser=advertiser)
    if request.method == "POST" and form.is_valid():
        changes = {name: form.cleaned_data[name] for name in form.Meta.fields}
        locked = services.update_conversion_event(event=event, actor=Actor.from_request(request), **changes)
        messages.success(request, f"Changes to “{locked.name}” saved.")
        return redirect("conversion_edit", advertiser_id=advertiser.pk, pk=event.pk)
    if form.errors:
        event.refresh_from_db()  # the heading and snippets show what is saved, not what was typed
    context: dict[str, Any] = {
        "advertiser": advertiser,
        "event": event,
        "form": form,
        "tracking": _tracking(request, event),
        "tests": _recent_tests(event),
        "default_value": (
            format_micros(event.default_value_micros, advertiser.currency)
            if event.default_value_micros is not None
            else ""
        ),
    }
    return render(request, "campaigns/conversions/detail.html", context)


@advertiser_page
@require_POST
def conversion_test(request: HttpRequest, advertiser: Advertiser, pk: int) -> HttpResponse:
    """Record a test of the event's setup in the audit log (not a conversion: nothing is counted)."""
    event = _event(advertiser, pk)
    test = {
        "event_id": f"test-{uuid.uuid4()}",
        "click_id": "test",
        "value_micros": event.default_value_micros or 0,
        "currency": advertiser.currency,
    }
    record(actor=Actor.from_request(request), action=TEST_EVENT, obj=event, after=test)
    if request.htmx:  # type: ignore[attr-defined]
        context = {"advertiser": advertiser, "event": event, "tests": _recent_tests(event), "just_sent": True}
        return render(request, "campaigns/conversions/detail.html#tests", context)
    messages.success(request, "Test event recorded. It is listed under “Test events”.")
    return redirect("conversion_edit", advertiser_id=advertiser.pk, pk=event.pk)


urlpatterns: list[URLPattern | URLResolver] = [
    path("conversions/", conversion_list, name="conversion_list"),
    path("conversions/new/", conversion_new, name="conversion_new"),
    path("conversions/<int:pk>/", conversion_edit, name="conversion_edit"),
    path("conversions/<int:pk>/test/", conversion_test, name="conversion_test"),
]
