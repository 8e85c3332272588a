"""The raw event tables, partitioned by day in PostgreSQL (which Django cannot create itself).

The models' state is declared with the same CreateModel operations makemigrations would write; the
tables are created by hand as partitioned parents. Partitions (one per UTC day) are created on
demand by delivery.models.events.ensure_partitions. References to campaigns and inventory are plain
bigint columns without foreign key constraints, and the rows are append-only: a trigger refuses
UPDATE and DELETE (retention drops whole partitions; TRUNCATE stays possible for the test runner).
"""

import django.db.models.deletion
from django.db import migrations, models

TABLES = ("delivery_decision", "delivery_impression", "delivery_click", "delivery_notice", "delivery_truth")

FORWARD = """
CREATE TABLE delivery_decision (
    event_id uuid NOT NULL,
    decided_at timestamp with time zone NOT NULL,
    at timestamp with time zone NOT NULL,
    request_id text NOT NULL,
    source text NOT NULL,
    slot_id text NOT NULL,
    placement_id bigint NULL,
    advertiser_id bigint NOT NULL,
    campaign_id bigint NOT NULL,
    ad_group_id bigint NOT NULL,
    creative_id bigint NOT NULL,
    user_key text NOT NULL,
    country text NOT NULL,
    device_type text NOT NULL,
    os text NOT NULL,
    bid_cpm_micros bigint NOT NULL,
    price_cpm_micros bigint NOT NULL,
    price_micros bigint NOT NULL,
    currency text NOT NULL,
    billing_event text NOT NULL,
    pctr double precision NOT NULL,
    pcvr double precision NOT NULL,
    test boolean NOT NULL,
    PRIMARY KEY (event_id, decided_at)
) PARTITION BY RANGE (decided_at);
CREATE INDEX delivery_decision_campaign ON delivery_decision (campaign_id, decided_at);

CREATE TABLE delivery_impression (
    event_id uuid NOT NULL,
    decided_at timestamp with time zone NOT NULL,
    at timestamp with time zone NOT NULL,
    ip inet NULL,
    user_agent text NOT NULL,
    ivt_reason text NOT NULL,
    PRIMARY KEY (event_id, decided_at)
) PARTITION BY RANGE (decided_at);

CREATE TABLE delivery_click (
    event_id uuid NOT NULL,
    decided_at timestamp with time zone NOT NULL,
    at timestamp with time zone NOT NULL,
    ip inet NULL,
    user_agent text NOT NULL,
    ivt_reason text NOT NULL,
    had_impression boolean NOT NULL,
    PRIMARY KEY (event_id, decided_at)
) PARTITION BY RANGE (decided_at);

CREATE TABLE delivery_notice (
    event_id uuid NOT NULL,
    notice text NOT NULL,
    decided_at timestamp with time zone NOT NULL,
    at timestamp with time zone NOT NULL,
    price_cpm_micros bigint NULL,
    loss_reason text NOT NULL,
    PRIMARY KEY (event_id, notice, decided_at)
) PARTITION BY RANGE (decided_at);

CREATE TABLE delivery_truth (
    event_id uuid NOT NULL,
    decided_at timestamp with time zone NOT NULL,
    p_click double precision NOT NULL,
    p_conversion double precision NOT NULL,
    clicked boolean NOT NULL,
    converted boolean NOT NULL,
    PRIMARY KEY (event_id, decided_at)
) PARTITION BY RANGE (decided_at);

CREATE FUNCTION delivery_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
""" + "".join(
    f"""
CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION delivery_events_append_only();
"""
    for table in TABLES
)

BACKWARD = (
    "".join(f"DROP TABLE IF EXISTS {table};\n" for table in TABLES)
    + "DROP FUNCTION IF EXISTS delivery_events_append_only();\n"
)


def _reference(to: str, *, null: bool = False) -> models.ForeignKey:
    return models.ForeignKey(
        db_constraint=False,
        db_index=False,
        null=null,
        on_delete=django.db.models.deletion.DO_NOTHING,
        related_name="+",
        to=to,
    )


STATE = [
    migrations.CreateModel(
        name="ClickEvent",
        fields=[
            (
                "pk",
                models.CompositePrimaryKey(
                    "event_id", "decided_at", blank=True, editable=False, primary_key=True, serialize=False
                ),
            ),
            ("event_id", models.UUIDField()),
            ("decided_at", models.DateTimeField()),
            ("at", models.DateTimeField()),
            ("ip", models.GenericIPAddressField(null=True)),
            ("user_agent", models.TextField()),
            ("ivt_reason", models.TextField(help_text="Why the click is invalid traffic; empty when valid.")),
            ("had_impression", models.BooleanField()),
        ],
        options={"db_table": "delivery_click"},
    ),
    migrations.CreateModel(
        name="ImpressionEvent",
        fields=[
            (
                "pk",
                models.CompositePrimaryKey(
                    "event_id", "decided_at", blank=True, editable=False, primary_key=True, serialize=False
                ),
            ),
            ("event_id", models.UUIDField()),
            ("decided_at", models.DateTimeField()),
            ("at", models.DateTimeField()),
            ("ip", models.GenericIPAddressField(null=True)),
            ("user_agent", models.TextField()),
            (
                "ivt_reason",
                models.TextField(help_text="Why the impression is invalid traffic; empty when valid."),
            ),
        ],
        options={"db_table": "delivery_impression"},
    ),
    migrations.CreateModel(
        name="NoticeEvent",
        fields=[
            (
                "pk",
                models.CompositePrimaryKey(
                    "event_id",
                    "notice",
                    "decided_at",
                    blank=True,
                    editable=False,
                    primary_key=True,
                    serialize=False,
                ),
            ),
            ("event_id", models.UUIDField()),
            ("notice", models.TextField(choices=[("win", "Win"), ("billing", "Billing"), ("loss", "Loss")])),
            ("decided_at", models.DateTimeField()),
            ("at", models.DateTimeField()),
            ("price_cpm_micros", models.BigIntegerField(null=True)),
            ("loss_reason", models.TextField()),
        ],
        options={"db_table": "delivery_notice"},
    ),
    migrations.CreateModel(
        name="TruthEvent",
        fields=[
            (
                "pk",
                models.CompositePrimaryKey(
                    "event_id", "decided_at", blank=True, editable=False, primary_key=True, serialize=False
                ),
            ),
            ("event_id", models.UUIDField()),
            ("decided_at", models.DateTimeField()),
            ("p_click", models.FloatField()),
            ("p_conversion", models.FloatField()),
            ("clicked", models.BooleanField()),
            ("converted", models.BooleanField()),
        ],
        options={"db_table": "delivery_truth"},
    ),
    migrations.CreateModel(
        name="DecisionEvent",
        fields=[
            (
                "pk",
                models.CompositePrimaryKey(
                    "event_id", "decided_at", blank=True, editable=False, primary_key=True, serialize=False
                ),
            ),
            ("event_id", models.UUIDField()),
            ("decided_at", models.DateTimeField()),
            (
                "at",
                models.DateTimeField(
                    help_text="The ad request's time (the simulator's clock for its traffic)."
                ),
            ),
            ("request_id", models.TextField()),
            ("source", models.TextField()),
            ("slot_id", models.TextField()),
            ("user_key", models.TextField()),
            ("country", models.TextField()),
            ("device_type", models.TextField()),
            ("os", models.TextField()),
            ("bid_cpm_micros", models.BigIntegerField()),
            ("price_cpm_micros", models.BigIntegerField()),
            ("price_micros", models.BigIntegerField()),
            ("currency", models.TextField()),
            ("billing_event", models.TextField()),
            ("pctr", models.FloatField()),
            ("pcvr", models.FloatField()),
            ("test", models.BooleanField()),
            ("ad_group", _reference("campaigns.adgroup")),
            ("advertiser", _reference("accounts.advertiser")),
            ("campaign", _reference("campaigns.campaign")),
            ("creative", _reference("campaigns.creative")),
            ("placement", _reference("delivery.placement", null=True)),
        ],
        options={
            "db_table": "delivery_decision",
            "indexes": [models.Index(fields=["campaign", "decided_at"], name="delivery_decision_campaign")],
        },
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_audit_log_agency"),
        ("campaigns", "0004_creative_category"),
        ("delivery", "0001_initial"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD, state_operations=STATE)]
