"""The billing engine through the real API: renewals exactly once, trials, cancellation,
plan changes with exact proration, invoice lifecycle and dunning."""

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from conftest import BILLING_BIN, DATABASE_URL, Client, assert_number_series_gapless, new_customer, new_plan, sql, subscribe

FMT = "%Y-%m-%dT%H:%M:%SZ"


def ts(text):
    return datetime.strptime(text, FMT).replace(tzinfo=timezone.utc)


def iso(moment):
    return moment.strftime(FMT)


def now():
    return datetime.now(timezone.utc).replace(microsecond=0)


def add_months(anchor, months):
    """The calendar rule, written independently of the Swift code: keep the anchor's day,
    clamp to the month's last day."""
    index = anchor.year * 12 + anchor.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    next_month = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=timezone.utc)
    last_day = (next_month - timedelta(days=1)).day
    return anchor.replace(year=year, month=month, day=min(anchor.day, last_day))


def share(amount, remaining, length):
    """amount × remaining / length rounded half away from zero, in exact integers."""
    remaining = max(0, min(remaining, length))
    quotient, remainder = divmod(abs(amount) * remaining, length)
    if remainder * 2 >= length:
        quotient += 1
    return -quotient if amount < 0 else quotient


def run(client, **body):
    response = client.post("/billing/run", body or None)
    assert response.status_code == 200, response.text
    return response.json()


def invoices_of(client, subscription):
    return client.get(f"/invoices?subscription_id={subscription['id']}&limit=100").json()["data"]


def test_back_dated_monthly_subscription_gets_every_invoice_once(client):
    plan = new_plan(client, amount_cents=1000)
    subscription = subscribe(client, new_customer(client), plan, start_at="2025-01-31T10:00:00Z").json()
    summary = run(client)
    assert set(summary) == {"as_of", "invoices_created", "subscriptions_renewed", "trials_ended",
                            "subscriptions_canceled", "marked_past_due"}
    assert summary["invoices_created"] >= 21

    anchor = ts("2025-01-31T10:00:00Z")
    expected, months = [], 0
    while add_months(anchor, months) <= now():
        expected.append(iso(add_months(anchor, months)))
        months += 1
    starts = sorted(i["period_start"] for i in invoices_of(client, subscription))
    assert starts == expected, "one invoice per period, each period from the anchor"
    assert "2025-02-28T10:00:00Z" in starts and "2025-03-31T10:00:00Z" in starts and "2025-04-30T10:00:00Z" in starts
    for invoice in invoices_of(client, subscription):
        assert add_months(ts(invoice["period_start"]), 0) == ts(invoice["period_start"])
        assert invoice["amount_cents"] == 1000
    # The run wrote the invoices in one batch, and with them one invoice.created event each
    # whose body is the invoice as the API shows it, number and lines included (but its
    # status then: dunning has since marked the old ones uncollectible).
    invoices = {i["id"]: i for i in invoices_of(client, subscription)}
    bodies = [json.loads(row[0]) for row in sql(
        "SELECT data::text FROM events WHERE type = 'invoice.created' "
        f"AND data::json->>'subscription_id' = '{subscription['id']}'")]
    assert sorted(b["id"] for b in bodies) == sorted(invoices)
    for body in bodies:
        assert body.pop("status") == "open"
        assert body == {k: v for k, v in invoices[body["id"]].items() if k != "status"}
    again = run(client)
    assert again["invoices_created"] == 0 and again["subscriptions_renewed"] == 0


def test_eight_concurrent_runs_invoice_each_period_once_with_gapless_numbers(client):
    plan = new_plan(client, amount_cents=700, interval="week")
    start = iso(now() - timedelta(days=120))
    subscriptions = [subscribe(client, new_customer(client), plan, start_at=start).json() for _ in range(40)]
    processes = [subprocess.Popen([BILLING_BIN, "run-due", "--batch-size", "7", "--database-url", DATABASE_URL],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(8)]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    assert sql("""SELECT count(*) FROM (SELECT subscription_id, period_start FROM invoices
                  WHERE billing_reason IN ('subscription_create', 'subscription_cycle')
                  GROUP BY 1, 2 HAVING count(*) > 1) d""") == [["0"]]
    assert_number_series_gapless()
    for subscription in subscriptions:
        starts = sorted(i["period_start"] for i in invoices_of(client, subscription))
        assert len(starts) == 120 // 7 + 1
        assert all((ts(b) - ts(a)) == timedelta(days=7) for a, b in zip(starts, starts[1:]))


def test_a_cancel_racing_a_renewal_never_leaves_an_invoice_after_the_end(api_key):
    client = Client(api_key)
    plan = new_plan(client, interval="day")
    # Twelve daily renewals due, and overdue invoices still inside the dunning grace period.
    start = iso(now() - timedelta(days=12, hours=-1))
    subscriptions = [subscribe(client, new_customer(client), plan, start_at=start).json() for _ in range(10)]

    def cancel(subscription):
        return Client(api_key).post(f"/subscriptions/{subscription['id']}/cancel", {})

    with ThreadPoolExecutor(max_workers=12) as pool:
        runs = [pool.submit(lambda: Client(api_key).post("/billing/run", {})) for _ in range(2)]
        cancels = list(pool.map(cancel, subscriptions))
    assert all(r.result().status_code == 200 for r in runs)
    assert all(c.status_code == 200 for c in cancels), [c.text for c in cancels if c.status_code != 200]
    for subscription in subscriptions:
        ended = ts(client.get(f"/subscriptions/{subscription['id']}").json()["ended_at"])
        starts = [ts(i["period_start"]) for i in invoices_of(client, subscription)]
        assert all(s < ended for s in starts), "renewed, then canceled — or canceled, no renewal"
        assert len(starts) == len(set(starts))


def test_trial_ends_and_the_first_paid_period_is_invoiced(client):
    plan = new_plan(client, amount_cents=4200, trial_days=14)
    start = now() - timedelta(days=20)
    subscription = subscribe(client, new_customer(client), plan, start_at=iso(start)).json()
    assert subscription["status"] == "trialing"
    summary = run(client)
    assert summary["trials_ended"] >= 1
    after = client.get(f"/subscriptions/{subscription['id']}").json()
    trial_end = start + timedelta(days=14)
    assert after["status"] == "active"
    assert after["current_period_start"] == iso(trial_end)
    assert after["current_period_end"] == iso(add_months(trial_end, 1))
    invoices = sorted(invoices_of(client, subscription), key=lambda i: i["number"])
    assert [i["amount_cents"] for i in invoices] == [0, 4200]
    assert invoices[1]["lines"][0]["kind"] == "subscription"
    assert invoices[1]["period_start"] == iso(trial_end)
    events = client.get("/events?type=subscription.trial_ended&limit=100").json()["data"]
    assert subscription["id"] in [e["data"]["id"] for e in events]


def test_cancel_now_with_proration_credits_the_unused_time(client):
    customer = new_customer(client)
    plan = new_plan(client, amount_cents=3100)
    start = now() - timedelta(days=10)
    subscription = subscribe(client, customer, plan, start_at=iso(start)).json()
    canceled = client.post(f"/subscriptions/{subscription['id']}/cancel", {"prorate": True}).json()
    assert canceled["status"] == "canceled" and canceled["ended_at"] == canceled["canceled_at"]
    assert canceled["cancellation_reason"] == "requested"
    end, begin, at = ts(subscription["current_period_end"]), ts(subscription["current_period_start"]), ts(canceled["ended_at"])
    credit = share(3100, int((end - at).total_seconds()), int((end - begin).total_seconds()))
    assert client.get(f"/customers/{customer['id']}").json()["balance_cents"] == -credit
    assert client.post(f"/subscriptions/{subscription['id']}/cancel", {}).status_code == 409
    # The credit is consumed by the next invoice.
    again = subscribe(client, customer, new_plan(client, amount_cents=5000)).json()
    invoice = invoices_of(client, again)[0]
    assert invoice["balance_applied_cents"] == -credit and invoice["amount_cents"] == 5000 - credit
    assert client.get(f"/customers/{customer['id']}").json()["balance_cents"] == 0


def test_cancel_at_period_end_and_resume(client):
    plan = new_plan(client, interval="day")
    subscription = subscribe(client, new_customer(client), plan).json()
    scheduled = client.post(f"/subscriptions/{subscription['id']}/cancel", {"at_period_end": True}).json()
    assert scheduled["cancel_at_period_end"] is True and scheduled["status"] == "active"
    resumed = client.post(f"/subscriptions/{subscription['id']}/resume").json()
    assert resumed["cancel_at_period_end"] is False and resumed["canceled_at"] is None
    client.post(f"/subscriptions/{subscription['id']}/cancel", {"at_period_end": True})
    # A day passes (the period moves into the past; no clock to advance yet).
    sql(f"UPDATE subscriptions SET billing_cycle_anchor = billing_cycle_anchor - interval '1 day', "
        f"current_period_start = current_period_start - interval '1 day', "
        f"current_period_end = current_period_end - interval '1 day' WHERE id = '{subscription['id']}'")
    run(client)
    ended = client.get(f"/subscriptions/{subscription['id']}").json()
    assert ended["status"] == "canceled" and ended["ended_at"] == subscription["current_period_start"]
    assert len(invoices_of(client, subscription)) == 1, "no invoice after the end"
    assert client.post(f"/subscriptions/{subscription['id']}/resume").status_code == 409


def test_upgrade_within_the_period_prorates_exactly(client):
    customer = new_customer(client)
    basic = new_plan(client, amount_cents=1000)
    pro = new_plan(client, amount_cents=2000)
    subscription = subscribe(client, customer, basic, start_at=iso(now() - timedelta(days=11))).json()
    response = client.post(f"/subscriptions/{subscription['id']}/change-plan", {"plan_id": pro["id"]})
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["plan_id"] == pro["id"]
    assert changed["current_period_end"] == subscription["current_period_end"]
    invoice = changed["invoice"]
    at, begin, end = ts(invoice["period_start"]), ts(subscription["current_period_start"]), ts(subscription["current_period_end"])
    remaining, length = int((end - at).total_seconds()), int((end - begin).total_seconds())
    assert [(l["kind"], l["amount_cents"]) for l in invoice["lines"]] == [
        ("proration", -share(1000, remaining, length)), ("proration", share(2000, remaining, length))]
    assert invoice["billing_reason"] == "subscription_update" and invoice["period_end"] == subscription["current_period_end"]
    assert invoice["amount_cents"] == invoice["subtotal_cents"] > 0
    # The same plan and quantity again changes nothing: 422, as invoicing.md §3 says.
    assert client.post(f"/subscriptions/{subscription['id']}/change-plan", {"plan_id": pro["id"]}).status_code == 422


def test_downgrade_turns_the_negative_total_into_credit(client):
    customer = new_customer(client)
    pro = new_plan(client, amount_cents=9000)
    basic = new_plan(client, amount_cents=3000)
    subscription = subscribe(client, customer, pro, start_at=iso(now() - timedelta(days=5))).json()
    invoice = client.post(f"/subscriptions/{subscription['id']}/change-plan", {"plan_id": basic["id"]}).json()["invoice"]
    assert invoice["subtotal_cents"] < 0
    assert invoice["amount_cents"] == 0 and invoice["status"] == "paid"
    assert invoice["balance_applied_cents"] == -invoice["subtotal_cents"]
    assert client.get(f"/customers/{customer['id']}").json()["balance_cents"] == invoice["subtotal_cents"]


def test_monthly_to_yearly_restarts_the_cycle_now(client):
    customer = new_customer(client)
    monthly = new_plan(client, amount_cents=3000)
    yearly = new_plan(client, amount_cents=30000, interval="year")
    subscription = subscribe(client, customer, monthly, start_at=iso(now() - timedelta(days=10))).json()
    changed = client.post(f"/subscriptions/{subscription['id']}/change-plan", {"plan_id": yearly["id"]}).json()
    invoice = changed["invoice"]
    at = ts(invoice["period_start"])
    assert changed["billing_cycle_anchor"] == iso(at) == changed["current_period_start"]
    assert changed["current_period_end"] == iso(add_months(at, 12))
    begin, end = ts(subscription["current_period_start"]), ts(subscription["current_period_end"])
    credit = share(3000, int((end - at).total_seconds()), int((end - begin).total_seconds()))
    assert [(l["kind"], l["amount_cents"]) for l in invoice["lines"]] == [("subscription", 30000), ("proration", -credit)]
    assert invoice["amount_cents"] == 30000 - credit
    listed = invoices_of(client, subscription)
    assert len(listed) == 2 and listed[0] == invoice, "a list joins each invoice with its lines, in order"
    assert [l["kind"] for l in listed[1]["lines"]] == ["subscription"]


def test_change_plan_refuses_other_currencies_and_unknown_plans(client):
    subscription = subscribe(client, new_customer(client), new_plan(client, currency="EUR")).json()
    response = client.post(f"/subscriptions/{subscription['id']}/change-plan", {"plan_id": new_plan(client, currency="USD")["id"]})
    assert response.status_code == 422
    missing = client.post(f"/subscriptions/{subscription['id']}/change-plan", {"plan_id": "01a2135a-6f24-7ec5-8c14-5bff7fc75624"})
    assert missing.status_code == 404
    assert client.post(f"/subscriptions/{subscription['id']}/change-plan", {}).status_code == 422


def test_invoice_transitions_and_forbidden_ones(client):
    plan = new_plan(client)
    invoice = invoices_of(client, subscribe(client, new_customer(client), plan).json())[0]
    paid = client.post(f"/invoices/{invoice['id']}/pay", {"paid_at": invoice["created_at"]})
    assert paid.status_code == 200 and paid.json()["status"] == "paid" and paid.json()["paid_at"] == invoice["created_at"]
    for action in ("pay", "void", "mark-uncollectible"):
        assert client.post(f"/invoices/{invoice['id']}/{action}").status_code == 409

    second = invoices_of(client, subscribe(client, new_customer(client), plan).json())[0]
    voided = client.post(f"/invoices/{second['id']}/void").json()
    assert voided["status"] == "void" and voided["voided_at"]
    for action in ("pay", "void", "mark-uncollectible"):
        assert client.post(f"/invoices/{second['id']}/{action}").status_code == 409

    third = invoices_of(client, subscribe(client, new_customer(client), plan).json())[0]
    assert client.post(f"/invoices/{third['id']}/mark-uncollectible").json()["status"] == "uncollectible"
    assert client.post(f"/invoices/{third['id']}/void").status_code == 409
    late = client.post(f"/invoices/{third['id']}/pay")
    assert late.status_code == 200 and late.json()["status"] == "paid"

    future = iso(now() + timedelta(days=1))
    fourth = invoices_of(client, subscribe(client, new_customer(client), plan).json())[0]
    assert client.post(f"/invoices/{fourth['id']}/pay", {"paid_at": future}).status_code == 422
    assert client.post("/invoices/01a2135a-6f24-7ec5-8c14-5bff7fc75624/pay").status_code == 404


def test_paid_and_void_invoices_are_immutable_in_the_database(client):
    invoice = invoices_of(client, subscribe(client, new_customer(client), new_plan(client)).json())[0]
    client.post(f"/invoices/{invoice['id']}/pay")
    result = subprocess.run(["psql", DATABASE_URL, "-c", f"UPDATE invoices SET amount_cents = 1 WHERE id = '{invoice['id']}'"],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "never change" in result.stderr
    result = subprocess.run(["psql", DATABASE_URL, "-c", f"DELETE FROM invoice_lines WHERE invoice_id = '{invoice['id']}'"],
                            capture_output=True, text=True)
    assert result.returncode != 0


def test_dunning_past_due_then_payment_reactivates(client):
    plan = new_plan(client)
    subscription = subscribe(client, new_customer(client), plan, start_at=iso(now() - timedelta(days=10))).json()
    summary = run(client)
    assert summary["marked_past_due"] >= 1
    assert client.get(f"/subscriptions/{subscription['id']}").json()["status"] == "past_due"
    invoice = invoices_of(client, subscription)[0]
    client.post(f"/invoices/{invoice['id']}/pay")
    assert client.get(f"/subscriptions/{subscription['id']}").json()["status"] == "active"


def test_dunning_cancels_for_nonpayment_and_marks_uncollectible(client):
    plan = new_plan(client)
    subscription = subscribe(client, new_customer(client), plan, start_at=iso(now() - timedelta(days=25))).json()
    run(client)
    after = client.get(f"/subscriptions/{subscription['id']}").json()
    assert after["status"] == "canceled" and after["cancellation_reason"] == "nonpayment"
    first = invoices_of(client, subscription)[-1]
    assert first["status"] == "uncollectible"
    # Money that arrives late is still recorded; the subscription stays ended.
    assert client.post(f"/invoices/{first['id']}/pay").json()["status"] == "paid"
    assert client.get(f"/subscriptions/{subscription['id']}").json()["status"] == "canceled"


def test_billing_run_refuses_a_future_as_of_and_accepts_a_past_one(client):
    assert client.post("/billing/run", {"as_of": iso(now() + timedelta(hours=1))}).status_code == 422
    assert client.post("/billing/run", {"as_of": "yesterday"}).status_code == 422
    assert run(client, as_of="2020-01-01T00:00:00Z")["invoices_created"] == 0


def test_events_exist_for_every_invoice_and_subscription_change(client):
    run(client)
    missing = sql("""SELECT count(*) FROM invoices i WHERE NOT EXISTS (
                       SELECT 1 FROM events e WHERE e.type = 'invoice.created' AND e.data::json->>'id' = i.id::text)""")
    assert missing == [["0"]]
    missing = sql("""SELECT count(*) FROM subscriptions s WHERE status = 'canceled' AND NOT EXISTS (
                       SELECT 1 FROM events e WHERE e.type = 'subscription.canceled' AND e.data::json->>'id' = s.id::text)""")
    assert missing == [["0"]]
