"""`billing migrate` against real databases: fresh, re-run, changed file, concurrent."""

import os
import shutil
import subprocess
import uuid

import pytest

from conftest import BILLING_BIN, DATABASE_URL, REPO_ROOT, sql


@pytest.fixture()
def fresh_database():
    name = "migrate_" + uuid.uuid4().hex[:8]
    sql(f"CREATE DATABASE {name}")
    url = DATABASE_URL.replace("/billing?", f"/{name}?")
    yield url
    sql(f"DROP DATABASE {name} WITH (FORCE)")


def migrate(url, directory):
    return subprocess.run([BILLING_BIN, "migrate", "--dir", str(directory), "--database-url", url],
                          capture_output=True, text=True, timeout=60)


def test_fresh_then_rerun(fresh_database):
    first = migrate(fresh_database, f"{REPO_ROOT}/sql")
    assert first.returncode == 0 and "applied" in first.stdout, first.stderr
    second = migrate(fresh_database, f"{REPO_ROOT}/sql")
    assert second.returncode == 0 and "up to date" in second.stdout


def test_changed_migration_is_refused(fresh_database, tmp_path):
    shutil.copytree(f"{REPO_ROOT}/sql", tmp_path / "sql")
    assert migrate(fresh_database, tmp_path / "sql").returncode == 0
    first = sorted((tmp_path / "sql").glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited after apply\n")
    result = migrate(fresh_database, tmp_path / "sql")
    assert result.returncode != 0
    assert "changed after it was applied" in result.stderr


def test_new_migration_is_applied_in_order(fresh_database, tmp_path):
    shutil.copytree(f"{REPO_ROOT}/sql", tmp_path / "sql")
    assert migrate(fresh_database, tmp_path / "sql").returncode == 0
    (tmp_path / "sql" / "9999_extra.sql").write_text("CREATE TABLE extra (id int);")
    result = migrate(fresh_database, tmp_path / "sql")
    assert result.returncode == 0 and "9999_extra" in result.stdout


def test_two_concurrent_migrators(fresh_database):
    command = [BILLING_BIN, "migrate", "--dir", f"{REPO_ROOT}/sql", "--database-url", fresh_database]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=60) + (p.returncode,) for p in processes]
    assert all(code == 0 for _, _, code in results), results
    applied = [out for out, _, _ in results if "applied" in out]
    assert len(applied) == 1, results


def test_health_knows_the_newest_migration():
    newest = sorted(p.split("/")[-1][:-4] for p in map(str, __import__("pathlib").Path(f"{REPO_ROOT}/sql").glob("*.sql")))[-1]
    source = open(f"{REPO_ROOT}/Sources/Billing/Store/Health.swift").read()
    assert f'latestMigration = "{newest}"' in source


def test_invoices_made_before_invoicing_migrate_with_their_state(fresh_database, tmp_path):
    """A database of the schema before 0005 with a paid and an open invoice: the new columns
    are filled in (the triggers guarding settled invoices do not refuse it)."""
    old = tmp_path / "old"
    old.mkdir()
    for path in sorted(os.listdir(f"{REPO_ROOT}/sql"))[:4]:
        shutil.copy(f"{REPO_ROOT}/sql/{path}", old / path)
    assert migrate(fresh_database, old).returncode == 0
    subprocess.run(["psql", fresh_database, "-qAtX", "-v", "ON_ERROR_STOP=1"], check=True, text=True, input="""
        INSERT INTO customers (id, email, name, currency, created_at, updated_at)
            VALUES ('00000000-0000-7000-8000-000000000001', 'old@example.com', 'Old', 'EUR', now(), now());
        INSERT INTO plans (id, code, name, amount_cents, currency, interval, interval_count, trial_days, created_at)
            VALUES ('00000000-0000-7000-8000-000000000002', 'old', 'Old', 900, 'EUR', 'month', 1, 0, now());
        INSERT INTO subscriptions (id, customer_id, plan_id, status, start_at, billing_cycle_anchor,
            current_period_start, current_period_end, created_at, updated_at)
            VALUES ('00000000-0000-7000-8000-000000000003', '00000000-0000-7000-8000-000000000001',
            '00000000-0000-7000-8000-000000000002', 'active', now(), now(), now(), now() + interval '1 month', now(), now());
        INSERT INTO invoices (id, number, customer_id, subscription_id, billing_reason, status, currency, subtotal_cents,
            balance_applied_cents, amount_cents, period_start, period_end, due_at, created_at, paid_at)
        SELECT ('00000000-0000-7000-9000-00000000000' || n)::uuid, 'INV-00000' || n,
            '00000000-0000-7000-8000-000000000001', '00000000-0000-7000-8000-000000000003',
            'subscription_create', s, 'EUR', 900, 0, 900, now() - n * interval '1 day', now(), now(), now(),
            CASE WHEN s = 'paid' THEN now() END
        FROM (VALUES (1, 'paid'), (2, 'open')) v(n, s);
        INSERT INTO invoice_lines (id, invoice_id, position, kind, description, amount_cents, period_start, period_end)
        SELECT gen_random_uuid(), id, 0, 'subscription', 'Old', 900, period_start, period_end FROM invoices;
        INSERT INTO customers (id, email, name, created_at, updated_at)
            SELECT gen_random_uuid(), 'old' || i || '@example.com', 'Old', now(), now() FROM generate_series(1, 500) i;
        """)
    result = migrate(fresh_database, f"{REPO_ROOT}/sql")
    assert result.returncode == 0, result.stderr
    rows = subprocess.run(["psql", fresh_database, "-qAtX", "-c",
                           "SELECT status, amount_paid_cents, amount_remaining_cents, total_cents, finalized_at IS NOT NULL "
                           "FROM invoices ORDER BY number"], capture_output=True, text=True, check=True).stdout.split()
    assert rows == ["paid|900|0|900|t", "open|0|900|900|t"]
    # 0009: every customer gets its own invoice prefix; numbers already given stay as they are.
    prefixes = subprocess.run(["psql", fresh_database, "-qAtX", "-c",
                               "SELECT count(*), count(DISTINCT invoice_prefix), "
                               "count(*) FILTER (WHERE invoice_prefix ~ '^[A-Z0-9]{8}$' AND invoice_number_last = 0), "
                               "(SELECT string_agg(number, ',' ORDER BY number) FROM invoices) FROM customers"],
                              capture_output=True, text=True, check=True).stdout.split()
    assert prefixes == ["501|501|501|INV-000001,INV-000002"]


def test_invoices_of_clock_customers_get_their_clock(fresh_database, tmp_path):
    """0023: invoices made before it copy their customer's test clock, paid ones too (the
    trigger guarding settled invoices is back on after), and others stay on none."""
    old = tmp_path / "old"
    old.mkdir()
    for path in sorted(p for p in os.listdir(f"{REPO_ROOT}/sql") if p < "0023"):
        shutil.copy(f"{REPO_ROOT}/sql/{path}", old / path)
    assert migrate(fresh_database, old).returncode == 0
    subprocess.run(["psql", fresh_database, "-qAtX", "-v", "ON_ERROR_STOP=1"], check=True, text=True, input="""
        INSERT INTO test_clocks (id, name, frozen_time, status, created_at, updated_at)
            VALUES ('00000000-0000-7000-8000-00000000000c', 'Old', '2025-01-01', 'ready', now(), now());
        INSERT INTO customers (id, email, name, currency, invoice_prefix, test_clock_id, created_at, updated_at) VALUES
            ('00000000-0000-7000-8000-000000000001', 'clock@example.com', 'Clock', 'EUR', 'CLOCK001',
             '00000000-0000-7000-8000-00000000000c', now(), now()),
            ('00000000-0000-7000-8000-000000000002', 'real@example.com', 'Real', 'EUR', 'REAL0001', NULL, now(), now());
        INSERT INTO invoices (id, number, customer_id, billing_reason, status, currency, subtotal_cents, total_cents,
            balance_applied_cents, amount_cents, amount_remaining_cents, period_start, period_end, due_at,
            finalized_at, created_at, paid_at, hosted_token)
        SELECT ('00000000-0000-7000-9000-00000000000' || n)::uuid, 'INV-00000' || n,
            ('00000000-0000-7000-8000-00000000000' || c)::uuid, 'manual', s, 'EUR', 900, 900, 0, 900,
            CASE WHEN s = 'paid' THEN 0 ELSE 900 END, now(), now(), now(), now(), now(),
            CASE WHEN s = 'paid' THEN now() END, 'token_' || n || repeat('x', 15)
        FROM (VALUES (1, 1, 'paid'), (2, 1, 'open'), (3, 2, 'open')) v(n, c, s);
        """)
    result = migrate(fresh_database, f"{REPO_ROOT}/sql")
    assert result.returncode == 0, result.stderr
    clocks = subprocess.run(["psql", fresh_database, "-qAtX", "-c",
                             "SELECT number || ':' || coalesce(test_clock_id::text, '-') FROM invoices ORDER BY number"],
                            capture_output=True, text=True, check=True).stdout.split()
    clock = "00000000-0000-7000-8000-00000000000c"
    assert clocks == [f"INV-000001:{clock}", f"INV-000002:{clock}", "INV-000003:-"]
    refused = subprocess.run(["psql", fresh_database, "-qAtX", "-c",
                              "UPDATE invoices SET total_cents = 1 WHERE number = 'INV-000001'"],
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "never change" in refused.stderr
