"""Crash consistency and scale-out: workers killed and PostgreSQL crashed under a stream of
writes leave no half-written state; two pools on one database share billing runs and
survive one of them stopping. Loopback only, bounded in time."""

import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests

from conftest import NUMBER_SERIES_BROKEN, assert_number_series_gapless, sql
from pool import Background, Pool, crash_under_load


def retrying(session, method, url, key, idempotency_key, body=None, attempts=60):
    """A client that retries until it gets an answer, with the same Idempotency-Key."""
    for _ in range(attempts):
        try:
            response = session.request(method, url, json=body, timeout=30, headers={
                "Authorization": f"Bearer {key}", "Idempotency-Key": idempotency_key})
            if response.status_code < 500 and response.status_code != 409:
                return response
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{method} {url} never succeeded")


class Writers(Background):
    """Threads that sign up customers, subscribe them and pay the first invoice, then bill
    a one-off item on a draft they finalize, pay in two parts and credit in part, recording
    every acknowledged result."""

    def __init__(self, base, key, plan_id, threads=4):
        self.base, self.key, self.plan_id = base, key, plan_id
        self.customers, self.subscriptions, self.paid, self.one_off, self.notes = [], [], [], [], []
        super().__init__(threads)

    def loop(self, index):
        session = requests.Session()
        while not self.stop_event.is_set():
            tag = uuid.uuid4().hex
            customer = retrying(session, "POST", self.base + "/customers", self.key, "c" + tag,
                                {"email": f"{tag}@example.com", "name": "Crash"})
            assert customer.status_code == 201, customer.text
            subscription = retrying(session, "POST", self.base + "/subscriptions", self.key, "s" + tag,
                                    {"customer_id": customer.json()["id"], "plan_id": self.plan_id})
            assert subscription.status_code == 201, subscription.text
            invoices = retrying(session, "GET", f"{self.base}/invoices?subscription_id={subscription.json()['id']}",
                                self.key, "g" + tag)
            invoice = invoices.json()["data"][0]
            paid = retrying(session, "POST", f"{self.base}/invoices/{invoice['id']}/pay", self.key, "p" + tag)
            assert paid.status_code == 200, paid.text
            with self.lock:
                self.customers.append(customer.json()["id"])
                self.subscriptions.append(subscription.json()["id"])
                self.paid.append(invoice["id"])
            item = retrying(session, "POST", self.base + "/invoice-items", self.key, "i" + tag,
                            {"customer_id": customer.json()["id"], "description": "Setup", "amount_cents": 1001})
            assert item.status_code == 201, item.text
            draft = retrying(session, "POST", self.base + "/invoices", self.key, "d" + tag,
                             {"customer_id": customer.json()["id"]})
            assert draft.status_code == 201, draft.text
            one_off = draft.json()["id"]
            final = retrying(session, "POST", f"{self.base}/invoices/{one_off}/finalize", self.key, "f" + tag)
            assert final.status_code == 200 and final.json()["amount_due_cents"] == 1001, final.text
            for part, amount in enumerate((500, 501)):
                payment = retrying(session, "POST", f"{self.base}/invoices/{one_off}/payments", self.key,
                                   f"q{part}" + tag, {"amount_cents": amount})
                assert payment.status_code == 201, payment.text
            note = retrying(session, "POST", self.base + "/credit-notes", self.key, "n" + tag,
                            {"invoice_id": one_off, "amount_cents": 101})
            assert note.status_code == 201, note.text
            with self.lock:
                self.one_off.append(one_off)
                self.notes.append(note.json()["id"])


def ids(values):
    return ",".join(f"'{v}'" for v in values)


def assert_consistent(writers):
    assert writers.subscriptions, "the writers got something done"
    assert sql(f"SELECT count(*) FROM customers WHERE id IN ({ids(writers.customers)})") == [[str(len(writers.customers))]]
    assert sql(f"SELECT count(*) FROM subscriptions WHERE id IN ({ids(writers.subscriptions)})") == [
        [str(len(writers.subscriptions))]]
    assert sql(f"SELECT count(*) FROM invoices WHERE id IN ({ids(writers.paid)}) AND status = 'paid'") == [
        [str(len(writers.paid))]]
    assert writers.one_off, "the writers paid one-off invoices too"
    assert sql(f"""SELECT count(*) FROM invoices WHERE id IN ({ids(writers.one_off)}) AND status = 'paid'
                   AND amount_paid_cents = 1001 AND credited_cents = 101""") == [[str(len(writers.one_off))]]
    assert sql(f"SELECT count(*) FROM credit_notes WHERE id IN ({ids(writers.notes)})") == [[str(len(writers.notes))]]
    # No half-written state anywhere in the database.
    invariants = {
        "a subscription without its first invoice": """SELECT count(*) FROM subscriptions s WHERE NOT EXISTS (
            SELECT 1 FROM invoices i WHERE i.subscription_id = s.id AND i.billing_reason = 'subscription_create')""",
        "a finalized invoice without lines": """SELECT count(*) FROM invoices i WHERE status <> 'draft' AND NOT EXISTS (
            SELECT 1 FROM invoice_lines l WHERE l.invoice_id = i.id)""",
        "a finalized invoice without a number": "SELECT count(*) FROM invoices WHERE status <> 'draft' AND number IS NULL",
        "a gap in a number series, or a number taken and not used": NUMBER_SERIES_BROKEN,
        "payments that are not the invoice's amount paid, or more than its amount due": """SELECT count(*)
            FROM invoices i LEFT JOIN (SELECT invoice_id, sum(amount_cents) AS paid FROM payments GROUP BY invoice_id) p
            ON p.invoice_id = i.id WHERE coalesce(p.paid, 0) <> i.amount_paid_cents OR coalesce(p.paid, 0) > i.amount_cents""",
        "an item on two invoices, or shown on another invoice than its own": """SELECT count(*) FROM invoice_items it
            WHERE (SELECT count(*) FROM invoice_lines l WHERE l.invoice_item_id = it.id) > 1
            OR EXISTS (SELECT 1 FROM invoice_lines l WHERE l.invoice_item_id = it.id AND l.invoice_id <> it.invoice_id)
            OR (it.invoice_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM invoice_lines l WHERE l.invoice_item_id = it.id))""",
        "an item without invoice_item.created": """SELECT count(*) FROM invoice_items it WHERE NOT EXISTS (
            SELECT 1 FROM events e WHERE e.type = 'invoice_item.created' AND e.data::json->>'id' = it.id::text)""",
        "a credit note without credit_note.created, or two for one request": """SELECT count(*) FROM credit_notes n
            WHERE (SELECT count(*) FROM events e WHERE e.type = 'credit_note.created'
                   AND e.data::json->>'id' = n.id::text) <> 1""",
        "a payment without payment.created": """SELECT count(*) FROM payments p WHERE NOT EXISTS (
            SELECT 1 FROM events e WHERE e.type = 'payment.created' AND e.data::json->>'id' = p.id::text)""",
        "a finalized invoice without invoice.finalized": """SELECT count(*) FROM invoices i WHERE status <> 'draft'
            AND NOT EXISTS (SELECT 1 FROM events e WHERE e.type = 'invoice.finalized' AND e.data::json->>'id' = i.id::text)""",
        "a customer without customer.created": """SELECT count(*) FROM customers c WHERE NOT EXISTS (
            SELECT 1 FROM events e WHERE e.type = 'customer.created' AND e.data::json->>'id' = c.id::text)""",
        "a subscription without subscription.created": """SELECT count(*) FROM subscriptions s WHERE NOT EXISTS (
            SELECT 1 FROM events e WHERE e.type = 'subscription.created' AND e.data::json->>'id' = s.id::text)""",
        "an invoice without invoice.created": """SELECT count(*) FROM invoices i WHERE NOT EXISTS (
            SELECT 1 FROM events e WHERE e.type = 'invoice.created' AND e.data::json->>'id' = i.id::text)""",
        "a paid invoice without invoice.paid": """SELECT count(*) FROM invoices i WHERE status = 'paid' AND NOT EXISTS (
            SELECT 1 FROM events e WHERE e.type = 'invoice.paid' AND e.data::json->>'id' = i.id::text)""",
        "a second invoice for a period": """SELECT count(*) FROM (SELECT 1 FROM invoices
            WHERE billing_reason IN ('subscription_create', 'subscription_cycle')
            GROUP BY subscription_id, period_start HAVING count(*) > 1) d""",
    }
    for name, query in invariants.items():
        assert sql(query) == [["0"]], name


@pytest.mark.parametrize("numbering", ["global", "per_customer"])
def test_killed_workers_and_a_crashed_postgres_leave_no_half_written_state(client, api_key, numbering):
    plan = client.post("/plans", {"code": uuid.uuid4().hex, "name": "Crash", "amount_cents": 900, "currency": "EUR",
                                  "interval": "month"}).json()
    pool = Pool(workers=2, threads=2, env={"INVOICE_NUMBERING": numbering})
    try:
        with Writers(pool.base, api_key, plan["id"]) as writers:
            crash_under_load(pool, api_key)
        assert_consistent(writers)
        assert pool.status(api_key)["pool"]["restarts"]["crash"] >= 3
    finally:
        pool.stop()


def test_two_pools_share_billing_runs_and_survive_one_stopping(client, api_key):
    plan = client.post("/plans", {"code": uuid.uuid4().hex, "name": "Weekly", "amount_cents": 300, "currency": "EUR",
                                  "interval": "week"}).json()
    start = (datetime.now(timezone.utc) - timedelta(days=60, hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    subscriptions = []
    for _ in range(30):
        customer = client.post("/customers", {"email": f"{uuid.uuid4().hex}@example.com", "name": "Two"}).json()
        subscriptions.append(client.post("/subscriptions", {"customer_id": customer["id"], "plan_id": plan["id"],
                                                            "start_at": start}).json())
    second = Pool(workers=1, threads=2, billing_run_interval=1)
    first = Pool(workers=1, threads=2, billing_run_interval=1, also_upstream=[second.socket])
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            counts = sql(f"SELECT count(*) FROM invoices WHERE subscription_id IN ({ids(s['id'] for s in subscriptions)})")
            if counts == [[str(30 * 9)]]:
                break
            time.sleep(0.3)
        assert counts == [[str(30 * 9)]], "every weekly period of 60 days invoiced once"
        assert_no_duplicates_or_gaps()

        # Stop one pool under load: GETs are retried on the other; POSTs are retried by the client.
        errors, statuses, created = [], [], []
        stop = threading.Event()

        def load():
            session = requests.Session()
            while not stop.is_set():
                try:
                    response = session.get(f"{first.base}/subscriptions/{subscriptions[0]['id']}",
                                           headers={"Authorization": f"Bearer {api_key}"}, timeout=30)
                    statuses.append(response.status_code)
                except requests.RequestException as error:
                    errors.append(repr(error))
                tag = uuid.uuid4().hex
                response = retrying(session, "POST", first.base + "/customers", api_key, tag,
                                    {"email": f"{tag}@example.com", "name": "Retried"})
                created.append(response.json()["id"])

        threads = [threading.Thread(target=load) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        assert first.stop_master() == 0
        time.sleep(1.0)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == [] and set(statuses) == {200}, (errors[:3], set(statuses))
        assert sql(f"SELECT count(*) FROM customers WHERE id IN ({ids(created)})") == [[str(len(created))]]
        assert_no_duplicates_or_gaps()
    finally:
        first.stop()
        second.stop()


def assert_no_duplicates_or_gaps():
    assert sql("""SELECT count(*) FROM (SELECT 1 FROM invoices WHERE billing_reason IN ('subscription_create',
                  'subscription_cycle') GROUP BY subscription_id, period_start HAVING count(*) > 1) d""") == [["0"]]
    assert_number_series_gapless()
