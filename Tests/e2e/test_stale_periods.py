"""Issue "What an attacker and a new user found", money and time: every action first brings
its subscription up to date; credit comes from what was billed; one lock order, so a run
never deadlocks with requests; catch-up is bounded per transaction; payments cannot
predate their invoice."""

import json
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import requests

from conftest import BASE_URL, BILLING_BIN, new_customer, new_plan, sql, subscribe
from pool import Pool
from test_billing import add_months, invoices_of, iso, now, run, share, ts


def cycle_invoices(client, subscription):
    return sorted(
        (i for i in invoices_of(client, subscription) if i["lines"][0]["kind"] == "subscription"),
        key=lambda i: i["period_start"])


def months_due(anchor, until):
    """Period starts of a monthly subscription from `anchor` that have begun by `until`."""
    starts, index = [], 0
    while add_months(anchor, index) <= until:
        starts.append(iso(add_months(anchor, index)))
        index += 1
    return starts


def back_dated(client, amount=1000, interval="month", start="2025-01-01T00:00:00Z"):
    plan = new_plan(client, amount_cents=amount, interval=interval)
    customer = new_customer(client)
    response = subscribe(client, customer, plan, start_at=start)
    assert response.status_code == 201, response.text
    return customer, plan, response.json()


def test_change_plan_to_yearly_first_invoices_every_missed_month(client):
    _, _, subscription = back_dated(client)
    yearly = new_plan(client, amount_cents=12000, interval="year")
    response = client.post(f"/subscriptions/{subscription['id']}/change-plan", {"plan_id": yearly["id"]})
    assert response.status_code == 200, response.text
    changed = response.json()
    changed_at = ts(changed["invoice"]["created_at"])
    # Every month from January 2025 up to the change was invoiced once, at the old price.
    monthly = [i for i in invoices_of(client, subscription) if i["period_start"] < iso(changed_at)
               and i["lines"][0]["kind"] == "subscription"]
    assert sorted(i["period_start"] for i in monthly) == months_due(ts("2025-01-01T00:00:00Z"), changed_at)
    assert {i["subtotal_cents"] for i in monthly} == {1000}
    # The change itself acts on the real current month: its credit is that month's unused part.
    last = max(monthly, key=lambda i: i["period_start"])
    start, end = ts(last["period_start"]), ts(last["period_end"])
    lines = changed["invoice"]["lines"]
    assert [line["kind"] for line in lines] == ["subscription", "proration"]
    assert lines[1]["amount_cents"] == -share(1000, int((end - changed_at).total_seconds()),
                                              int((end - start).total_seconds()))
    assert changed["current_period_start"] == iso(changed_at)


def test_change_plan_without_proration_bills_the_past_at_the_old_price(client):
    _, _, subscription = back_dated(client)
    pricier = new_plan(client, amount_cents=5000)
    response = client.post(f"/subscriptions/{subscription['id']}/change-plan",
                           {"plan_id": pricier["id"], "prorate": False})
    assert response.status_code == 200, response.text
    assert response.json()["invoice"] is None
    assert {i["subtotal_cents"] for i in cycle_invoices(client, subscription)} == {1000}
    # The next run bills the new price from the next period on, and nothing twice.
    assert run(client)["invoices_created"] == 0


def test_prorated_change_on_a_stale_subscription_prorates_the_current_period(client):
    _, _, subscription = back_dated(client)
    pricier = new_plan(client, amount_cents=2000)
    response = client.post(f"/subscriptions/{subscription['id']}/change-plan", {"plan_id": pricier["id"]})
    assert response.status_code == 200, response.text
    body = response.json()
    start, end = ts(body["current_period_start"]), ts(body["current_period_end"])
    changed_at = ts(body["invoice"]["created_at"])
    assert start <= changed_at < end
    remaining, length = int((end - changed_at).total_seconds()), int((end - start).total_seconds())
    assert [line["amount_cents"] for line in body["invoice"]["lines"]] == [
        -share(1000, remaining, length), share(2000, remaining, length)]


def test_cancel_at_period_end_on_a_stale_subscription_ends_after_the_real_period(client):
    _, _, subscription = back_dated(client)
    response = client.post(f"/subscriptions/{subscription['id']}/cancel", {"at_period_end": True})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["cancel_at_period_end"] and body["ended_at"] is None
    assert ts(body["current_period_start"]) <= ts(body["canceled_at"]) < ts(body["current_period_end"])
    assert len(cycle_invoices(client, subscription)) == len(months_due(ts("2025-01-01T00:00:00Z"), now()))


def test_resume_and_cancel_now_catch_up_first(client):
    _, _, subscription = back_dated(client)
    assert client.post(f"/subscriptions/{subscription['id']}/resume").status_code == 200
    expected = len(months_due(ts("2025-01-01T00:00:00Z"), now()))
    assert len(cycle_invoices(client, subscription)) == expected
    _, _, other = back_dated(client)
    canceled = client.post(f"/subscriptions/{other['id']}/cancel", {"prorate": True}).json()
    assert canceled["ended_at"] == canceled["canceled_at"]
    assert len(cycle_invoices(client, other)) == expected


def test_credit_comes_from_what_was_billed_not_from_the_new_price(client):
    """Lago #1776: billed 10000 for the period, moved to a 12000 plan without proration,
    canceled with proration: the credit is the unused part of the 10000."""
    customer, _, subscription = back_dated(client, amount=10000, start=iso(now()))
    dearer = new_plan(client, amount_cents=12000)
    moved = client.post(f"/subscriptions/{subscription['id']}/change-plan",
                        {"plan_id": dearer["id"], "prorate": False})
    assert moved.status_code == 200 and moved.json()["invoice"] is None
    canceled = client.post(f"/subscriptions/{subscription['id']}/cancel", {"prorate": True}).json()
    start, end = ts(canceled["current_period_start"]), ts(canceled["current_period_end"])
    at = ts(canceled["canceled_at"])
    credit = share(10000, int((end - at).total_seconds()), int((end - start).total_seconds()))
    assert client.get(f"/customers/{customer['id']}").json()["balance_cents"] == -credit


def test_alternating_upgrades_and_prorated_downgrades_mint_no_credit(client):
    customer, cheap, subscription = back_dated(client, amount=1000, start=iso(now()))
    dear = new_plan(client, amount_cents=900_000_000_000)
    for _ in range(60):
        up = client.post(f"/subscriptions/{subscription['id']}/change-plan", {"plan_id": dear["id"], "prorate": False})
        assert up.status_code == 200, up.text
        down = client.post(f"/subscriptions/{subscription['id']}/change-plan", {"plan_id": cheap["id"]})
        assert down.status_code == 200, down.text
    balance = client.get(f"/customers/{customer['id']}").json()["balance_cents"]
    billed = sum(i["subtotal_cents"] for i in invoices_of(client, subscription))
    # Nothing was billed beyond the first 1000 and its prorations: no credit beyond it.
    assert -1000 <= balance <= 0 and billed >= 0, (balance, billed)


def test_a_credit_beyond_the_balance_limit_names_balance_cents(client):
    customer, _, subscription = back_dated(client, amount=1000, start=iso(now()))
    sql(f"UPDATE customers SET balance_cents = -1000000000000000 WHERE id = '{customer['id']}'")
    response = client.post(f"/subscriptions/{subscription['id']}/cancel", {"prorate": True})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "balance_cents"


def test_duplicate_subscriptions_racing_a_run_never_deadlock_it(client):
    """400 rejected duplicates of POST /subscriptions race one billing run that renews the
    same customers: the run succeeds every round and renews every one of them."""
    plan = new_plan(client, amount_cents=700, interval="day")
    for round_ in range(3):
        start = iso(now().replace(hour=0, minute=0, second=0) - timedelta(days=3))
        pairs = []
        for _ in range(40):
            customer = new_customer(client)
            pairs.append((customer, subscribe(client, customer, plan, start_at=start).json()))
        headers = {"Authorization": f"Bearer {client.key}", "Content-Type": "application/json"}

        def duplicate(index):
            customer = pairs[index % len(pairs)][0]
            return requests.post(f"{BASE_URL}/subscriptions", json={"customer_id": customer["id"],
                                 "plan_id": plan["id"]}, headers=headers, timeout=60).status_code

        def billing_run(_):
            return requests.post(f"{BASE_URL}/billing/run", headers=headers, timeout=60)

        with ThreadPoolExecutor(max_workers=8) as pool:
            runs = pool.map(billing_run, [0])
            statuses = list(pool.map(duplicate, range(400)))
            results = list(runs)
        assert set(statuses) == {409}, statuses
        assert results[0].status_code == 200, (round_, results[0].text)
        for _, subscription in pairs:
            assert len(cycle_invoices(client, subscription)) == 4, round_


def rss_kb(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(field + r":\s+(\d+)", f.read()).group(1))


def test_catch_up_is_bounded_per_transaction_and_counted_once(client, api_key):
    plan = new_plan(client, amount_cents=100, interval="day")
    start = "2015-01-01T00:00:00Z"
    subscriptions = [subscribe(client, new_customer(client), plan, start_at=start).json() for _ in range(3)]
    # A pool of its own, one worker with one thread, so that the memory measured is the run's.
    pool = Pool(workers=1, threads=1)
    try:
        worker = pool.status(api_key)["workers"][0]["pid"]
        before = rss_kb(worker)
        response = requests.post(pool.base + "/billing/run", headers={"Authorization": f"Bearer {api_key}"},
                                 timeout=120)
        assert response.status_code == 200, response.text
        summary = response.json()
        after = rss_kb(worker)
        anon = rss_kb(worker, "RssAnon")
    finally:
        pool.stop()
    days = (ts(summary["as_of"]) - ts(start)).days
    # Other tests' subscriptions may be due too: these three are at least in it, once each.
    assert summary["subscriptions_renewed"] >= 3, summary
    assert summary["invoices_created"] >= 3 * days, summary
    ids = ",".join(f"'{s['id']}'" for s in subscriptions)
    # Every period exactly once, in order, none missing.
    rows = sql(f"SELECT count(*), count(DISTINCT (subscription_id, period_start)) "
               f"FROM invoices WHERE subscription_id IN ({ids})")
    assert rows[0] == [str(3 * (days + 1)), str(3 * (days + 1))]
    # Never paid: dunning canceled them, and every invoice past its grace at that moment is
    # uncollectible (thousands each, marked a bounded number per transaction).
    rows = sql(f"SELECT s.status, s.cancellation_reason, count(*) FILTER (WHERE i.status = 'open' "
               f"AND i.due_at <= s.ended_at - interval '14 days') FROM subscriptions s "
               f"JOIN invoices i ON i.subscription_id = s.id WHERE s.id IN ({ids}) GROUP BY 1, 2")
    assert rows == [["canceled", "nonpayment", "0"]]
    # The worker that ran it keeps its memory flat (it was 41-48 MB when one transaction
    # marked every overdue invoice at once): it grows by less than 3 MB, and its private
    # memory stays under 8 MB. (Its whole RSS, 25-28 MB here, also counts the pages of the
    # shared libraries it maps, ICU's among them since customers have time zones: 2.3 MB
    # more at start, the same pages in every worker.)
    assert after - before <= 3 * 1024 and anon <= 8 * 1024, (before, after, anon)


def test_start_at_before_2000_is_refused(client):
    plan = new_plan(client)
    response = subscribe(client, new_customer(client), plan, start_at="1999-12-31T23:59:59Z")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "start_at"


def test_a_payment_cannot_predate_its_invoice(client):
    _, _, subscription = back_dated(client, start=iso(now()))
    invoice = invoices_of(client, subscription)[0]
    response = client.post(f"/invoices/{invoice['id']}/pay", {"paid_at": "1970-01-01T00:00:00Z"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "paid_at"
    assert client.post(f"/invoices/{invoice['id']}/pay", {"paid_at": invoice["created_at"]}).status_code == 200


def test_a_failed_run_says_so_in_the_log():
    """The pool runs `billing run-due` unattended: when a run fails, its cause is logged."""
    result = subprocess.run([BILLING_BIN, "run-due", "--database-url", "postgresql:///billing?host=/nonexistent"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    failed = [line for line in lines if line.get("msg") == "billing run failed"]
    assert failed and failed[0]["level"] == "error" and "connection" in failed[0]["error"], result.stderr


def test_actions_racing_runs_on_a_stale_subscription_invoice_each_period_once(client):
    """24 requests at once on one subscription back-dated to 2025: resumes (each catching it
    up under its locks) and billing runs (catching it up with SKIP LOCKED). Every missed
    month is invoiced exactly once, whoever gets there first."""
    _, _, subscription = back_dated(client)
    headers = {"Authorization": f"Bearer {client.key}", "Content-Type": "application/json"}

    def act(index):
        path = "/billing/run" if index % 2 else f"/subscriptions/{subscription['id']}/resume"
        return requests.post(BASE_URL + path, headers=headers, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(act, range(24)))
    # A resume after the run canceled it for nonpayment (unpaid since 2025) is 409.
    assert set(statuses) <= {200, 409}, statuses
    starts = [i["period_start"] for i in cycle_invoices(client, subscription)]
    assert starts == months_due(ts("2025-01-01T00:00:00Z"), now())
