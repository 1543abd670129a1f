"""Rules that must hold when requests race, enforced by PostgreSQL and fired for real."""

from conftest import Client, assert_number_series_gapless, fire, new_customer, new_plan, sql, unique


def test_50_concurrent_subscriptions_for_one_customer_make_exactly_one(api_key):
    setup = Client(api_key)
    customer = new_customer(setup)
    plan = new_plan(setup)
    body = {"customer_id": customer["id"], "plan_id": plan["id"]}
    responses = fire(50, lambda i: Client(api_key).post("/subscriptions", body))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1, statuses
    assert statuses.count(409) == 49, statuses
    assert sql(f"SELECT count(*) FROM subscriptions WHERE customer_id = '{customer['id']}'") == [["1"]]
    assert sql(f"SELECT count(*) FROM invoices WHERE customer_id = '{customer['id']}'") == [["1"]]


def test_20_concurrent_requests_with_one_idempotency_key_make_one_customer(api_key):
    key = unique("race")
    body = {"email": f"{unique()}@example.com", "name": "Raced"}
    responses = fire(20, lambda i: Client(api_key).post("/customers", body, headers={"Idempotency-Key": key}))
    created = [r for r in responses if r.status_code == 201]
    in_progress = [r for r in responses if r.status_code == 409]
    assert len(created) + len(in_progress) == 20, [r.status_code for r in responses]
    assert created, "at least the first request succeeds"
    assert len({r.json()["id"] for r in created}) == 1
    assert all(r.json()["type"].endswith("idempotency-key-in-use") for r in in_progress)
    assert sql(f"SELECT count(*) FROM customers WHERE email = '{body['email']}'") == [["1"]]
    # Once the first has finished, every retry is a replay.
    retry = Client(api_key).post("/customers", body, headers={"Idempotency-Key": key})
    assert retry.status_code == 201 and retry.headers["Idempotent-Replayed"] == "true"


def test_invoice_numbers_stay_gapless_under_50_concurrent_creations(api_key):
    setup = Client(api_key)
    plan = new_plan(setup)
    customers = [new_customer(setup) for _ in range(50)]
    responses = fire(50, lambda i: Client(api_key).post(
        "/subscriptions", {"customer_id": customers[i]["id"], "plan_id": plan["id"]}))
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses if r.status_code != 201]
    assert_number_series_gapless()


def test_concurrent_duplicate_emails_make_one_customer(api_key):
    email = f"{unique()}@example.com"
    responses = fire(20, lambda i: Client(api_key).post("/customers", {"email": email, "name": f"n{i}"}))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 19
