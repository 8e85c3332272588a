from django.db import migrations

# The audit log is append-only in the database itself, whatever code (or person with psql) tries.
# TRUNCATE stays possible for the table's owner: the test runner empties tables that way.
FORWARD = """
CREATE FUNCTION accounts_auditlog_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'accounts_auditlog is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER accounts_auditlog_append_only
    BEFORE UPDATE OR DELETE ON accounts_auditlog
    FOR EACH ROW EXECUTE FUNCTION accounts_auditlog_append_only();
"""
BACKWARD = """
DROP TRIGGER IF EXISTS accounts_auditlog_append_only ON accounts_auditlog;
DROP FUNCTION IF EXISTS accounts_auditlog_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
