"""invoicing.md §1–4 and §9 through nginx and the pool: drafts and finalization, invoice
items, seats, partial payments and previews, with the races that must not break them."""

import json
import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from conftest import APP_DATABASE_URL, Client, DATABASE_URL, fire, new_customer, new_plan, sql, subscribe, unique


def ts(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def share(amount, remaining, length):
    """amount × remaining / length, rounded half away from zero, in integers."""
    quotient, remainder = divmod(abs(amount) * remaining, length)
    rounded = quotient + (1 if 2 * remainder >= length else 0)
    return -rounded if amount < 0 else rounded


def item(client, customer, **fields):
    body = {"customer_id": customer["id"], "description": "Setup fee"}
    body.update(fields)
    if "unit_amount_cents" not in body:
        body.setdefault("amount_cents", 5000)
    response = client.post("/invoice-items", body)
    assert response.status_code == 201, response.text
    return response.json()


def draft(client, customer, **fields):
    response = client.post("/invoices", {"customer_id": customer["id"], **fields})
    assert response.status_code == 201, response.text
    return response.json()


def events_of(object_id):
    return [row[0] for row in sql(f"SELECT type FROM events WHERE data::json->>'id' = '{object_id}' ORDER BY seq")]


def table_counts():
    return sql("""SELECT (SELECT count(*) FROM invoices), (SELECT count(*) FROM invoice_lines),
                  (SELECT count(*) FROM events), (SELECT count(*) FROM idempotency_keys),
                  (SELECT last_value FROM invoice_number_counter), (SELECT count(*) FROM subscriptions),
                  (SELECT count(*) FROM invoice_items WHERE invoice_id IS NULL), (SELECT count(*) FROM payments)""")


def test_a_one_off_invoice_from_draft_to_paid_in_two_payments(client):
    customer = new_customer(client)
    refused = client.post("/invoice-items", {"customer_id": customer["id"], "description": "Setup", "amount_cents": 5000})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "currency"
    setup = item(client, customer, currency="EUR")
    assert setup["invoice_id"] is None and setup["quantity"] == 1 and setup["unit_amount_cents"] == 5000
    assert client.get(f"/customers/{customer['id']}").json()["currency"] == "EUR", "the item set the currency"

    invoice = draft(client, customer, description="Onboarding")
    assert invoice["status"] == "draft" and invoice["number"] is None and invoice["due_at"] is None
    assert invoice["billing_reason"] == "manual" and invoice["subscription_id"] is None
    assert invoice["finalized_at"] is None and invoice["description"] == "Onboarding"
    assert [(l["kind"], l["amount_cents"], l["quantity"], l["unit_amount_cents"], l["invoice_item_id"])
            for l in invoice["lines"]] == [("item", 5000, 1, 5000, setup["id"])]
    assert invoice["amount_due_cents"] == invoice["amount_cents"] == invoice["total_cents"] == 5000
    assert client.get(f"/invoice-items/{setup['id']}").json()["invoice_id"] == invoice["id"]
    assert client.get(f"/invoice-items?customer_id={customer['id']}&pending=true").json()["data"] == []

    seats = item(client, customer, description="Seats", unit_amount_cents=250, quantity=4, invoice_id=invoice["id"])
    assert seats["amount_cents"] == 1000 and seats["invoice_id"] == invoice["id"]
    patched = client.patch(f"/invoices/{invoice['id']}", {"days_until_due": 10, "description": "Onboarding, April"})
    assert patched.status_code == 200 and patched.json()["subtotal_cents"] == 6000
    assert len(patched.json()["lines"]) == 2

    # A draft is not payable.
    assert client.post(f"/invoices/{invoice['id']}/pay").status_code == 409
    assert client.post(f"/invoices/{invoice['id']}/payments", {"amount_cents": 1}).status_code == 409

    finalized = client.post(f"/invoices/{invoice['id']}/finalize")
    assert finalized.status_code == 200, finalized.text
    invoice = finalized.json()
    assert invoice["status"] == "open" and invoice["number"].startswith("INV-")
    assert ts(invoice["due_at"]) == ts(invoice["finalized_at"]) + timedelta(days=10)
    assert invoice["amount_remaining_cents"] == 6000 and invoice["amount_paid_cents"] == 0

    # After finalization only payments and transitions touch it.
    assert client.post(f"/invoices/{invoice['id']}/finalize").status_code == 409
    assert client.delete(f"/invoices/{invoice['id']}").status_code == 409
    assert client.patch(f"/invoices/{invoice['id']}", {"description": "x"}).status_code == 409
    assert client.patch(f"/invoice-items/{setup['id']}", {"amount_cents": 1}).status_code == 409
    assert client.delete(f"/invoice-items/{setup['id']}").status_code == 409
    late = client.post("/invoice-items", {"customer_id": customer["id"], "description": "Late", "amount_cents": 1,
                                          "invoice_id": invoice["id"]})
    assert late.status_code == 409, late.text

    first = client.post(f"/invoices/{invoice['id']}/payments", {"amount_cents": 2500, "reference": "wire 1"})
    assert first.status_code == 201, first.text
    assert first.json()["amount_cents"] == 2500 and first.json()["reference"] == "wire 1"
    partly = client.get(f"/invoices/{invoice['id']}").json()
    assert (partly["status"], partly["amount_paid_cents"], partly["amount_remaining_cents"]) == ("open", 2500, 3500)
    over = client.post(f"/invoices/{invoice['id']}/payments", {"amount_cents": 3501})
    assert over.status_code == 422 and over.json()["errors"][0]["field"] == "amount_cents"
    paid_at = invoice["finalized_at"]  # the earliest a payment may be dated
    last = client.post(f"/invoices/{invoice['id']}/payments", {"amount_cents": 3500, "paid_at": paid_at})
    assert last.status_code == 201, last.text
    paid = client.get(f"/invoices/{invoice['id']}").json()
    assert (paid["status"], paid["paid_at"], paid["amount_remaining_cents"]) == ("paid", paid_at, 0)
    payments = client.get(f"/invoices/{invoice['id']}/payments").json()["data"]
    assert [p["amount_cents"] for p in payments] == [3500, 2500]
    assert client.post(f"/invoices/{invoice['id']}/payments", {"amount_cents": 1}).status_code == 409

    # Created, an item added, patched, finalized, paid in part, paid.
    assert events_of(invoice["id"]) == ["invoice.created", "invoice.updated", "invoice.updated",
                                        "invoice.finalized", "invoice.updated", "invoice.paid"]
    assert events_of(setup["id"]) == ["invoice_item.created", "invoice_item.updated"]
    assert events_of(first.json()["id"]) == ["payment.created"]


def test_deleting_a_draft_consumes_no_number_and_frees_its_items(client):
    customer = new_customer(client)
    drafts = []
    for index in range(3):
        invoice = draft(client, customer, currency="EUR")
        item(client, customer, amount_cents=100 * (index + 1), invoice_id=invoice["id"])
        drafts.append(invoice)
    deleted = client.delete(f"/invoices/{drafts[1]['id']}")
    assert deleted.status_code == 200 and deleted.json() == {"id": drafts[1]["id"], "deleted": True}
    assert client.get(f"/invoices/{drafts[1]['id']}").status_code == 404
    freed = client.get(f"/invoice-items?customer_id={customer['id']}&pending=true").json()["data"]
    assert [i["amount_cents"] for i in freed] == [200], "the deleted draft's item is pending again"
    third = client.post(f"/invoices/{drafts[2]['id']}/finalize").json()
    first = client.post(f"/invoices/{drafts[0]['id']}/finalize").json()
    assert int(first["number"][4:]) == int(third["number"][4:]) + 1
    assert "invoice.deleted" in events_of(drafts[1]["id"])


def test_an_empty_draft_cannot_be_finalized_and_a_zero_invoice_is_paid_at_once(client):
    customer = new_customer(client)
    empty = draft(client, customer, currency="EUR")
    refused = client.post(f"/invoices/{empty['id']}/finalize")
    assert refused.status_code == 409 and refused.json()["type"].endswith("invoice-empty")
    # A credit item: the negative total goes to the balance as credit, the invoice is paid at once.
    item(client, customer, amount_cents=-700, invoice_id=empty["id"])
    credit = client.post(f"/invoices/{empty['id']}/finalize").json()
    assert (credit["status"], credit["amount_due_cents"], credit["total_cents"]) == ("paid", 0, -700)
    assert client.get(f"/customers/{customer['id']}").json()["balance_cents"] == -700
    assert events_of(credit["id"])[-2:] == ["invoice.finalized", "invoice.paid"]
    # A draft shows its totals as if finalized now: the credit is applied.
    second = draft(client, customer)
    item(client, customer, amount_cents=1000, invoice_id=second["id"])
    shown = client.get(f"/invoices/{second['id']}").json()
    assert (shown["amount_due_cents"], shown["balance_applied_cents"], shown["due_at"]) == (300, -700, None)


def test_50_concurrent_finalizations_take_50_consecutive_numbers(api_key):
    setup = Client(api_key)
    drafts = []
    for _ in range(50):
        customer = new_customer(setup)
        invoice = draft(setup, customer, currency="EUR")
        item(setup, customer, invoice_id=invoice["id"], amount_cents=999)
        drafts.append(invoice)
    responses = fire(50, lambda i: Client(api_key).post(f"/invoices/{drafts[i]['id']}/finalize"))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
    numbers = sorted(int(r.json()["number"][4:]) for r in responses)
    assert numbers == list(range(numbers[0], numbers[0] + 50))
    assert sql("SELECT last_value FROM invoice_number_counter") == [[str(numbers[-1])]]


def test_a_rolled_back_finalization_consumes_no_number(client):
    customer = new_customer(client)
    first, second = draft(client, customer, currency="EUR"), draft(client, customer)
    for invoice in (first, second):
        item(client, customer, invoice_id=invoice["id"], amount_cents=100)
    # Hold the counter's row lock, let a finalization wait for it, then cancel that
    # statement: its transaction rolls back after it had updated its invoice.
    holder = subprocess.Popen(["psql", DATABASE_URL, "-qAtX", "-c",
                               "BEGIN; SELECT 1 FROM invoice_number_counter FOR UPDATE; SELECT pg_sleep(8); COMMIT;"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        result = {}
        waiting = threading.Thread(target=lambda: result.update(
            response=client.post(f"/invoices/{first['id']}/finalize")))
        waiting.start()
        deadline = time.time() + 10
        canceled = []
        while time.time() < deadline and not canceled:
            canceled = sql("""SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'billing'
                              AND wait_event_type = 'Lock' AND query LIKE 'UPDATE invoice_number_counter%'""")
            time.sleep(0.05)
        waiting.join(timeout=30)
        assert canceled, "the finalization waited for the counter"
        assert result["response"].status_code == 503, result["response"].text
    finally:
        holder.kill()
        holder.wait()
    before = int(sql("SELECT last_value FROM invoice_number_counter")[0][0])
    assert client.get(f"/invoices/{first['id']}").json()["status"] == "draft"
    numbered = client.post(f"/invoices/{second['id']}/finalize").json()
    assert int(numbered["number"][4:]) == before + 1


def test_a_pending_item_is_taken_by_exactly_one_of_two_racing_invoices(api_key):
    """A manual POST /invoices racing a billing run that renews the same customer, 20 times."""
    setup = Client(api_key)
    plan = new_plan(setup, amount_cents=1000, interval="day")
    for round_ in range(20):
        customer = new_customer(setup)
        start = iso(datetime.now(timezone.utc) - timedelta(days=1, minutes=5))
        assert subscribe(setup, customer, plan, start_at=start).status_code == 201
        pending = item(setup, customer, amount_cents=round_ + 1)
        barrier = threading.Barrier(2)

        def manual(_):
            barrier.wait()
            return Client(api_key).post("/invoices", {"customer_id": customer["id"]})

        def run(_):
            barrier.wait()
            return Client(api_key).post("/billing/run")

        responses = fire(2, lambda i: (manual, run)[i](i))
        assert [r.status_code for r in responses] == [201, 200], [r.text for r in responses]
        lines = sql(f"SELECT invoice_id FROM invoice_lines WHERE invoice_item_id = '{pending['id']}'")
        holder = sql(f"SELECT invoice_id FROM invoice_items WHERE id = '{pending['id']}'")
        assert len(lines) == 1 and lines == holder, (lines, holder)


def test_seats_are_billed_and_prorated_exactly(client):
    customer = new_customer(client)
    plan = new_plan(client, amount_cents=1001)
    start = datetime.now(timezone.utc) - timedelta(days=9)
    subscription = subscribe(client, customer, plan, start_at=iso(start), quantity=3).json()
    assert subscription["quantity"] == 3
    first = client.get(f"/invoices?subscription_id={subscription['id']}").json()["data"][0]
    assert [(l["quantity"], l["unit_amount_cents"], l["amount_cents"]) for l in first["lines"]] == [(3, 1001, 3003)]

    changed = client.post(f"/subscriptions/{subscription['id']}/change-plan", {"quantity": 7})
    assert changed.status_code == 200, changed.text
    invoice = changed.json()["invoice"]
    begin, end = ts(subscription["current_period_start"]), ts(subscription["current_period_end"])
    at = ts(invoice["period_start"])
    remaining, length = int((end - at).total_seconds()), int((end - begin).total_seconds())
    assert [(l["kind"], l["quantity"], l["unit_amount_cents"], l["amount_cents"]) for l in invoice["lines"]] == [
        ("proration", 3, 1001, -share(3003, remaining, length)),
        ("proration", 7, 1001, share(7007, remaining, length))]
    assert changed.json()["quantity"] == 7 and changed.json()["plan_id"] == plan["id"]
    # The number PostgreSQL wrote is the number the answer and the event show.
    assert client.get(f"/invoices/{invoice['id']}").json()["number"] == invoice["number"]
    finalized = sql(f"SELECT data FROM events WHERE type = 'invoice.finalized' AND data::json->>'id' = '{invoice['id']}'")
    assert json.loads(finalized[0][0])["number"] == invoice["number"]
    again = client.post(f"/subscriptions/{subscription['id']}/change-plan", {"quantity": 7})
    assert again.status_code == 422 and again.json()["errors"][0]["field"] == "quantity"

    # Past 10^12 is a 422 on quantity, never an overflow.
    big = new_plan(client, amount_cents=1_000_000_000_000)
    too_many = client.post(f"/subscriptions/{subscription['id']}/change-plan", {"plan_id": big["id"], "quantity": 2})
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"] == "quantity"
    other = new_customer(client)
    assert subscribe(client, other, big, quantity=2).status_code == 422
    assert subscribe(client, other, big, quantity=1).status_code == 201


def test_a_trial_line_carries_the_quantity(client):
    customer = new_customer(client)
    plan = new_plan(client, amount_cents=500, trial_days=7)
    subscription = subscribe(client, customer, plan, quantity=5).json()
    invoice = client.get(f"/invoices?subscription_id={subscription['id']}").json()["data"][0]
    assert [(l["kind"], l["quantity"], l["unit_amount_cents"], l["amount_cents"]) for l in invoice["lines"]] == [
        ("trial", 5, 0, 0)]


def test_pending_items_join_the_next_subscription_invoice(client):
    customer = new_customer(client)
    plan = new_plan(client, amount_cents=2000)
    fee = item(client, customer, currency="EUR", amount_cents=1500, description="Installation")
    invoice = client.get(f"/invoices?subscription_id={subscribe(client, customer, plan).json()['id']}").json()["data"][0]
    assert [(l["kind"], l["amount_cents"]) for l in invoice["lines"]] == [("subscription", 2000), ("item", 1500)]
    assert invoice["amount_due_cents"] == 3500
    assert client.get(f"/invoice-items/{fee['id']}").json()["invoice_id"] == invoice["id"]


def test_concurrent_payments_never_overpay_and_reactivate_once(api_key):
    setup = Client(api_key)
    customer = new_customer(setup)
    plan = new_plan(setup, amount_cents=1000, interval="week")
    # Started 8 days ago: the first invoice is a day overdue, the second not yet due.
    start = iso(datetime.now(timezone.utc) - timedelta(days=8))
    subscription = subscribe(setup, customer, plan, start_at=start).json()
    assert setup.post("/billing/run").status_code == 200
    assert setup.get(f"/subscriptions/{subscription['id']}").json()["status"] == "past_due"
    open_invoices = setup.get(f"/invoices?subscription_id={subscription['id']}&status=open").json()["data"]
    for invoice in open_invoices[1:]:
        assert setup.post(f"/invoices/{invoice['id']}/pay").status_code == 200
    target = open_invoices[0]
    # 25 payments of 90 against 1000: the eleven that fit land, the rest are refused as
    # overpayments when they run.
    responses = fire(25, lambda i: Client(api_key).post(f"/invoices/{target['id']}/payments", {"amount_cents": 90}))
    assert sorted(r.status_code for r in responses) == [201] * 11 + [422] * 14
    assert setup.get(f"/invoices/{target['id']}").json()["amount_remaining_cents"] == 10
    assert setup.get(f"/subscriptions/{subscription['id']}").json()["status"] == "past_due"
    # 20 payments of the last 10: one pays the invoice, the others find it paid.
    responses = fire(20, lambda i: Client(api_key).post(f"/invoices/{target['id']}/payments", {"amount_cents": 10}))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 19
    paid = setup.get(f"/invoices/{target['id']}").json()
    assert (paid["status"], paid["amount_paid_cents"], paid["amount_remaining_cents"]) == ("paid", 1000, 0)
    assert sql(f"SELECT sum(amount_cents) FROM payments WHERE invoice_id = '{target['id']}'") == [["1000"]]
    assert setup.get(f"/subscriptions/{subscription['id']}").json()["status"] == "active"
    reactivations = sql(f"""SELECT count(*) FROM events WHERE type = 'subscription.updated'
                            AND data::json->>'id' = '{subscription['id']}' AND data::json->>'status' = 'active'
                            AND seq > (SELECT max(seq) FROM events WHERE data::json->>'id' = '{subscription['id']}'
                                       AND data::json->>'status' = 'past_due')""")
    assert reactivations == [["1"]]
    assert events_of(target["id"]).count("invoice.paid") == 1


def test_previews_store_nothing(client):
    customer = new_customer(client)
    plan = new_plan(client, amount_cents=1200)
    bigger = new_plan(client, amount_cents=3000)
    subscription = subscribe(client, customer, plan, quantity=2).json()
    item(client, customer, amount_cents=300, description="Extra")
    before = table_counts()
    upcoming = client.get(f"/subscriptions/{subscription['id']}/upcoming-invoice")
    assert upcoming.status_code == 200, upcoming.text
    preview = upcoming.json()
    assert preview["id"] is None and preview["number"] is None and preview["status"] == "draft"
    assert preview["period_start"] == subscription["current_period_end"]
    assert [(l["kind"], l["amount_cents"]) for l in preview["lines"]] == [("subscription", 2400), ("item", 300)]
    assert preview["amount_due_cents"] == 2700

    key = unique("preview")
    body = {"plan_id": bigger["id"], "preview": True}
    shown = client.post(f"/subscriptions/{subscription['id']}/change-plan", body, headers={"Idempotency-Key": key})
    assert shown.status_code == 200, shown.text
    assert shown.json()["plan_id"] == bigger["id"] and shown.json()["invoice"]["id"] is None
    assert shown.json()["invoice"]["number"] is None
    assert [l["kind"] for l in shown.json()["invoice"]["lines"]] == ["proration", "proration", "item"]
    assert table_counts() == before, "a preview stores nothing"
    assert client.get(f"/subscriptions/{subscription['id']}").json()["plan_id"] == plan["id"]

    # The same key then does the change for real: no record of the preview was kept.
    body["preview"] = False
    done = client.post(f"/subscriptions/{subscription['id']}/change-plan", body, headers={"Idempotency-Key": key})
    assert done.status_code == 200 and "Idempotent-Replayed" not in done.headers
    assert done.json()["invoice"]["number"] is not None

    canceled = client.post(f"/subscriptions/{subscription['id']}/cancel", {"at_period_end": True})
    assert canceled.status_code == 200
    assert client.get(f"/subscriptions/{subscription['id']}/upcoming-invoice").status_code == 409


def test_a_trialing_subscription_previews_its_first_paid_period(client):
    customer = new_customer(client)
    plan = new_plan(client, amount_cents=800, trial_days=14)
    subscription = subscribe(client, customer, plan).json()
    preview = client.get(f"/subscriptions/{subscription['id']}/upcoming-invoice").json()
    assert preview["period_start"] == subscription["trial_end"]
    assert [(l["kind"], l["amount_cents"]) for l in preview["lines"]] == [("subscription", 800)]


def as_app(statement):
    return subprocess.run(["psql", APP_DATABASE_URL, "-AtX", "-v", "ON_ERROR_STOP=1", "-c", statement],
                          capture_output=True, text=True)


def test_finalized_invoices_never_change_in_the_database(client):
    customer = new_customer(client)
    invoice = draft(client, customer, currency="EUR")
    fee = item(client, customer, invoice_id=invoice["id"])
    invoice = client.post(f"/invoices/{invoice['id']}/finalize").json()
    refusals = [
        f"UPDATE invoices SET total_cents = 1 WHERE id = '{invoice['id']}'",
        f"UPDATE invoices SET number = NULL, status = 'draft', finalized_at = NULL, due_at = NULL WHERE id = '{invoice['id']}'",
        f"DELETE FROM invoices WHERE id = '{invoice['id']}'",
        f"UPDATE invoice_lines SET amount_cents = 1 WHERE invoice_id = '{invoice['id']}'",
        f"DELETE FROM invoice_lines WHERE invoice_id = '{invoice['id']}'",
        f"""INSERT INTO invoice_lines (id, invoice_id, position, kind, description, amount_cents, period_start,
            period_end) VALUES (gen_random_uuid(), '{invoice['id']}', 9, 'proration', 'x', 1, now(), now())""",
        f"UPDATE invoice_items SET amount_cents = 1, unit_amount_cents = 1 WHERE id = '{fee['id']}'",
        f"UPDATE invoice_items SET invoice_id = NULL WHERE id = '{fee['id']}'",
    ]
    for statement in refusals:
        result = as_app(statement)
        assert result.returncode != 0 and "never change" in result.stderr, (statement, result.stderr)
    paid = client.post(f"/invoices/{invoice['id']}/pay").json()
    result = as_app(f"UPDATE invoices SET amount_paid_cents = 0 WHERE id = '{paid['id']}'")
    assert result.returncode != 0 and "never change" in result.stderr


@pytest.mark.parametrize("body, field", [
    ({"description": "x", "amount_cents": 1}, "customer_id"),
    ({"customer_id": "C", "amount_cents": 1}, "description"),
    ({"customer_id": "C", "description": "x"}, "amount_cents"),
    ({"customer_id": "C", "description": "x", "amount_cents": 1, "unit_amount_cents": 1}, "amount_cents"),
    ({"customer_id": "C", "description": "x", "amount_cents": 1, "quantity": 2}, "quantity"),
    ({"customer_id": "C", "description": "x", "amount_cents": 1_000_000_000_001}, "amount_cents"),
    ({"customer_id": "C", "description": "x", "amount_cents": -1_000_000_000_001}, "amount_cents"),
    ({"customer_id": "C", "description": "x", "amount_cents": 1.5}, "amount_cents"),
    ({"customer_id": "C", "description": "x", "amount_cents": "100"}, "amount_cents"),
    ({"customer_id": "C", "description": "x", "unit_amount_cents": 1, "quantity": 0}, "quantity"),
    ({"customer_id": "C", "description": "x", "unit_amount_cents": 1, "quantity": 1_000_001}, "quantity"),
    ({"customer_id": "C", "description": "x", "unit_amount_cents": 1_000_001, "quantity": 1_000_000}, "quantity"),
    ({"customer_id": "C", "description": "x", "amount_cents": 1, "currency": "USD"}, "currency"),
    ({"customer_id": "C", "description": "x", "amount_cents": 1, "currency": "eur"}, "currency"),
    ({"customer_id": "C", "description": "x", "amount_cents": 1, "period_start": "2026-01-02T00:00:00Z"}, "period_end"),
    ({"customer_id": "C", "description": "x", "amount_cents": 1, "period_start": "2026-01-02T00:00:00Z",
      "period_end": "2026-01-01T00:00:00Z"}, "period_end"),
    ({"customer_id": "C", "description": "x", "amount_cents": 1, "invoice_id": "nope"}, "invoice_id"),
    ({"customer_id": "C", "description": "x", "amount_cents": 1, "colour": "red"}, "colour"),
])
def test_bad_invoice_items_are_422_with_the_field_named(client, body, field):
    customer = new_customer(client)
    item(client, customer, currency="EUR", amount_cents=1)
    body = {key: (customer["id"] if value == "C" else value) for key, value in body.items()}
    response = client.post("/invoice-items", body)
    assert response.status_code == 422, response.text
    assert field in [error["field"] for error in response.json()["errors"]], response.text


def test_limits_of_items_and_invoices_are_exact(client):
    customer = new_customer(client)
    top = item(client, customer, currency="EUR", unit_amount_cents=1_000_000, quantity=1_000_000)
    assert top["amount_cents"] == 10**12
    low = item(client, customer, amount_cents=-10**12)
    assert low["amount_cents"] == -10**12
    invoice = draft(client, customer)
    assert invoice["subtotal_cents"] == 0 and len(invoice["lines"]) == 2
    other = new_customer(client)
    elsewhere = draft(client, other, currency="USD")
    refused = client.post("/invoice-items", {"customer_id": customer["id"], "description": "x", "amount_cents": 1,
                                             "invoice_id": elsewhere["id"]})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "invoice_id"
    wrong_currency = client.post("/invoices", {"customer_id": customer["id"], "currency": "USD"})
    assert wrong_currency.status_code == 422 and wrong_currency.json()["errors"][0]["field"] == "currency"
    without_currency = client.post("/invoices", {"customer_id": new_customer(client)["id"]})
    assert without_currency.status_code == 422
    for body in ({"customer_id": customer["id"], "days_until_due": 366}, {"customer_id": customer["id"], "x": 1},
                 {"customer_id": customer["id"], "include_pending_items": "yes"}):
        assert client.post("/invoices", body).status_code == 422, body
    assert client.post("/invoices", {"customer_id": "01a00000-0000-7000-8000-000000000000"}).status_code == 404
    invoice_id = invoice["id"]
    for body in ({"amount_cents": 0}, {"amount_cents": -5}, {"amount_cents": 10**15}, {"paid_at": "yesterday"}):
        assert client.post(f"/invoices/{invoice_id}/payments", body).status_code == 422, body
    finalized = client.post(f"/invoices/{invoice_id}/finalize").json()
    assert finalized["status"] == "paid" and finalized["amount_due_cents"] == 0
    future = iso(datetime.now(timezone.utc) + timedelta(hours=1))
    open_one = draft(client, customer)
    item(client, customer, amount_cents=500, invoice_id=open_one["id"])
    open_one = client.post(f"/invoices/{open_one['id']}/finalize").json()
    assert client.post(f"/invoices/{open_one['id']}/payments", {"amount_cents": 1, "paid_at": future}).status_code == 422
    early = iso(ts(open_one["finalized_at"]) - timedelta(seconds=1))
    assert client.post(f"/invoices/{open_one['id']}/payments", {"amount_cents": 1, "paid_at": early}).status_code == 422
    assert client.get("/invoice-items?pending=maybe").status_code == 422
    assert client.get("/invoice-items/not-an-id").status_code == 404
    assert client.post("/subscriptions/not-an-id/change-plan", {"quantity": 2}).status_code == 404


def test_change_plan_needs_a_plan_or_a_quantity(client):
    customer = new_customer(client)
    subscription = subscribe(client, customer, new_plan(client)).json()
    for body, field in (({}, "plan_id"), ({"quantity": 0}, "quantity"), ({"prorate": True}, "plan_id"),
                        ({"quantity": 2, "preview": "yes"}, "preview")):
        response = client.post(f"/subscriptions/{subscription['id']}/change-plan", body)
        assert response.status_code == 422 and field in [e["field"] for e in response.json()["errors"]], body
