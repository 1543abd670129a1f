"""invoicing.md §1 "Number series" through nginx and a pool of its own started with
INVOICE_NUMBERING=per_customer, on the same database as the default pool (global): every
customer's prefix, its gapless series under concurrency, customers that never wait on one
another's counter, credit notes, the billing run, and switching the setting."""

import re
import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from conftest import (APP_DATABASE_URL, BILLING_BIN, DATABASE_URL, Client, assert_number_series_gapless, fire,
                      new_customer, new_plan, sql, subscribe)
from pool import Pool

PREFIX = re.compile(r"^[A-Z0-9]{8}$")


@pytest.fixture(scope="module")
def per_customer_pool():
    pool = Pool(workers=1, threads=4, env={"INVOICE_NUMBERING": "per_customer"})
    yield pool
    pool.stop()


@pytest.fixture()
def per_customer(api_key, per_customer_pool):
    return Client(api_key, base=per_customer_pool.base)


def finalized_one_off(client, customer, amount=500):
    draft = client.post("/invoices", {"customer_id": customer["id"], "currency": "EUR"})
    assert draft.status_code == 201, draft.text
    draft = draft.json()
    item = client.post("/invoice-items", {"customer_id": customer["id"], "invoice_id": draft["id"],
                                          "description": "Setup", "amount_cents": amount})
    assert item.status_code == 201, item.text
    final = client.post(f"/invoices/{draft['id']}/finalize")
    assert final.status_code == 200, final.text
    return final.json()


def test_every_customer_gets_its_own_prefix_for_good(client):
    customers = [new_customer(client) for _ in range(20)]
    prefixes = {c["invoice_prefix"] for c in customers}
    assert len(prefixes) == 20 and all(PREFIX.match(p) for p in prefixes), prefixes
    assert client.get(f"/customers/{customers[0]['id']}").json()["invoice_prefix"] == customers[0]["invoice_prefix"]
    for response in (client.post("/customers", {"email": "p@example.com", "name": "P", "invoice_prefix": "AAAAAAAA"}),
                     client.patch(f"/customers/{customers[0]['id']}", {"invoice_prefix": "AAAAAAAA"})):
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "invoice_prefix"
    assert client.get(f"/customers/{customers[0]['id']}").json()["invoice_prefix"] == customers[0]["invoice_prefix"]


def test_a_prefix_never_changes_and_a_series_never_goes_back_in_the_database(per_customer):
    customer = new_customer(per_customer)
    finalized_one_off(per_customer, customer)
    for statement in (f"UPDATE customers SET invoice_prefix = 'AAAAAAAA' WHERE id = '{customer['id']}'",
                      f"UPDATE customers SET invoice_number_last = 0 WHERE id = '{customer['id']}'"):
        # As the service's own role: what any code of the service could try.
        result = subprocess.run(["psql", APP_DATABASE_URL, "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", statement],
                                capture_output=True, text=True)
        assert result.returncode != 0 and "never" in result.stderr, result.stderr


def test_50_concurrent_finalizations_for_one_customer_take_0001_to_0050(api_key, per_customer):
    customer = new_customer(per_customer)
    drafts = []
    for _ in range(50):
        draft = per_customer.post("/invoices", {"customer_id": customer["id"], "currency": "EUR"}).json()
        per_customer.post("/invoice-items", {"customer_id": customer["id"], "invoice_id": draft["id"],
                                             "description": "Seat", "amount_cents": 100})
        drafts.append(draft)
    base = per_customer.base
    responses = fire(50, lambda i: Client(api_key, base=base).post(f"/invoices/{drafts[i]['id']}/finalize"))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
    prefix = customer["invoice_prefix"]
    assert sorted(r.json()["number"] for r in responses) == [f"{prefix}-{n:04d}" for n in range(1, 51)]
    assert sql(f"SELECT invoice_number_last FROM customers WHERE id = '{customer['id']}'") == [["50"]]
    # The number the answer shows is the one stored and the one in the invoice's event.
    shown = responses[0].json()
    assert sql(f"""SELECT count(*) FROM events WHERE type = 'invoice.finalized' AND data::json->>'id' = '{shown["id"]}'
                   AND data::json->>'number' = '{shown["number"]}'""") == [["1"]]
    assert_number_series_gapless()


def test_50_customers_subscribing_at_once_each_start_their_own_series(api_key, per_customer):
    plan = new_plan(per_customer)
    customers = [new_customer(per_customer) for _ in range(50)]
    global_before = sql("SELECT last_value FROM invoice_number_counter")
    base = per_customer.base
    responses = fire(50, lambda i: Client(api_key, base=base).post(
        "/subscriptions", {"customer_id": customers[i]["id"], "plan_id": plan["id"]}))
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses if r.status_code != 201]
    numbers = sql(f"""SELECT c.invoice_prefix, i.number FROM invoices i JOIN customers c ON c.id = i.customer_id
                      WHERE c.id IN ({",".join(f"'{c['id']}'" for c in customers)})""")
    assert len(numbers) == 50 and all(number == f"{prefix}-0001" for prefix, number in numbers), numbers
    assert sql("SELECT last_value FROM invoice_number_counter") == global_before
    assert_number_series_gapless()


def test_customers_never_wait_on_the_global_counters_or_on_each_other(per_customer):
    """The global counters' rows and one customer's row held locked for 8 s: another
    customer's subscription, finalization and credit note all answer at once."""
    plan = new_plan(per_customer)
    held, other = new_customer(per_customer), new_customer(per_customer)
    invoice = finalized_one_off(per_customer, other, amount=1000)
    holder = subprocess.Popen(["psql", DATABASE_URL, "-qAtX", "-c", f"""BEGIN;
        SELECT 1 FROM invoice_number_counter FOR UPDATE; SELECT 1 FROM credit_note_number_counter FOR UPDATE;
        SELECT 1 FROM customers WHERE id = '{held["id"]}' FOR UPDATE; SELECT pg_sleep(8); COMMIT;"""],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 5
        while time.time() < deadline and sql("""SELECT count(*) FROM pg_stat_activity
                                                 WHERE query LIKE '%pg_sleep(8)%' AND state = 'active'
                                                 AND pid <> pg_backend_pid()""") != [["1"]]:
            time.sleep(0.05)
        started = time.time()
        subscription = subscribe(per_customer, other, plan)
        note = per_customer.post("/credit-notes", {"invoice_id": invoice["id"], "amount_cents": 100})
        second = finalized_one_off(per_customer, other)
        elapsed = time.time() - started
        assert holder.poll() is None, "the locks were held throughout"
    finally:
        holder.kill()
        holder.wait()
    assert subscription.status_code == 201 and note.status_code == 201, (subscription.text, note.text)
    prefix = other["invoice_prefix"]
    assert invoice["number"] == f"{prefix}-0001" and second["number"] == f"{prefix}-0003"
    assert note.json()["number"] == f"{prefix}-CN-0001"
    # Not a timing threshold: the locks were held for 8 s, so waiting on any of them would
    # have taken until they were released.
    assert elapsed < 7, elapsed


def test_credit_notes_take_the_customers_own_series_under_concurrency(api_key, per_customer):
    customer = new_customer(per_customer)
    invoice = finalized_one_off(per_customer, customer, amount=10_000)
    base = per_customer.base
    responses = fire(20, lambda i: Client(api_key, base=base).post(
        "/credit-notes", {"invoice_id": invoice["id"], "amount_cents": 100}))
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses if r.status_code != 201]
    prefix = customer["invoice_prefix"]
    assert sorted(r.json()["number"] for r in responses) == [f"{prefix}-CN-{n:04d}" for n in range(1, 21)]
    assert_number_series_gapless()


def test_the_billing_run_numbers_each_customers_periods_in_order(per_customer_pool, per_customer):
    """Eight concurrent runs with per-customer series over 20 subscriptions 10 weeks behind."""
    plan = new_plan(per_customer, interval="week", amount_cents=300)
    start = (datetime.now(timezone.utc) - timedelta(days=70, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    customers = [new_customer(per_customer) for _ in range(20)]
    for customer in customers:
        assert subscribe(per_customer, customer, plan, start_at=start).status_code == 201
    env = {"INVOICE_NUMBERING": "per_customer", "PATH": "/usr/bin:/bin"}
    runs = [subprocess.Popen([BILLING_BIN, "run-due", "--batch-size", "7", "--database-url", APP_DATABASE_URL],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(8)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert all(run.returncode == 0 for run in runs), outputs
    for customer in customers:
        rows = sql(f"""SELECT number FROM invoices WHERE customer_id = '{customer['id']}'
                       ORDER BY period_start, number""")
        assert [r[0] for r in rows] == [f"{customer['invoice_prefix']}-{n:04d}" for n in range(1, 12)], rows
    assert_number_series_gapless()


def test_switching_the_setting_changes_only_numbers_given_afterwards(client, per_customer):
    customer = new_customer(client)
    first = finalized_one_off(client, customer)
    assert re.match(r"^INV-\d{6,}$", first["number"])
    second = finalized_one_off(per_customer, customer)
    assert second["number"] == f"{customer['invoice_prefix']}-0001"
    third = finalized_one_off(client, customer)
    assert re.match(r"^INV-\d{6,}$", third["number"]) and third["number"] > first["number"]
    assert client.get(f"/invoices/{first['id']}").json()["number"] == first["number"]
    notes = [c.post("/credit-notes", {"invoice_id": second["id"], "amount_cents": 100}).json()["number"]
             for c in (client, per_customer)]
    assert re.match(r"^CN-\d{6,}$", notes[0]) and notes[1] == f"{customer['invoice_prefix']}-CN-0001"
    assert_number_series_gapless()


def test_an_unknown_setting_stops_the_pool_and_the_run_before_they_start(tmp_path):
    env = {"INVOICE_NUMBERING": "per-customer", "DATABASE_URL": APP_DATABASE_URL, "PATH": "/usr/bin:/bin"}
    for command in (["serve", "--socket", str(tmp_path / "never.sock")], ["run-due"]):
        result = subprocess.run([BILLING_BIN, *command], capture_output=True, text=True, env=env, timeout=30)
        assert result.returncode != 0, result
        assert "INVOICE_NUMBERING must be global or per_customer, not per-customer" in result.stderr, result.stderr
    assert not (tmp_path / "never.sock").exists()
