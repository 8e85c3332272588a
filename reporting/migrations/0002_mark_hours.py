"""Triggers that mark an hour dirty whenever its raw events change, whoever writes them.

One statement-level trigger per table and kind of write, with a transition table: the drain's
INSERT ... SELECT of thousands of events adds one mark per distinct hour, not per row; a plain
INSERT, so that drains writing the same hour at once never wait on each other.
Hours already holding events when this is installed are marked too, so they are rolled up.
"""

from django.db import migrations

MARK = """
-- The time inside a UUIDv7 (its first 48 bits, milliseconds since the epoch): a decision's
-- decided_at, from the event id that a conversion is credited to.
CREATE FUNCTION reporting_uuid7_time(u uuid) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT timestamptz 'epoch'
        + ('x' || lpad(left(replace(u::text, '-', ''), 12), 16, '0'))::bit(64)::bigint
        * interval '1 millisecond'
$$;

-- Marks the hours of the rows in the transition table `new_rows` (and `old_rows` for updates),
-- by the column named in the trigger's first argument.
CREATE FUNCTION reporting_mark_hours() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    hours text;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        hours := format('SELECT %1$I FROM new_rows UNION SELECT %1$I FROM old_rows', TG_ARGV[0]);
    ELSE
        hours := format('SELECT %I FROM new_rows', TG_ARGV[0]);
    END IF;
    EXECUTE format(
        'INSERT INTO reporting_dirty_hour (hour, marked_at)
         SELECT DISTINCT date_trunc(''hour'', t), now() FROM (%s) AS changed(t) WHERE t IS NOT NULL',
        hours);
    RETURN NULL;
END
$$;

CREATE TRIGGER reporting_mark_impressions AFTER INSERT ON delivery_impression
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION reporting_mark_hours('at');
CREATE TRIGGER reporting_mark_clicks AFTER INSERT ON delivery_click
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION reporting_mark_hours('at');
CREATE TRIGGER reporting_mark_ledger AFTER INSERT ON campaigns_ledgerentry
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION reporting_mark_hours('at');
CREATE TRIGGER reporting_mark_ledger_update AFTER UPDATE ON campaigns_ledgerentry
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reporting_mark_hours('at');
CREATE TRIGGER reporting_mark_conversions AFTER INSERT ON campaigns_conversion
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION reporting_mark_hours('touch_at');
CREATE TRIGGER reporting_mark_conversions_update AFTER UPDATE ON campaigns_conversion
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reporting_mark_hours('touch_at');
CREATE TRIGGER reporting_mark_conversions_delete AFTER DELETE ON campaigns_conversion
    REFERENCING OLD TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION reporting_mark_hours('touch_at');

INSERT INTO reporting_dirty_hour (hour, marked_at)
SELECT h, now()
FROM (
    SELECT date_trunc('hour', at) AS h FROM delivery_impression
    UNION SELECT date_trunc('hour', at) FROM delivery_click
    UNION SELECT date_trunc('hour', at) FROM campaigns_ledgerentry
    UNION SELECT date_trunc('hour', touch_at) FROM campaigns_conversion WHERE touch_at IS NOT NULL
) AS hs;
"""

UNMARK = """
DROP TRIGGER reporting_mark_impressions ON delivery_impression;
DROP TRIGGER reporting_mark_clicks ON delivery_click;
DROP TRIGGER reporting_mark_ledger ON campaigns_ledgerentry;
DROP TRIGGER reporting_mark_ledger_update ON campaigns_ledgerentry;
DROP TRIGGER reporting_mark_conversions ON campaigns_conversion;
DROP TRIGGER reporting_mark_conversions_update ON campaigns_conversion;
DROP TRIGGER reporting_mark_conversions_delete ON campaigns_conversion;
DROP FUNCTION reporting_mark_hours();
DROP FUNCTION reporting_uuid7_time(uuid);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("reporting", "0001_initial"),
        ("delivery", "0005_event_time_indexes"),
        ("campaigns", "0009_reporting_indexes"),
    ]

    operations = [migrations.RunSQL(MARK, UNMARK)]
