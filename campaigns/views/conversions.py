"""Ads Manager pages: conversion events, with the postback URL and pixel that report them, and the
event's recent conversions, refreshed every few seconds so that a postback sent from the
advertiser's server is seen arriving.

The endpoints themselves are the ad server's (delivery.serving.conversion_views); "Send test event"
sends a real test conversion through the same intake (delivery.conversions.receive), stored and
shown but never attributed nor counted, and records who sent it in the audit log.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, URLResolver, path, reverse
from django.views.decorators.http import require_POST

from accounts.audit import Actor, record
from accounts.models import Advertiser
from accounts.money import format_micros
from accounts.pages import advertiser_page
from campaigns import services
from campaigns.forms.conversion import ConversionEventForm
from campaigns.models import Conversion, ConversionEvent
from campaigns.services import create_conversion_event

TEST_EVENT = "test_event"
RECENT_CONVERSIONS = 20
RECENT_TARGET = "recent-conversions"  # the panel's id: htmx's polling asks for it (HX-Target)


@dataclass(frozen=True, slots=True)
class RecentConversion:
    """One row of the Recent conversions panel, formatted for the advertiser."""

    received_at: datetime
    occurred_at: datetime
    event_id: str
    value: str
    source: str
    test: bool
    attribution: str
    campaign: str


def _event(advertiser: Advertiser, pk: int, *, for_update: bool = False) -> ConversionEvent:
    """One event of this account (404 for another account's id)."""
    events = ConversionEvent.objects.filter(advertiser=advertiser)
    if for_update:
        events = events.select_for_update()
    return get_object_or_404(events, pk=pk)


def _tracking(request: HttpRequest, event: ConversionEvent) -> dict[str, str]:
    """The URLs that report this event, with the advertiser's placeholders left as they type them."""
    # The ad server's endpoints (delivery/urls.py), by name: campaigns does not import delivery.
    # The query is added after build_absolute_uri(), which would percent-encode the placeholders' braces.
    placeholders = "event_id={event_id}&click_id={click_id}&value={value}"
    postback = f"{request.build_absolute_uri(reverse('conversions'))}?token={event.token}&{placeholders}"
    pixel_url = (
        f"{request.build_absolute_uri(reverse('conversion-pixel', args=[event.token]))}?{placeholders}"
    )
    pixel = f'<img src="{pixel_url}" width="1" height="1" alt="" style="display:none">'
    return {"postback": postback, "pixel": pixel, "token": event.token}


def _recent(event: ConversionEvent) -> list[RecentConversion]:
    conversions = (
        Conversion.objects.filter(conversion_event=event)
        .select_related("campaign")
        .order_by("-received_at", "-id")[:RECENT_CONVERSIONS]
    )
    return [
        RecentConversion(
            received_at=conversion.received_at,
            occurred_at=conversion.occurred_at,
            event_id=conversion.event_id,
            value=(
                format_micros(conversion.value_micros, conversion.currency)
                if conversion.value_micros is not None
                else ""
            ),
            source=conversion.get_source_display(),
            test=conversion.test,
            attribution=conversion.attribution,
            campaign=conversion.campaign.name if conversion.campaign is not None else "",
        )
        for conversion in conversions
    ]


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
    """The event's page: its settings, how to report it, and its recent conversions."""
    event = _event(advertiser, pk)
    if request.htmx and request.htmx.target == RECENT_TARGET:  # type: ignore[attr-defined]
        panel = {"advertiser": advertiser, "event": event, "recent": _recent(event)}
        return render(request, "campaigns/conversions/detail.html#recent", panel)
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
        "recent": _recent(event),
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
    """Send a test conversion through the same intake as postbacks: stored and listed with a Test
    badge, never attributed nor counted; the audit log says who sent it."""
    # Imported here: campaigns does not depend on the ad server at import time (accounts <- campaigns
    # <- delivery), and only this action needs its intake.
    from delivery.conversions import ConversionError, receive

    event = _event(advertiser, pk)
    error = ""
    try:
        received = receive(
            event=event,
            event_id=f"test-{uuid.uuid4()}",
            occurred_at=None,
            value=None,
            currency=None,
            click_id=None,
            user_key=None,
            source=Conversion.Source.TEST,
            test=True,
        )
    except ConversionError as exc:
        error = exc.message
    else:
        conversion = received.conversion
        test = {
            "event_id": conversion.event_id,
            "conversion_id": conversion.pk,
            "value_micros": conversion.value_micros,
            "currency": conversion.currency,
        }
        record(actor=Actor.from_request(request), action=TEST_EVENT, obj=event, after=test)
    if request.htmx:  # type: ignore[attr-defined]
        context = {
            "advertiser": advertiser,
            "event": event,
            "recent": _recent(event),
            "just_sent": not error,
            "test_error": error,
        }
        return render(request, "campaigns/conversions/detail.html#recent", context)
    if error:
        messages.error(request, f"The test event was refused: {error}")
    else:
        messages.success(request, "Test event sent. It is listed under “Recent conversions”.")
    return redirect("conversion_edit", advertiser_id=advertiser.pk, pk=event.pk)


urlpatterns: list[URLPattern | URLResolver] = [
    path("conversions/", conversion_list, name="conversion_list"),
    path("conversions/new/", conversion_new, name="conversion_new"),
    path("conversions/<int:pk>/", conversion_edit, name="conversion_edit"),
    path("conversions/<int:pk>/test/", conversion_test, name="conversion_test"),
]
