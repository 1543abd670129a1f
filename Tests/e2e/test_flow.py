"""The original flow and every endpoint of the foundation, through nginx and the pool."""

import re
from datetime import datetime, timedelta, timezone

from conftest import BASE_URL, Client, new_customer, new_plan, sql, subscribe, unique

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def test_health_endpoints_need_no_key():
    anonymous = Client(None)
    assert anonymous.get("/health").json() == {"status": "ok"}
    assert anonymous.get("/health/ready").json() == {"status": "ok", "database": "ok", "migrations": "current"}
    assert anonymous.get("/health/db").json() == {"database": "ok"}
    assert anonymous.get("/nginx-health").status_code == 200


def test_request_id_is_returned_and_echoed_in_problems(client):
    response = client.get("/customers/not-a-uuid")
    assert response.status_code == 404
    assert response.json()["request_id"] == response.headers["X-Request-Id"]


def test_original_flow(client):
    customer = new_customer(client, name="Ada Lovelace", metadata={"tier": "gold"})
    assert customer["currency"] is None and customer["balance_cents"] == 0
    assert customer["metadata"] == {"tier": "gold"}
    plan = new_plan(client, amount_cents=1999, currency="USD", interval="month")
    response = subscribe(client, customer, plan)
    assert response.status_code == 201, response.text
    subscription = response.json()
    assert subscription["status"] == "active"
    assert subscription["customer_id"] == customer["id"]
    assert subscription["billing_cycle_anchor"] == subscription["start_at"]
    assert subscription["current_period_start"] == subscription["start_at"]
    for field in ("start_at", "current_period_start", "current_period_end", "created_at"):
        assert RFC3339.match(subscription[field]), subscription[field]

    invoices = client.get(f"/customers/{customer['id']}/invoices").json()
    assert invoices["has_more"] is False and len(invoices["data"]) == 1
    invoice = invoices["data"][0]
    assert re.match(r"^INV-\d{6,}$", invoice["number"])
    assert invoice["status"] == "open"
    assert invoice["amount_cents"] == invoice["subtotal_cents"] == 1999
    assert invoice["currency"] == "USD"
    assert invoice["period_start"] == subscription["current_period_start"]
    assert invoice["period_end"] == subscription["current_period_end"]
    start = datetime.fromisoformat(invoice["period_start"].replace("Z", "+00:00"))
    assert invoice["due_at"] == (start + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [line["kind"] for line in invoice["lines"]] == ["subscription"]
    assert invoice["lines"][0]["amount_cents"] == 1999

    assert client.get(f"/invoices/{invoice['id']}").json() == invoice
    assert client.get(f"/invoices?customer_id={customer['id']}").json() == invoices
    assert client.get(f"/invoices?subscription_id={subscription['id']}").json()["data"] == [invoice]
    assert client.get(f"/subscriptions/{subscription['id']}").json() == subscription
    listed = client.get(f"/subscriptions?customer_id={customer['id']}&status=active").json()
    assert listed["data"] == [subscription]
    assert client.get(f"/customers/{customer['id']}").json()["currency"] == "USD"


def test_events_are_written_with_every_change(client):
    customer = new_customer(client)
    plan = new_plan(client)
    subscription = subscribe(client, customer, plan).json()
    events = client.get("/events?limit=100").json()["data"]
    by_object = {(e["type"], e["data"]["id"]) for e in events}
    assert ("customer.created", customer["id"]) in by_object
    assert ("plan.created", plan["id"]) in by_object
    assert ("subscription.created", subscription["id"]) in by_object
    assert ("customer.updated", customer["id"]) in by_object  # currency set by the first subscription
    invoice_events = client.get("/events?type=invoice.created&limit=5").json()["data"]
    assert all(e["type"] == "invoice.created" for e in invoice_events)
    assert invoice_events[0]["data"]["subscription_id"] == subscription["id"]


def test_lists_are_newest_first_in_exact_creation_order_with_cursor(client):
    tag = unique("order")
    created = [new_customer(client, email=f"{tag}-{i}@example.com") for i in range(5)]
    first = client.get("/customers?limit=2").json()
    assert [c["id"] for c in first["data"]] == [created[4]["id"], created[3]["id"]]
    assert first["has_more"] is True and first["next_cursor"] == created[3]["id"]
    second = client.get(f"/customers?limit=2&starting_after={first['next_cursor']}").json()
    assert [c["id"] for c in second["data"]] == [created[2]["id"], created[1]["id"]]
    third = client.get(f"/customers?limit=1&starting_after={created[1]['id']}").json()
    assert third["data"][0]["id"] == created[0]["id"]
    assert client.get(f"/customers?email={tag}-3@EXAMPLE.com").json()["data"] == [created[3]]


def test_unknown_cursor_is_422(client):
    response = client.get("/customers?starting_after=01a2135a-6f24-7ec5-8c14-5bff7fc75624")
    assert response.status_code == 422


def test_customer_email_is_unique_case_insensitively(client):
    customer = new_customer(client)
    response = client.post("/customers", {"email": customer["email"].upper(), "name": "Twin"})
    assert response.status_code == 409


def test_customer_patch_merges_metadata_and_keeps_email_unique(client):
    customer = new_customer(client, metadata={"a": "1", "b": "2"})
    other = new_customer(client)
    updated = client.patch(f"/customers/{customer['id']}", {"name": "Renamed", "metadata": {"b": "", "c": "3"}})
    assert updated.status_code == 200, updated.text
    assert updated.json()["name"] == "Renamed"
    assert updated.json()["metadata"] == {"a": "1", "c": "3"}
    assert client.patch(f"/customers/{customer['id']}", {"email": other["email"]}).status_code == 409
    assert client.patch(f"/customers/{customer['id']}", {"currency": "EUR"}).status_code == 422
    assert client.patch("/customers/01a2135a-6f24-7ec5-8c14-5bff7fc75624", {"name": "x"}).status_code == 404


def test_plans_are_immutable_except_name_and_active(client):
    plan = new_plan(client, interval="week", interval_count=2, trial_days=3)
    assert plan["interval_count"] == 2 and plan["trial_days"] == 3 and plan["is_active"] is True
    assert client.post("/plans", {**{k: plan[k] for k in ("code", "name", "amount_cents", "currency", "interval")}}).status_code == 409
    for field, value in [("amount_cents", 1), ("currency", "USD"), ("interval", "year"), ("interval_count", 1), ("code", "x")]:
        response = client.patch(f"/plans/{plan['id']}", {field: value})
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == field
    updated = client.patch(f"/plans/{plan['id']}", {"name": "Renamed", "is_active": False}).json()
    assert updated["name"] == "Renamed" and updated["is_active"] is False
    assert updated["amount_cents"] == plan["amount_cents"]
    inactive = client.get("/plans?is_active=false&limit=100").json()["data"]
    assert plan["id"] in [p["id"] for p in inactive]
    assert all(not p["is_active"] for p in inactive)
    assert client.get(f"/plans/{plan['id']}").json() == updated


def test_plan_interval_is_at_most_a_year(client):
    for interval, count in [("day", 366), ("week", 53), ("month", 13), ("year", 2)]:
        response = client.post("/plans", {"code": unique(), "name": "x", "amount_cents": 1, "currency": "EUR",
                                          "interval": interval, "interval_count": count})
        assert response.status_code == 422, (interval, count)


def test_subscription_to_inactive_plan_is_409_and_unknown_ids_404(client):
    customer = new_customer(client)
    plan = new_plan(client)
    client.patch(f"/plans/{plan['id']}", {"is_active": False})
    assert subscribe(client, customer, plan).status_code == 409
    missing = {"id": "01a2135a-6f24-7ec5-8c14-5bff7fc75624"}
    assert subscribe(client, missing, plan).status_code == 404
    assert subscribe(client, customer, missing).status_code == 404


def test_one_live_subscription_and_one_currency_per_customer(client):
    customer = new_customer(client)
    euro = new_plan(client, currency="EUR")
    dollar = new_plan(client, currency="USD")
    first = subscribe(client, customer, euro)
    assert first.status_code == 201
    assert subscribe(client, customer, euro).status_code == 409
    other = new_customer(client)
    assert subscribe(client, other, dollar).status_code == 201
    assert client.post(f"/subscriptions/{first.json()['id']}/cancel").status_code == 200
    response = subscribe(client, customer, dollar)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "plan_id"


def test_trial_gives_a_paid_zero_invoice_and_moves_the_anchor(client):
    customer = new_customer(client)
    plan = new_plan(client, trial_days=14)
    subscription = subscribe(client, customer, plan, start_at="2026-01-01T00:00:00Z").json()
    assert subscription["status"] == "trialing"
    assert subscription["trial_end"] == "2026-01-15T00:00:00Z"
    assert subscription["billing_cycle_anchor"] == "2026-01-15T00:00:00Z"
    assert subscription["current_period_end"] == "2026-01-15T00:00:00Z"
    invoice = client.get(f"/invoices?subscription_id={subscription['id']}").json()["data"][0]
    assert invoice["status"] == "paid" and invoice["amount_cents"] == 0 and invoice["paid_at"]
    assert [(l["kind"], l["amount_cents"], l["period_start"], l["period_end"]) for l in invoice["lines"]] == [
        ("trial", 0, "2026-01-01T00:00:00Z", "2026-01-15T00:00:00Z")]
    # A trial_days of 0 in the request overrides the plan's trial.
    direct = subscribe(client, new_customer(client), plan, trial_days=0).json()
    assert direct["status"] == "active" and direct["trial_end"] is None


def test_back_dated_start_invoices_only_the_first_period(client):
    customer = new_customer(client)
    plan = new_plan(client)
    subscription = subscribe(client, customer, plan, start_at="2025-01-31T12:00:00+02:00").json()
    assert subscription["start_at"] == "2025-01-31T10:00:00Z"
    assert subscription["current_period_end"] == "2025-02-28T10:00:00Z"
    invoices = client.get(f"/invoices?subscription_id={subscription['id']}").json()["data"]
    assert len(invoices) == 1 and invoices[0]["due_at"] == "2025-02-07T10:00:00Z"
    future = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert subscribe(client, new_customer(client), plan, start_at=future).status_code == 422


def test_customer_balance_is_applied_to_the_first_invoice(client):
    customer = new_customer(client)
    sql(f"UPDATE customers SET balance_cents = -1000 WHERE id = '{customer['id']}'")
    plan = new_plan(client, amount_cents=2500)
    subscription = subscribe(client, customer, plan).json()
    invoice = client.get(f"/invoices?subscription_id={subscription['id']}").json()["data"][0]
    assert (invoice["subtotal_cents"], invoice["balance_applied_cents"], invoice["amount_cents"]) == (2500, -1000, 1500)
    assert client.get(f"/customers/{customer['id']}").json()["balance_cents"] == 0


def test_idempotency_replays_the_first_response(client):
    key = unique("idem")
    body = {"email": f"{unique()}@example.com", "name": "Once"}
    first = client.post("/customers", body, headers={"Idempotency-Key": key})
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = client.post("/customers", body, headers={"Idempotency-Key": key})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert sql(f"SELECT count(*) FROM customers WHERE email = '{body['email']}'") == [["1"]]
    reused = client.post("/customers", {**body, "name": "Other"}, headers={"Idempotency-Key": key})
    assert reused.status_code == 422 and reused.json()["type"].endswith("idempotency-key-reused")
    plan = {"code": unique(), "name": "x", "amount_cents": 1, "currency": "EUR", "interval": "month"}
    other_path = client.post("/plans", plan, headers={"Idempotency-Key": key})
    assert other_path.status_code == 422 and other_path.json()["type"].endswith("idempotency-key-reused")


def test_idempotency_replays_errors_that_ran_but_not_validation_errors(client):
    key = unique("idem")
    missing = {"customer_id": "01a2135a-6f24-7ec5-8c14-5bff7fc75624", "plan_id": "01a2135a-6f24-7ec5-8c14-5bff7fc75625"}
    first = client.post("/subscriptions", missing, headers={"Idempotency-Key": key})
    assert first.status_code == 404
    replay = client.post("/subscriptions", missing, headers={"Idempotency-Key": key})
    assert replay.status_code == 404 and replay.headers.get("Idempotent-Replayed") == "true"

    key = unique("idem")
    invalid = client.post("/customers", {"email": "not-an-email", "name": "x"}, headers={"Idempotency-Key": key})
    assert invalid.status_code == 422
    fixed = client.post("/customers", {"email": f"{unique()}@example.com", "name": "x"}, headers={"Idempotency-Key": key})
    assert fixed.status_code == 201 and "Idempotent-Replayed" not in fixed.headers


def test_idempotency_keys_are_scoped_to_the_api_key(client):
    from conftest import create_api_key
    other = Client(create_api_key("other"))
    key = unique("idem")
    a = client.post("/customers", {"email": f"{unique()}@example.com", "name": "A"}, headers={"Idempotency-Key": key})
    b = other.post("/customers", {"email": f"{unique()}@example.com", "name": "B"}, headers={"Idempotency-Key": key})
    assert a.status_code == b.status_code == 201 and a.json()["id"] != b.json()["id"]


def test_idempotency_key_longer_than_255_is_400(client):
    response = client.post("/customers", {"email": f"{unique()}@example.com", "name": "x"},
                           headers={"Idempotency-Key": "k" * 256})
    assert response.status_code == 400


def test_revoked_api_key_stops_working(client):
    import subprocess, time
    from conftest import BILLING_BIN, DATABASE_URL, create_api_key
    key = create_api_key("to-revoke")
    victim = Client(key)
    assert victim.get("/customers?limit=1").status_code == 200
    subprocess.run([BILLING_BIN, "api-key", "revoke", key[:11], "--database-url", DATABASE_URL], check=True,
                   capture_output=True)
    # Each worker thread trusts a verified key for at most 5 seconds.
    time.sleep(5.5)
    assert [victim.get("/customers?limit=1").status_code for _ in range(20)] == [401] * 20
    assert sql(f"SELECT count(*) FROM api_keys WHERE prefix = '{key[:11]}' AND revoked_at IS NOT NULL") == [["1"]]
    # Only the SHA-256 of the secret is stored.
    assert sql(f"SELECT count(*) FROM api_keys WHERE secret_hash = sha256(convert_to('{key}', 'UTF8'))") == [["1"]]
