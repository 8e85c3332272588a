"""Scheduled reports: the page where a user lists, creates and deletes the reports emailed to them
daily or weekly (sent by reporting.schedules), under /a/<advertiser_id>/reports/schedules/.

A scheduled report is its user's own, and only reads the account: anyone who can view the account
(an analyst too) manages their own schedules, and never sees anyone else's (another user's schedule
is a 404). So these pages use `schedule_page`, not accounts.pages.advertiser_page, which refuses
every POST of a read-only role.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, path

from accounts.access import get_for_user_or_404, role_on
from accounts.audit import Actor
from accounts.current import SESSION_KEY
from accounts.models import Advertiser, User
from reporting import schedules
from reporting.jobs import ReportQuery
from reporting.models import ScheduledReport
from reporting.query import DIMENSION_LABELS, DIMENSIONS, METRIC_LABELS, METRICS, ReportError
from reporting.tables import DEFAULT_METRICS

View = Callable[..., HttpResponse]
FORMAT_CHOICES = [("csv", "CSV"), ("xlsx", "Excel (XLSX)")]


def schedule_page(view: View) -> View:
    """advertiser_page for pages whose writes are the user's own: 404 for an account the user cannot
    see; any role that can see it may POST."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, advertiser_id: int, *args: Any, **kwargs: Any) -> HttpResponse:
        advertisers = Advertiser.objects.select_related("agency")
        advertiser = get_for_user_or_404(advertisers, request.user, pk=advertiser_id)
        role = role_on(request.user, advertiser)
        request.session[SESSION_KEY] = advertiser.pk  # the switcher follows the page being viewed
        request.advertiser = advertiser  # type: ignore[attr-defined]
        request.role = role  # type: ignore[attr-defined]
        request.can_edit = bool(role and role.can_edit and advertiser.is_active)  # type: ignore[attr-defined]
        return view(request, advertiser, *args, **kwargs)

    return wrapper


class ScheduleForm(forms.Form):
    """What a scheduled report sends. Its question is validated as every report's is (ReportQuery):
    the same rules as the report API's parameters."""

    name = forms.CharField(max_length=100, help_text="The email's subject starts with it.")
    frequency = forms.ChoiceField(
        choices=ScheduledReport.Frequency.choices,
        initial=ScheduledReport.Frequency.DAILY,
        widget=forms.RadioSelect,
        help_text="Sent after 06:00 in the account's time zone, for its days.",
    )
    dimensions = forms.MultipleChoiceField(
        choices=[(name, DIMENSION_LABELS[name]) for name in DIMENSIONS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Break down by",
        help_text="None: one line of totals.",
    )
    metrics = forms.MultipleChoiceField(
        choices=[(name, METRIC_LABELS[name]) for name in METRICS],
        initial=list(DEFAULT_METRICS),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one metric."},
    )
    format = forms.ChoiceField(
        choices=FORMAT_CHOICES, initial="csv", widget=forms.RadioSelect, label="Attachment"
    )

    def __init__(self, *args: Any, user: Any, advertiser: Advertiser, **kwargs: Any) -> None:
        self.user = user
        self.advertiser = advertiser
        super().__init__(*args, **kwargs)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        mine = ScheduledReport.objects.filter(advertiser=self.advertiser, user=self.user, name__iexact=name)
        if mine.exists():
            raise forms.ValidationError("You already have a scheduled report with this name.")
        return name

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "dimensions" in cleaned and "metrics" in cleaned:
            # The columns in the order reports show them, whatever order the boxes were ticked in.
            dimensions = tuple(name for name in DIMENSIONS if name in cleaned["dimensions"])
            metrics = tuple(name for name in METRICS if name in cleaned["metrics"])
            try:
                cleaned["report"] = ReportQuery(dimensions=dimensions, metrics=metrics)
            except ReportError as exc:
                self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return cleaned


def _mine(request: HttpRequest, advertiser: Advertiser) -> QuerySet[ScheduledReport]:
    """The user's own schedules on this account (schedule_page has checked they are logged in)."""
    return ScheduledReport.objects.filter(advertiser=advertiser, user=cast(User, request.user))


@schedule_page
def report_schedules(request: HttpRequest, advertiser: Advertiser) -> HttpResponse:
    rows = [(schedule, _describe(schedule)) for schedule in _mine(request, advertiser).order_by("name", "pk")]
    context = {"advertiser": advertiser, "rows": rows}
    return render(request, "reporting/schedules/list.html", context)


@schedule_page
def report_schedule_new(request: HttpRequest, advertiser: Advertiser) -> HttpResponse:
    form = ScheduleForm(request.POST or None, user=request.user, advertiser=advertiser)
    if request.method == "POST" and form.is_valid():
        schedule = schedules.create_schedule(
            advertiser=advertiser,
            user=cast(User, request.user),
            name=form.cleaned_data["name"],
            frequency=form.cleaned_data["frequency"],
            report=form.cleaned_data["report"],
            fmt=form.cleaned_data["format"],
            actor=Actor.from_request(request),
        )
        messages.success(request, f"“{schedule.name}” will be emailed to {request.user.email}.")  # type: ignore[union-attr]
        return redirect("report_schedules", advertiser_id=advertiser.pk)
    return render(request, "reporting/schedules/new.html", {"advertiser": advertiser, "form": form})


@schedule_page
def report_schedule_delete(request: HttpRequest, advertiser: Advertiser, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST deletes. Another user's schedule is not found."""
    schedule = get_object_or_404(_mine(request, advertiser), pk=pk)
    if request.method == "POST":
        schedules.delete_schedule(schedule=schedule, actor=Actor.from_request(request))
        messages.success(request, f"“{schedule.name}” will no longer be sent.")
        return redirect("report_schedules", advertiser_id=advertiser.pk)
    return render(
        request, "reporting/schedules/delete.html", {"advertiser": advertiser, "schedule": schedule}
    )


def _describe(schedule: ScheduledReport) -> dict[str, str]:
    """What the list shows of a schedule's stored question."""
    try:
        report = ReportQuery.from_json(schedule.query)
    except ReportError:
        return {"dimensions": "\u2013", "metrics": "No longer valid: delete it and create it again."}
    return {
        "dimensions": ", ".join(DIMENSION_LABELS[name] for name in report.dimensions) or "Totals only",
        "metrics": ", ".join(METRIC_LABELS[name] for name in report.metrics),
    }


urlpatterns: list[URLPattern] = [
    path("reports/schedules/", report_schedules, name="report_schedules"),
    path("reports/schedules/new/", report_schedule_new, name="report_schedule_new"),
    path("reports/schedules/<int:pk>/delete/", report_schedule_delete, name="report_schedule_delete"),
]
