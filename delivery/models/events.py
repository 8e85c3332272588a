"""The raw event tables: append-only history of what the ad server decided and what happened next.

Written only by the ingestion drain (delivery.ingest), with COPY; read by reporting's rollups. Each
table is partitioned by day on `decided_at` in PostgreSQL (the migration creates the partitioned
parents; delivery.ingest.ensure_partitions the days). `decided_at` is the time inside the decision's
UUIDv7 `event_id`, so every event of one ad lands in the partition of its decision's day and the
primary key (event_id, decided_at) makes ingesting an event twice a no-op.

The references to campaigns, creatives and placements are plain ids in the database (no foreign key
constraint): history must never block the deletion of what it refers to, nor pay a foreign key
check per row. The ForeignKeys below exist for the ORM's joins only. The rows are append-only (a
trigger refuses UPDATE and DELETE); retention drops whole day partitions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import connection, models, transaction

from accounts.models import Advertiser
from campaigns.models import AdGroup, Campaign, Creative
from delivery.models.inventory import Placement, Publisher


def _reference(to: type[models.Model], *, null: bool = False) -> models.ForeignKey:
    return models.ForeignKey(
        to,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
        null=null,
    )


class DecisionEvent(models.Model):
    """An ad chosen for a slot by the auction, with its price and predictions."""

    pk = models.CompositePrimaryKey("event_id", "decided_at")
    event_id = models.UUIDField()
    decided_at = models.DateTimeField()
    at = models.DateTimeField(help_text="The ad request's time (the simulator's clock for its traffic).")
    request_id = models.TextField()
    source = models.TextField()  # delivery.request.Source
    slot_id = models.TextField()
    placement = _reference(Placement, null=True)
    advertiser = _reference(Advertiser)
    campaign = _reference(Campaign)
    ad_group = _reference(AdGroup)
    creative = _reference(Creative)
    user_key = models.TextField()
    country = models.TextField()
    device_type = models.TextField()
    os = models.TextField()
    # What the models learn from (delivery.ml.features), as the request gave it.
    region = models.TextField(db_default="")
    language = models.TextField(db_default="")
    age = models.SmallIntegerField(null=True)
    gender = models.TextField(db_default="")
    interests = models.TextField(db_default="", help_text="Interest segments, sorted, comma-separated.")
    keywords = models.TextField(db_default="", help_text="The page's keywords, sorted, comma-separated.")
    publisher = _reference(Publisher, null=True)
    exposures = models.IntegerField(
        db_default=0, help_text="The person's impressions of this campaign earlier the same UTC day."
    )
    bid_cpm_micros = models.BigIntegerField()  # USD micros CPM
    price_cpm_micros = models.BigIntegerField()  # USD micros CPM
    price_micros = models.BigIntegerField()  # one impression, in the advertiser's currency
    currency = models.TextField()
    billing_event = models.TextField()  # campaigns.models.BillingEvent
    pctr = models.FloatField()
    pcvr = models.FloatField()
    test = models.BooleanField()

    class Meta:
        db_table = "delivery_decision"
        indexes = [models.Index(fields=["campaign", "decided_at"], name="delivery_decision_campaign")]

    def __str__(self) -> str:
        return f"decision {self.event_id}"


class ImpressionEvent(models.Model):
    pk = models.CompositePrimaryKey("event_id", "decided_at")
    event_id = models.UUIDField()
    decided_at = models.DateTimeField()
    at = models.DateTimeField()
    ip = models.GenericIPAddressField(null=True)
    user_agent = models.TextField()
    ivt_reason = models.TextField(help_text="Why the impression is invalid traffic; empty when valid.")

    class Meta:
        db_table = "delivery_impression"
        # Reporting rolls up the impressions that happened in an hour (reporting.rollup).
        indexes = [models.Index(fields=["at"], name="delivery_impression_at")]

    def __str__(self) -> str:
        return f"impression {self.event_id}"


class ClickEvent(models.Model):
    pk = models.CompositePrimaryKey("event_id", "decided_at")
    event_id = models.UUIDField()
    decided_at = models.DateTimeField()
    at = models.DateTimeField()
    ip = models.GenericIPAddressField(null=True)
    user_agent = models.TextField()
    ivt_reason = models.TextField(help_text="Why the click is invalid traffic; empty when valid.")
    had_impression = models.BooleanField()

    class Meta:
        db_table = "delivery_click"
        indexes = [models.Index(fields=["at"], name="delivery_click_at")]

    def __str__(self) -> str:
        return f"click {self.event_id}"


class NoticeEvent(models.Model):
    """An exchange's win, billing or loss notice for a bid: one row per event id and kind of notice."""

    class Kind(models.TextChoices):
        WIN = "win"
        BILLING = "billing"
        LOSS = "loss"

    pk = models.CompositePrimaryKey("event_id", "notice", "decided_at")
    event_id = models.UUIDField()
    notice = models.TextField(choices=Kind.choices)
    decided_at = models.DateTimeField()
    at = models.DateTimeField()
    price_cpm_micros = models.BigIntegerField(null=True)  # the clearing price the exchange reports
    loss_reason = models.TextField()  # OpenRTB loss reason code; empty unless a loss

    class Meta:
        db_table = "delivery_notice"

    def __str__(self) -> str:
        return f"{self.notice} notice {self.event_id}"


class TruthEvent(models.Model):
    """The traffic simulator's ground truth for one of its decisions: the probabilities its world
    drew the click and the conversion from, and what it drew; models are judged against it."""

    pk = models.CompositePrimaryKey("event_id", "decided_at")
    event_id = models.UUIDField()
    decided_at = models.DateTimeField()
    p_click = models.FloatField()
    p_conversion = models.FloatField()
    clicked = models.BooleanField()
    converted = models.BooleanField()

    class Meta:
        db_table = "delivery_truth"

    def __str__(self) -> str:
        return f"truth {self.event_id}"


# Partitions ---------------------------------------------------------------------------------------

EVENT_MODELS: tuple[type[models.Model], ...] = (
    DecisionEvent,
    ImpressionEvent,
    ClickEvent,
    NoticeEvent,
    TruthEvent,
)
EVENT_TABLES: tuple[str, ...] = tuple(model._meta.db_table for model in EVENT_MODELS)
# Serialises partition DDL between drains and the maintenance task (an arbitrary, fixed key).
_PARTITION_LOCK = 0x616477726974_0001
_PARTITION_NAME = re.compile(r"^(?P<table>\w+)_p(?P<day>\d{8})$")


def retention_days() -> int:
    return int(getattr(settings, "EVENT_RETENTION_DAYS", 90))


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def day_of_ms(epoch_ms: int) -> date:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).date()


def existing_partitions() -> dict[str, set[date]]:
    """The days that have a partition, per event table (parsed from the partitions' names)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT parent.relname, child.relname
            FROM pg_inherits
            JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
            JOIN pg_class child ON child.oid = pg_inherits.inhrelid
            WHERE parent.relname = ANY(%s) AND parent.relnamespace = current_schema()::regnamespace
            """,
            [list(EVENT_TABLES)],
        )
        rows = cursor.fetchall()
    days: dict[str, set[date]] = {table: set() for table in EVENT_TABLES}
    for parent, child in rows:
        match = _PARTITION_NAME.match(child)
        if match and match["table"] == parent:
            days[parent].add(datetime.strptime(match["day"], "%Y%m%d").replace(tzinfo=UTC).date())
    return days


def ensure_partitions(days: Iterable[date]) -> list[str]:
    """Create every event table's partition for each of `days` (UTC) that is missing; return the
    names created. Cheap when they all exist: one catalog query, no lock."""
    wanted = sorted(set(days))

    def missing() -> list[tuple[str, date]]:
        existing = existing_partitions()
        return [(table, day) for table in EVENT_TABLES for day in wanted if day not in existing[table]]

    if not missing():
        return []
    created = []
    with transaction.atomic(), connection.cursor() as cursor:
        # Two drains may find the same day missing at once; concurrent CREATE TABLE IF NOT EXISTS
        # of one name can still fail in the catalog, so creation is serialised.
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PARTITION_LOCK])
        for table, day in missing():  # again: another process may have made them meanwhile
            name = partition_name(table, day)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            end = start + timedelta(days=1)
            # DDL takes no bind parameters; the bounds are formatted from datetimes, never from input.
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table} "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
            created.append(name)
    return created


def drop_partitions_before(day: date) -> list[str]:
    """Retention: drop every event table's partitions of the days before `day`; return their names."""
    dropped = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PARTITION_LOCK])
        for table, days in existing_partitions().items():
            for old in sorted(d for d in days if d < day):
                name = partition_name(table, old)
                cursor.execute(f"DROP TABLE IF EXISTS {name}")
                dropped.append(name)
    return dropped


def maintain_partitions(today: date | None = None) -> tuple[list[str], list[str]]:
    """Hourly: partitions for today and the next two days ready before their first event, and the
    days past retention dropped. Returns (created, dropped)."""
    today = today or datetime.now(UTC).date()
    created = ensure_partitions(today + timedelta(days=n) for n in range(3))
    dropped = drop_partitions_before(today - timedelta(days=retention_days()))
    return created, dropped
