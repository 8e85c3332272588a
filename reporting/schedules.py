"""Scheduled reports: a user's report, emailed daily or weekly on the advertiser's days.

A daily report covers yesterday and is sent once the advertiser's day is SCHEDULED_REPORTS_SEND_HOUR
hours old (06:00 by default: the night's late events are rolled up by then); a weekly one covers the
previous Monday to Sunday and is sent on Mondays from the same hour. `send_due()` runs every 15
minutes (reporting.tasks.send_scheduled_reports); `last_sent_day`, the last day a report covered,
makes it send each period once, however often it runs and on however many workers (each schedule
is locked while it is sent, and marked sent in the same transaction).

The email is for the schedule's user only while they can still see the account: a user who lost
their membership gets nothing, and their schedule is switched off.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from accounts.access import role_on
from accounts.audit import Actor, record, snapshot
from accounts.models import Advertiser, User
from reporting import exports, rollup
from reporting.jobs import ReportQuery
from reporting.models import ScheduledReport

log = logging.getLogger(__name__)

FORMATS = ("csv", "xlsx")  # what an email attaches


def period(schedule: ScheduledReport, now: datetime) -> tuple[date, date] | None:
    """The advertiser days the schedule's next email covers if it is due at `now`, else None."""
    local = now.astimezone(schedule.advertiser.tz)
    if local.time() < time(settings.SCHEDULED_REPORTS_SEND_HOUR):
        return None
    today = local.date()
    if schedule.frequency == ScheduledReport.Frequency.WEEKLY:
        if today.weekday() != 0:  # Monday
            return None
        days = (today - timedelta(days=7), today - timedelta(days=1))
    else:
        days = (today - timedelta(days=1), today - timedelta(days=1))
    if schedule.last_sent_day is not None and schedule.last_sent_day >= days[1]:
        return None
    return days


def send_due(now: datetime | None = None) -> int:
    """Send every active schedule that is due; one failing (its mail server, its stored query) is
    logged and tried again at the next run, and does not stop the others. Returns how many were sent."""
    now = now or timezone.now()
    sent = 0
    # No zone's yesterday is after UTC's today: a schedule sent for that day or later is not due.
    unsent = Q(last_sent_day__isnull=True) | Q(last_sent_day__lt=now.astimezone(UTC).date())
    due = ScheduledReport.objects.filter(unsent, is_active=True)
    ids = due.order_by("pk").values_list("pk", flat=True)
    for pk in ids:
        try:
            sent += send_one(pk, now)
        except Exception:
            log.exception("scheduled report %s was not sent", pk)
    return sent


def send_one(pk: int, now: datetime) -> bool:
    """Send this schedule if it is due; returns whether it was sent."""
    with transaction.atomic():
        schedule = (
            ScheduledReport.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("advertiser", "user")
            .filter(pk=pk, is_active=True)
            .first()
        )
        if schedule is None:  # switched off, deleted, or being sent by another worker
            return False
        days = period(schedule, now)
        if days is None:
            return False
        if role_on(schedule.user, schedule.advertiser) is None:
            schedule.is_active = False
            schedule.save(update_fields=["is_active"])
            log.info("scheduled report %s switched off: its user can no longer see the account", pk)
            return False
        message(schedule, *days).send()
        schedule.last_sent_day = days[1]
        schedule.save(update_fields=["last_sent_day"])
    return True


def message(schedule: ScheduledReport, start: date, end: date) -> EmailMessage:
    """The email: the report's name and days in the subject, its headline totals in the body (as
    the table's total row shows them), the report attached as CSV or XLSX."""
    advertiser = schedule.advertiser
    report = ReportQuery.from_json(schedule.query)
    spec = report.spec(advertiser, start, end)
    table = report.table(spec)
    fmt = schedule.format if schedule.format in FORMATS else "csv"
    days = f"{start:%Y-%m-%d}" if start == end else f"{start:%Y-%m-%d} to {end:%Y-%m-%d}"
    dimension_count = table.dimension_count
    headline = [
        f"{column.label}: {cell.text}"
        for column, cell in zip(table.columns[dimension_count:], table.total[dimension_count:], strict=True)
    ]
    watermark = rollup.watermark()
    complete = (
        f"Figures count every event recorded before {watermark.astimezone(advertiser.tz):%Y-%m-%d %H:%M} "
        f"({advertiser.time_zone}); conversions that arrive later can still change them."
        if watermark
        else "The figures are still being counted."
    )
    rows = f"{len(table.rows)} row{'' if len(table.rows) == 1 else 's'}" if dimension_count else "the totals"
    manage = settings.SITE_URL + reverse("report_schedules", kwargs={"advertiser_id": advertiser.pk})
    body = "\n".join(
        [
            f"{schedule.name} for {advertiser.name}, {days} ({advertiser.time_zone}).",
            "",
            *headline,
            "",
            f"The report is attached ({rows}, {fmt.upper()}, amounts in {advertiser.currency}).",
            complete,
            "",
            f"You receive this {schedule.frequency} report because you set it up in Adwright. "
            f"Change or stop it: {manage}",
        ]
    )
    email = EmailMessage(
        subject=f"{schedule.name} · {advertiser.name} · {days}",
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[schedule.user.email],
    )
    name = slugify(schedule.name) or "report"
    email.attach(
        f"{name}-{start:%Y%m%d}{'' if start == end else f'-{end:%Y%m%d}'}.{fmt}",
        exports.render(table, advertiser.currency, fmt, title=schedule.name),
        "text/csv" if fmt == "csv" else exports.FORMATS[fmt],  # the charset is the email's
    )
    return email


# Changes (the schedules page) ------------------------------------------------------------------------


@transaction.atomic
def create_schedule(
    *,
    advertiser: Advertiser,
    user: User,
    name: str,
    frequency: str,
    report: ReportQuery,
    fmt: str,
    actor: Actor,
) -> ScheduledReport:
    """A user's new scheduled report, audited. Its first email is the next run's once it is due: a
    daily report created at 10:00 sends yesterday's figures within the quarter hour, so that the
    user sees at once what they will receive."""
    schedule = ScheduledReport.objects.create(
        advertiser=advertiser,
        user=user,
        name=name,
        frequency=frequency,
        query=report.to_json(),
        format=fmt,
    )
    record(actor=actor, action="create", obj=schedule, after=snapshot(schedule))
    return schedule


@transaction.atomic
def delete_schedule(*, schedule: ScheduledReport, actor: Actor) -> None:
    record(actor=actor, action="delete", obj=schedule, before=snapshot(schedule))
    schedule.delete()
