"""invoicing.md §5 and §7 through nginx and the pool: coupons, the invoices each duration
discounts, a redemption limit that holds under 50 concurrent redemptions, and the worked
examples of the totals."""

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from conftest import Client, new_customer, new_plan, sql, subscribe, unique


def coupon(client, **fields):
    body = {"code": unique("C"), "name": "Promo", "duration": "forever", "percent_off": "10"}
    body.update(fields)
    body = {key: value for key, value in body.items() if value is not None}
    response = client.post("/coupons", body)
    assert response.status_code == 201, response.text
    return response.json()


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def invoices_of(client, subscription):
    """Oldest first."""
    return list(reversed(client.get(f"/invoices?subscription_id={subscription['id']}&limit=100").json()["data"]))


def test_the_worked_example_discount_then_tax_one_rounding_each(client):
    vat = client.post("/tax-rates", {"display_name": "VAT", "percentage": "19", "inclusive": False}).json()
    customer = new_customer(client)
    client.patch(f"/customers/{customer['id']}", {"tax_rate_ids": [vat["id"]]})
    spring = coupon(client, percent_off="12.5")
    subscription = subscribe(client, customer, new_plan(client, amount_cents=10000), coupon=spring["code"])
    assert subscription.status_code == 201, subscription.text
    subscription = subscription.json()
    assert subscription["discount"]["coupon_code"] == spring["code"]
    assert subscription["discount"]["start"] == subscription["start_at"] and subscription["discount"]["end"] is None
    invoice = invoices_of(client, subscription)[0]
    assert (invoice["subtotal_cents"], invoice["discount_cents"], invoice["tax_cents"], invoice["total_cents"]) == (
        10000, 1250, 1663, 10413)
    assert invoice["discounts"] == [{"coupon_id": spring["id"], "coupon_code": spring["code"], "amount_cents": 1250}]
    assert invoice["taxes"][0]["taxable_amount_cents"] == 8750
    assert client.get(f"/coupons/{spring['id']}").json()["times_redeemed"] == 1
    assert client.get(f"/subscriptions/{subscription['id']}").json()["discount"]["periods_applied"] == 1


def test_an_amount_off_above_the_invoice_leaves_it_paid_at_zero(client):
    big = coupon(client, percent_off=None, amount_off_cents=5000, currency="EUR", duration="once")
    subscription = subscribe(client, new_customer(client), new_plan(client, amount_cents=3000), coupon=big["code"])
    invoice = invoices_of(client, subscription.json())[0]
    assert (invoice["discount_cents"], invoice["total_cents"], invoice["status"]) == (3000, 0, "paid")


def test_once_repeating_and_forever_discount_exactly_the_invoices_they_name(client):
    start = iso(datetime.now(timezone.utc) - timedelta(days=130))
    plan = new_plan(client, amount_cents=1000)
    discounts = {}
    for duration, extra in (("once", {}), ("repeating", {"duration_in_periods": 2}), ("forever", {})):
        promo = coupon(client, duration=duration, percent_off="50", **extra)
        subscription = subscribe(client, new_customer(client), plan, start_at=start, coupon=promo["code"]).json()
        discounts[duration] = subscription
    assert client.post("/billing/run").status_code == 200
    expected = {"once": [500, 0, 0, 0, 0], "repeating": [500, 500, 0, 0, 0], "forever": [500] * 5}
    for duration, subscription in discounts.items():
        amounts = [i["discount_cents"] for i in invoices_of(client, subscription)]
        assert amounts == expected[duration], (duration, amounts)
        applied = client.get(f"/subscriptions/{subscription['id']}").json()["discount"]["periods_applied"]
        assert applied == sum(1 for a in amounts if a), duration
    repeating = client.get(f"/subscriptions/{discounts['repeating']['id']}").json()["discount"]
    assert repeating["end"] == invoices_of(client, discounts["repeating"])[2]["period_start"]


def test_a_plan_change_invoice_is_discounted_by_a_forever_coupon(client):
    customer = new_customer(client)
    promo = coupon(client, percent_off="50")
    start = iso(datetime.now(timezone.utc) - timedelta(days=10))
    subscription = subscribe(client, customer, new_plan(client, amount_cents=1000), start_at=start,
                             coupon=promo["code"]).json()
    changed = client.post(f"/subscriptions/{subscription['id']}/change-plan",
                          {"plan_id": new_plan(client, amount_cents=3000)["id"]}).json()
    invoice = changed["invoice"]
    base = sum(l["amount_cents"] for l in invoice["lines"])
    assert invoice["discount_cents"] == (base + 1) // 2 and invoice["discounts"][0]["coupon_id"] == promo["id"]


def test_max_redemptions_holds_under_50_concurrent_redemptions(api_key):
    setup = Client(api_key)
    limited = coupon(setup, max_redemptions=10)
    plan = new_plan(setup)
    subscriptions = [subscribe(setup, new_customer(setup), plan).json() for _ in range(50)]
    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(lambda s: Client(api_key).post(
            f"/subscriptions/{s['id']}/discount", {"coupon": limited["code"]}), subscriptions))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 10 + [409] * 40, statuses
    assert setup.get(f"/coupons/{limited['id']}").json()["times_redeemed"] == 10
    assert sql(f"SELECT count(*) FROM subscriptions WHERE discount_coupon_id = '{limited['id']}'") == [["10"]]


def test_refused_redemptions_count_nothing_and_removing_releases_nothing(client):
    plan = new_plan(client)
    subscription = subscribe(client, new_customer(client), plan).json()
    url = f"/subscriptions/{subscription['id']}/discount"
    assert client.post(url, {"coupon": "no-such-code"}).status_code == 404
    inactive = coupon(client)
    client.patch(f"/coupons/{inactive['id']}", {"is_active": False})
    assert client.post(url, {"coupon": inactive["code"]}).status_code == 409
    expired = coupon(client, redeem_by=iso(datetime.now(timezone.utc) + timedelta(hours=1)))
    sql(f"UPDATE coupons SET redeem_by = now() - interval '1 minute' WHERE id = '{expired['id']}'")
    assert client.post(url, {"coupon": expired["code"]}).status_code == 409
    dollars = coupon(client, percent_off=None, amount_off_cents=100, currency="USD")
    wrong = client.post(url, {"coupon": dollars["code"]})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "coupon"
    assert subscribe(client, new_customer(client), plan, coupon="no-such-code").status_code == 404
    for refused in (inactive, expired, dollars):
        assert client.get(f"/coupons/{refused['id']}").json()["times_redeemed"] == 0
    given = coupon(client)
    applied = client.post(url, {"coupon": given["code"]})
    assert applied.status_code == 200 and applied.json()["discount"]["periods_applied"] == 0
    removed = client.delete(url)
    assert removed.status_code == 200 and removed.json()["discount"] is None
    assert client.get(f"/coupons/{given['id']}").json()["times_redeemed"] == 1
    assert client.delete(url).status_code == 200


@pytest.mark.parametrize("body, field", [
    ({"percent_off": 12.5}, "percent_off"),
    ({"percent_off": "12.345"}, "percent_off"),
    ({"percent_off": "0"}, "percent_off"),
    ({"percent_off": "100.01"}, "percent_off"),
    ({"percent_off": "10", "amount_off_cents": 100, "currency": "EUR"}, "percent_off"),
    ({"percent_off": None}, "percent_off"),
    ({"amount_off_cents": 100}, "currency"),
    ({"amount_off_cents": 0, "currency": "EUR"}, "amount_off_cents"),
    ({"percent_off": "10", "currency": "EUR"}, "currency"),
    ({"percent_off": "10", "duration": "repeating"}, "duration_in_periods"),
    ({"percent_off": "10", "duration": "once", "duration_in_periods": 2}, "duration_in_periods"),
    ({"percent_off": "10", "duration": "repeating", "duration_in_periods": 121}, "duration_in_periods"),
    ({"percent_off": "10", "duration": "sometimes"}, "duration"),
    ({"percent_off": "10", "redeem_by": "2020-01-01T00:00:00Z"}, "redeem_by"),
    ({"percent_off": "10", "max_redemptions": 0}, "max_redemptions"),
    ({"percent_off": "10", "colour": "red"}, "colour"),
])
def test_bad_coupons_are_422_with_the_field_named(client, body, field):
    full = {"code": unique("C"), "name": "Bad", "duration": "forever"}
    full.update(body)
    response = client.post("/coupons", full)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]], response.text


def test_a_code_is_unique_and_only_name_and_activity_change(client):
    promo = coupon(client)
    assert client.post("/coupons", {"code": promo["code"], "name": "Again", "duration": "forever",
                                    "percent_off": "5"}).status_code == 409
    assert client.patch(f"/coupons/{promo['id']}", {"percent_off": "20"}).status_code == 422
    renamed = client.patch(f"/coupons/{promo['id']}", {"name": "Renamed"}).json()
    assert renamed["name"] == "Renamed" and renamed["percent_off"] == "10"
