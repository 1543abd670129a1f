"""The service connects as billing_app: it reads and writes its rows and can do nothing else."""

import subprocess

import pytest

from conftest import APP_DATABASE_URL, DATABASE_URL, sql


def as_app(statement):
    return subprocess.run(["psql", APP_DATABASE_URL, "-AtX", "-v", "ON_ERROR_STOP=1", "-c", statement],
                          capture_output=True, text=True)


def test_the_service_runs_as_the_application_role():
    assert APP_DATABASE_URL != DATABASE_URL
    users = {row[0] for row in sql("SELECT usename FROM pg_stat_activity WHERE application_name = 'billing'")}
    assert users == {"billing_app"}, users
    assert sql("SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles WHERE rolname = 'billing_app'") == [["f"]]


@pytest.mark.parametrize("statement", [
    "CREATE TABLE intruder (id int)",
    "DROP TABLE customers",
    "ALTER TABLE invoices DROP CONSTRAINT invoices_number_key",
    "TRUNCATE events",
    "DELETE FROM payments",
    "DELETE FROM invoice_number_counter",
    "DELETE FROM customers",
    "UPDATE events SET type = 'customer.created'",
    "DROP TRIGGER invoices_settled_are_immutable ON invoices",
    "INSERT INTO schema_migrations (version, checksum) VALUES ('x', 'y')",
    "CREATE ROLE another",
])
def test_the_application_role_cannot_change_schema_or_history(statement):
    result = as_app(statement)
    assert result.returncode != 0, statement
    assert "permission denied" in result.stderr or "must be owner" in result.stderr or "append-only" in result.stderr


def test_the_application_role_can_do_its_work():
    assert as_app("SELECT count(*) FROM customers").returncode == 0
    assert as_app("SELECT version FROM schema_migrations LIMIT 1").returncode == 0
