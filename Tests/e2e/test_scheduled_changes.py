"""Changes scheduled at the period end (time.md) through the real API: stored as a pending
update, applied by the billing run at the boundary (the next cycle invoice on the new plan,
no proration), exactly once even when 20 runs race over it, replaced by a later change,
removed by its DELETE, dropped by a cancel at period end."""

from concurrent.futures import ThreadPoolExecutor

from conftest import Client, new_customer, new_plan, sql, subscribe
from test_test_clocks import advance, clock_customer, invoices_of, new_clock


def change(client, subscription, **body):
    return client.post(f"/subscriptions/{subscription['id']}/change-plan", body)


def started(client, plan):
    clock = new_clock(client)
    subscription = subscribe(client, clock_customer(client, clock), plan).json()
    [first] = invoices_of(client, subscription)
    assert client.post(f"/invoices/{first['id']}/pay", {}).status_code == 200
    return clock, subscription


def test_a_downgrade_at_period_end_bills_the_next_cycle_on_the_new_plan(client):
    pro, basic = new_plan(client, amount_cents=2500), new_plan(client, amount_cents=1000)
    clock, subscription = started(client, pro)
    scheduled = change(client, subscription, plan_id=basic["id"], at_period_end=True)
    assert scheduled.status_code == 200, scheduled.text
    body = scheduled.json()
    assert body["invoice"] is None and body["plan_id"] == pro["id"]
    assert body["pending_update"] == {"plan_id": basic["id"], "quantity": 1, "effective_at": "2025-02-01T00:00:00Z"}

    assert advance(client, clock, "2025-02-01T00:00:00Z").status_code == 200
    february = invoices_of(client, subscription)[1]
    assert [(line["kind"], line["amount_cents"]) for line in february["lines"]] == [("subscription", 1000)]
    after = client.get(f"/subscriptions/{subscription['id']}").json()
    assert after["plan_id"] == basic["id"] and after["pending_update"] is None
    rows = sql(f"SELECT created_at, data::json->>'plan_id', data::json->'pending_update' IS NULL "
               f"OR data::json->>'pending_update' IS NULL FROM events "
               f"WHERE type = 'subscription.updated' AND data::json->>'id' = '{subscription['id']}' ORDER BY seq")
    assert rows[0][:2] == ["2025-01-01 00:00:00+00", pro["id"]]  # at scheduling
    assert ["2025-02-01 00:00:00+00", basic["id"], "t"] in rows  # at applying


def test_a_new_interval_anchors_the_periods_at_the_change(client):
    monthly, yearly = new_plan(client, amount_cents=2500), new_plan(client, amount_cents=25000, interval="year")
    clock, subscription = started(client, monthly)
    assert change(client, subscription, plan_id=yearly["id"], at_period_end=True).status_code == 200
    assert advance(client, clock, "2025-02-02T00:00:00Z").status_code == 200
    second = invoices_of(client, subscription)[1]
    assert (second["period_start"], second["period_end"]) == ("2025-02-01T00:00:00Z", "2026-02-01T00:00:00Z")
    assert second["amount_due_cents"] == 25000
    after = client.get(f"/subscriptions/{subscription['id']}").json()
    assert after["billing_cycle_anchor"] == "2025-02-01T00:00:00Z"


def test_later_changes_replace_it_and_delete_removes_it(client):
    pro, basic = new_plan(client, amount_cents=2500), new_plan(client, amount_cents=1000)
    clock, subscription = started(client, pro)
    assert change(client, subscription, plan_id=basic["id"], at_period_end=True).status_code == 200
    replaced = change(client, subscription, quantity=3, at_period_end=True).json()
    assert replaced["pending_update"]["plan_id"] == pro["id"] and replaced["pending_update"]["quantity"] == 3
    now = change(client, subscription, quantity=2, prorate=False)
    assert now.status_code == 200 and now.json()["pending_update"] is None, now.text
    assert change(client, subscription, plan_id=basic["id"], at_period_end=True).status_code == 200
    removed = client.delete(f"/subscriptions/{subscription['id']}/pending-update")
    assert removed.status_code == 200 and removed.json()["pending_update"] is None, removed.text
    assert client.delete(f"/subscriptions/{subscription['id']}/pending-update").status_code == 200
    assert advance(client, clock, "2025-02-01T00:00:00Z").status_code == 200
    after = client.get(f"/subscriptions/{subscription['id']}").json()
    assert after["plan_id"] == pro["id"] and after["quantity"] == 2
    assert invoices_of(client, subscription)[-1]["amount_due_cents"] == 5000


def test_a_cancel_at_period_end_drops_it_and_no_change_follows_a_cancel(client):
    pro, basic = new_plan(client, amount_cents=2500), new_plan(client, amount_cents=1000)
    clock, subscription = started(client, pro)
    assert change(client, subscription, plan_id=basic["id"], at_period_end=True).status_code == 200
    canceled = client.post(f"/subscriptions/{subscription['id']}/cancel", {"at_period_end": True})
    assert canceled.status_code == 200 and canceled.json()["pending_update"] is None, canceled.text
    refused = change(client, subscription, plan_id=basic["id"], at_period_end=True)
    assert refused.status_code == 409, refused.text
    assert advance(client, clock, "2025-02-15T00:00:00Z").status_code == 200
    after = client.get(f"/subscriptions/{subscription['id']}").json()
    assert after["status"] == "canceled" and after["plan_id"] == pro["id"]
    assert len(invoices_of(client, subscription)) == 1
    assert change(client, subscription, plan_id=basic["id"], at_period_end=True).status_code == 409
    bad = change(client, {"id": subscription["id"]}, plan_id=basic["id"], at_period_end=True, tax_rate_ids=[])
    assert bad.status_code in (409, 422)


def test_twenty_runs_racing_over_the_boundary_apply_it_once(api_key):
    client = Client(api_key)
    pro, basic = new_plan(client, amount_cents=2500), new_plan(client, amount_cents=1000)
    subscription = subscribe(client, new_customer(client), pro).json()
    assert change(client, subscription, plan_id=basic["id"], at_period_end=True).status_code == 200
    # The period ends: moved a month and a day into the past (the owner's SQL; the API
    # cannot move real time), its scheduled change with it.
    sql(f"UPDATE subscriptions SET start_at = start_at - interval '1 month 1 day', "
        f"billing_cycle_anchor = billing_cycle_anchor - interval '1 month 1 day', "
        f"current_period_start = current_period_start - interval '1 month 1 day', "
        f"current_period_end = current_period_end - interval '1 month 1 day', "
        f"pending_effective_at = pending_effective_at - interval '1 month 1 day' WHERE id = '{subscription['id']}'")
    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(lambda _: Client(api_key).post("/billing/run", None).status_code, range(20)))
    assert set(statuses) == {200}, statuses
    invoices = invoices_of(client, subscription)
    cycle = [invoice for invoice in invoices if invoice["billing_reason"] == "subscription_cycle"]
    assert len(invoices) == 2 and len(cycle) == 1 and cycle[0]["amount_due_cents"] == 1000
    after = client.get(f"/subscriptions/{subscription['id']}").json()
    assert after["plan_id"] == basic["id"] and after["pending_update"] is None
    # One transaction applied it: its `subscription.updated` (the new plan, the old period)
    # and the renewal's (the new period); no run applied it again.
    [[updates]] = sql(f"SELECT count(*) FROM events WHERE type = 'subscription.updated' "
                      f"AND data::json->>'id' = '{subscription['id']}' AND data::json->>'plan_id' = '{basic['id']}'")
    assert updates == "2"
