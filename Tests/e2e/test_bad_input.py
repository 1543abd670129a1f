"""Bad input always gets a clear 4xx problem+json and never a 5xx (the Client checks both)."""

import pytest
import requests

from conftest import BASE_URL, Client, new_customer, new_plan, sql, subscribe, unique

GOOD_PLAN = {"code": "x", "name": "Pro", "amount_cents": 100, "currency": "EUR", "interval": "month"}


def plan_body(**overrides):
    body = dict(GOOD_PLAN, code=unique("bad"))
    body.update(overrides)
    return body


@pytest.mark.parametrize("raw", [b"{", b"{\"email\": }", b"nul", b"{'a': 1}", b"\xff\xfe", b"{\"a\":1,}", b""])
def test_malformed_json_is_400(client, raw):
    response = client.post("/customers", data=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400


@pytest.mark.parametrize("body", [b"[]", b"1", b"\"text\"", b"null"])
def test_json_that_is_not_an_object_is_422(client, body):
    response = client.post("/customers", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422


def test_missing_or_wrong_content_type_is_415(client):
    body = b'{"email": "a@b.co", "name": "x"}'
    assert client.post("/customers", data=body, headers={"Content-Type": "text/plain"}).status_code == 415
    assert client.post("/customers", data=body).status_code == 415


@pytest.mark.parametrize("field,value", [
    ("amount_cents", -1), ("amount_cents", 10**13), ("amount_cents", 1.5), ("amount_cents", "100"),
    ("amount_cents", None), ("amount_cents", 10**30), ("amount_cents", True), ("currency", "XYZ"),
    ("currency", "eur"), ("currency", 978), ("interval", "fortnight"), ("interval_count", 0),
    ("interval_count", 366), ("trial_days", 731), ("trial_days", -1), ("name", ""), ("name", 5),
    ("name", "x" * 201), ("code", None), ("name", "nul\u0000byte"),
])
def test_wrong_values_are_422_naming_the_field(client, field, value):
    response = client.post("/plans", plan_body(**{field: value}))
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


def test_unknown_and_missing_fields_are_422(client):
    response = client.post("/plans", plan_body(amount=100))
    assert response.status_code == 422
    assert {"field": "amount", "message": "unknown field"} in response.json()["errors"]
    response = client.post("/customers", {"name": "no email"})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "email", "message": "is required"}]


def test_a_1_mib_body_is_413_from_nginx(client):
    response = client.post("/customers", data=b"{\"name\": \"" + b"x" * (1 << 20) + b"\"}",
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413


@pytest.mark.parametrize("path", ["/customers/123", "/customers/' OR 1=1 --", "/plans/zzz", "/subscriptions/1",
                                  "/customers/01a2135a-6f24-7ec5-8c14-5bff7fc7562g/invoices"])
def test_invalid_uuids_in_paths_are_404(client, path):
    assert client.get(path).status_code == 404


def test_nul_in_a_path_is_refused_by_nginx_as_problem_json(client):
    assert client.get("/invoices/%00").status_code == 400


def test_invalid_uuids_in_bodies_and_queries_are_422(client):
    assert client.post("/subscriptions", {"customer_id": "nope", "plan_id": "nope"}).status_code == 422
    assert client.get("/invoices?customer_id=nope").status_code == 422
    assert client.get("/subscriptions?status=sleeping").status_code == 422


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "limit=", "starting_after=x", "color=red"])
def test_bad_query_parameters_are_422(client, query):
    assert client.get(f"/customers?{query}").status_code == 422


def test_sql_looking_and_unicode_strings_round_trip(client):
    for name in ["'; DROP TABLE customers; --", "Robert\"); DELETE FROM plans;--", "Zoë 😀 ‮txet‬ 𝔘𝔫𝔦", "a\u0301\ufeff",
                 "$1 $2 \\x00 %s {}"]:
        customer = new_customer(client, name=name, metadata={"note": name})
        fetched = client.get(f"/customers/{customer['id']}").json()
        assert fetched["name"] == name and fetched["metadata"] == {"note": name}
    assert sql("SELECT count(*) FROM pg_tables WHERE tablename IN ('customers', 'plans')") == [["2"]]


def test_nul_bytes_are_422_not_500(client):
    response = client.post("/customers", {"email": f"{unique()}@example.com", "name": "a\u0000b"})
    assert response.status_code == 422
    response = client.post("/customers", {"email": f"{unique()}@example.com", "name": "x", "metadata": {"k\u0000": "v"}})
    assert response.status_code == 422


def test_missing_or_wrong_api_key_is_401(client):
    anonymous = Client(None)
    assert anonymous.get("/customers").status_code == 401
    assert Client("bk_wrong").get("/customers").status_code == 401
    response = requests.get(BASE_URL + "/customers", headers={"Authorization": "Basic dXNlcjpwYXNz"}, timeout=10)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
    assert Client("x" * 5000).get("/customers").status_code == 401


def test_unknown_routes_are_404_and_wrong_methods_405(client):
    assert client.get("/nope").status_code == 404
    response = client.request("DELETE", "/customers")
    assert response.status_code == 405 and "POST" in response.headers["Allow"]
    assert client.request("PUT", "/plans/01a2135a-6f24-7ec5-8c14-5bff7fc75624", json={}).status_code == 405


def test_bad_email_and_timestamps_are_422(client):
    for email in ["plain", "a@b", "@b.com", "a b@c.com", "a@b@c.com", ""]:
        assert client.post("/customers", {"email": email, "name": "x"}).status_code == 422, email
    customer = new_customer(client)
    plan = new_plan(client)
    for start in ["yesterday", "2026-02-30T00:00:00Z", "2026-01-01", 12345, "2026-01-31T15:30:00+0530",
                  "2026-01-31T15:00:00+05", "2026-01-31 10:00:00Z", "2026-01-31T10:58:60Z"]:
        assert subscribe(client, customer, plan, start_at=start).status_code == 422, start


def test_rfc3339_forms_are_accepted_and_a_leap_second_is_the_next_second(client):
    plan = new_plan(client)
    for start, stored in [("2016-12-31T23:59:60Z", "2017-01-01T00:00:00Z"),
                          ("2017-01-01t05:29:60+05:30", "2017-01-01T00:00:00Z"),
                          ("2025-01-31t12:00:00z", "2025-01-31T12:00:00Z")]:
        response = subscribe(client, new_customer(client), plan, start_at=start)
        assert response.status_code == 201, (start, response.text)
        assert response.json()["start_at"] == stored


def test_deeply_nested_json_is_400_not_a_crash(client):
    body = b"[" * 100000 + b"]" * 100000
    response = client.post("/customers", data=body[:60000], headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert Client(None).get("/health").status_code == 200


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_an_empty_or_overlong_idempotency_key_is_400_and_stores_nothing(client, key):
    email = f"{unique()}@example.com"
    response = client.post("/customers", {"email": email, "name": "Keyed"}, headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["detail"]
    assert sql(f"SELECT count(*) FROM customers WHERE email = '{email}'") == [["0"]]
