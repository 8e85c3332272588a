"""The rollups: what dashboards, exports and the report API read. They never read raw events.

Celery (reporting.rollup) rebuilds them one UTC hour at a time from the raw event tables, the ledger
and the conversions; each table is a sum of the finest one (`HourlyRollup`). The convention, the
one Google Ads calls "by interaction time":

- an impression, a click and a charge count in the hour they happened (their `at`);
- a conversion counts in the hour of the click or impression it is credited to (`touch_at`), so a
  conversion that arrives days later changes an old hour, and that hour is rolled up again;
- a credit (overspend given back, campaigns.models.LedgerEntry) counts in its own hour, against
  its campaign only: it has no ad group, creative, placement, country or device (0 or "").

`day` is the advertiser's local day of the event (the ledger's own `day` for money), so a day in a
report is the advertiser's day even in a time zone half an hour off UTC, or on the day of a
daylight-saving change: an hour that straddles two local days is two rows. Money is integer micros
of the account currency. Test traffic (OpenRTB test=1) and test conversions are not counted.

The dimensions are plain ids (0 for none), not foreign keys: rollups outlive what they describe,
and are kept when the raw events are dropped (delivery.models.events.drop_partitions_before).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Measures(models.Model):
    """The additive numbers every rollup keeps; everything a report shows is derived from them."""

    impressions = models.BigIntegerField(default=0, help_text="Valid impressions.")
    invalid_impressions = models.BigIntegerField(default=0)
    clicks = models.BigIntegerField(default=0, help_text="Valid clicks.")
    invalid_clicks = models.BigIntegerField(default=0)
    conversions = models.BigIntegerField(default=0, help_text="Attributed, not test.")
    conversion_value_micros = models.BigIntegerField(default=0)
    spend_micros = models.BigIntegerField(default=0, help_text="Charged (the ledger's charges).")
    credit_micros = models.BigIntegerField(default=0, help_text="Credited back (the ledger's credits).")

    class Meta:
        abstract = True


class HourlyRollup(Measures):
    """The finest grain, the one the issue names: (hour, advertiser, campaign, ad group, creative,
    placement, country, device type). It is what an hour's rebuild writes, what the coarser grains
    are summed from, and what a report asks of when it breaks an hour down by placement, country or
    device. On the simulator's traffic it keeps about 1 row for 60 raw ones (bench: `reporting`):
    few enough to sum any day of one advertiser in milliseconds."""

    hour = models.DateTimeField(help_text="The UTC hour's start.")
    day = models.DateField(help_text="The advertiser's local day.")
    advertiser_id = models.BigIntegerField()
    campaign_id = models.BigIntegerField()
    ad_group_id = models.BigIntegerField()
    creative_id = models.BigIntegerField()
    placement_id = models.BigIntegerField()
    country = models.CharField(max_length=2)
    device_type = models.CharField(max_length=16)

    class Meta:
        db_table = "reporting_hourly"
        indexes = [
            models.Index(fields=["hour"], name="reporting_hourly_hour"),
            models.Index(fields=["advertiser_id", "day"], name="reporting_hourly_advertiser"),
            models.Index(fields=["campaign_id", "day"], name="reporting_hourly_campaign"),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h campaign {self.campaign_id}"


class CreativeHourRollup(Measures):
    """(hour, advertiser, campaign, ad group, creative): hourly charts and hour-of-day breakdowns,
    and any question asked in another time zone than the account's. Placement, country and device
    multiply the rows of the finest grain by tens; none of these needs them."""

    hour = models.DateTimeField()
    day = models.DateField()
    advertiser_id = models.BigIntegerField()
    campaign_id = models.BigIntegerField()
    ad_group_id = models.BigIntegerField()
    creative_id = models.BigIntegerField()

    class Meta:
        db_table = "reporting_creative_hourly"
        indexes = [
            models.Index(fields=["hour"], name="reporting_creative_hour"),
            models.Index(fields=["advertiser_id", "day"], name="reporting_creative_advertiser"),
            models.Index(fields=["campaign_id", "day"], name="reporting_creative_campaign"),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h creative {self.creative_id}"


class CreativeDayRollup(Measures):
    """(advertiser day, advertiser, campaign, ad group, creative): the creative-hour grain by the
    day. Headline figures, daily charts, top campaigns and the Ads Manager's list ask about days;
    summing 30 days of this reads 24 times fewer rows than the hours do."""

    day = models.DateField()
    advertiser_id = models.BigIntegerField()
    campaign_id = models.BigIntegerField()
    ad_group_id = models.BigIntegerField()
    creative_id = models.BigIntegerField()

    class Meta:
        db_table = "reporting_creative_daily"
        constraints = [
            models.UniqueConstraint(
                fields=["day", "advertiser_id", "campaign_id", "ad_group_id", "creative_id"],
                name="reporting_creative_day_unique",
            )
        ]
        indexes = [
            models.Index(fields=["advertiser_id", "day"], name="reporting_creative_day_adv"),
            models.Index(fields=["campaign_id", "day"], name="reporting_creative_day_camp"),
        ]

    def __str__(self) -> str:
        return f"{self.day} creative {self.creative_id}"


class DailyRollup(Measures):
    """(advertiser day, advertiser, campaign, ad group, creative, placement, country, device type):
    the breakdowns by country, device, placement and creative over a range of days. A combination
    seen in several hours of a day is one row here, so a month's breakdown sums a few thousand rows
    rather than the finest grain's hundred thousand."""

    day = models.DateField()
    advertiser_id = models.BigIntegerField()
    campaign_id = models.BigIntegerField()
    ad_group_id = models.BigIntegerField()
    creative_id = models.BigIntegerField()
    placement_id = models.BigIntegerField()
    country = models.CharField(max_length=2)
    device_type = models.CharField(max_length=16)

    class Meta:
        db_table = "reporting_daily"
        # The key the hours' changes are added on (reporting.rollup).
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "day",
                    "advertiser_id",
                    "campaign_id",
                    "ad_group_id",
                    "creative_id",
                    "placement_id",
                    "country",
                    "device_type",
                ],
                name="reporting_daily_unique",
            )
        ]
        indexes = [
            models.Index(fields=["advertiser_id", "day"], name="reporting_daily_advertiser"),
            models.Index(fields=["campaign_id", "day"], name="reporting_daily_campaign"),
        ]

    def __str__(self) -> str:
        return f"{self.day} campaign {self.campaign_id}"


class DirtyHour(models.Model):
    """A mark: the hour's raw events changed since its last rollup. Database triggers on the event
    tables, the ledger and the conversions add one per hour a statement touches (migration 0002),
    whoever writes them. Marks are only ever added and deleted, never updated: concurrent writers
    never wait on each other for one, and a rollup deletes only the marks it saw before it read
    the hour, so a mark committed meanwhile stays for the next run."""

    hour = models.DateTimeField()
    marked_at = models.DateTimeField()

    class Meta:
        db_table = "reporting_dirty_hour"
        indexes = [models.Index(fields=["hour"], name="reporting_dirty_hour_hour")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h marked at {self.marked_at}"


class RollupState(models.Model):
    """One row: how fresh the rollups are. `complete_at` is the watermark: every event written
    to the database before it is in the rollups."""

    complete_at = models.DateTimeField(null=True)
    last_run_at = models.DateTimeField(null=True)
    last_run_hours = models.IntegerField(default=0)
    last_run_seconds = models.FloatField(default=0)
    pending_hours = models.IntegerField(default=0)

    class Meta:
        db_table = "reporting_state"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="reporting_state_one_row")]

    def __str__(self) -> str:
        return f"rollups complete at {self.complete_at}"


class ReportJob(models.Model):
    """A report too large to answer inline: run by Celery, polled and downloaded by the client."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    advertiser = models.ForeignKey("accounts.Advertiser", on_delete=models.CASCADE, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    api_key = models.ForeignKey("accounts.ApiKey", on_delete=models.SET_NULL, null=True, blank=True)
    query = models.JSONField(help_text="The report's parameters, as validated.")
    format = models.CharField(max_length=8, default="csv")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    rows = models.IntegerField(null=True, blank=True)
    result = models.BinaryField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"report job {self.pk} ({self.status})"


class ScheduledReport(models.Model):
    """A report emailed to a user daily or weekly, on the advertiser's days."""

    class Frequency(models.TextChoices):
        DAILY = "daily", "Daily (yesterday)"
        WEEKLY = "weekly", "Weekly (the last 7 days, on Mondays)"

    advertiser = models.ForeignKey("accounts.Advertiser", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    frequency = models.CharField(max_length=8, choices=Frequency.choices, default=Frequency.DAILY)
    query = models.JSONField(help_text="Dimensions, metrics and filters (no dates: the schedule sets them).")
    format = models.CharField(max_length=8, default="csv")
    is_active = models.BooleanField(default=True)
    last_sent_day = models.DateField(
        null=True, blank=True, help_text="The advertiser day it was last sent for."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ReachSketch(models.Model):
    """The people a campaign reached in one UTC hour of one advertiser day, as a HyperLogLog
    sketch (reporting.reach): 2,048 one-byte registers. Reach is not additive, so it cannot be a
    column of the rollups above; sketches are, by taking the larger register. Campaign grain only:
    reach by country or creative would multiply the sketches by hundreds."""

    hour = models.DateTimeField()
    day = models.DateField()
    advertiser_id = models.BigIntegerField()
    campaign_id = models.BigIntegerField()
    registers = models.BinaryField()

    class Meta:
        db_table = "reporting_reach_hourly"
        indexes = [
            models.Index(fields=["hour"], name="reporting_reach_hour"),
            # A day's sketch is merged from its hours' (reporting.reach).
            models.Index(fields=["campaign_id", "day"], name="reporting_reach_campaign"),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h reach of campaign {self.campaign_id}"


class DailyReachSketch(models.Model):
    """A campaign's advertiser day of reach: its hours' sketches merged. What the dashboards read."""

    day = models.DateField()
    advertiser_id = models.BigIntegerField()
    campaign_id = models.BigIntegerField()
    registers = models.BinaryField()

    class Meta:
        db_table = "reporting_reach_daily"
        constraints = [
            models.UniqueConstraint(fields=["campaign_id", "day"], name="reporting_reach_daily_unique")
        ]
        indexes = [models.Index(fields=["advertiser_id", "day"], name="reporting_reach_advertiser")]

    def __str__(self) -> str:
        return f"{self.day} reach of campaign {self.campaign_id}"
