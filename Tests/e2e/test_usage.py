"""Usage-based billing (usage.md) through the real API: meters, events counted exactly once,
charges priced exactly, usage billed in arrears on drafts finalized after the grace window.
Time is a test clock's: no test waits for a real period to end."""

import json
from datetime import datetime, timedelta, timezone

import requests

from conftest import BASE_URL, Client, assert_number_series_gapless, fire, new_plan, sql, unique
from test_test_clocks import advance, clock_customer, invoices_of, new_clock

T0 = "2025-01-01T00:00:00Z"
FEB = "2025-02-01T00:00:00Z"


def new_meter(client, aggregation="sum", **fields):
    body = {"code": unique("m"), "name": f"{aggregation} meter", "aggregation": aggregation}
    if aggregation in ("sum", "max", "latest"):
        body["value_property"] = "amount"
    if aggregation == "unique_count":
        body["unique_property"] = "user_id"
    body.update(fields)
    response = client.post("/meters", body)
    assert response.status_code == 201, response.text
    return response.json()


def usage_plan(client, *charges, amount_cents=0, **fields):
    return new_plan(client, amount_cents=amount_cents, charges=list(charges), **fields)


def send(client, customer, meter, *values, prefix=None, **fields):
    """Posts one event per value (an amount, or None for no properties); returns the response."""
    prefix = prefix or unique("e")
    events = []
    for index, value in enumerate(values):
        event = {"id": f"{prefix}-{index}", "meter": meter["code"], "customer_id": customer["id"], **fields}
        if value is not None:
            event["properties"] = value if isinstance(value, dict) else {"amount": value}
        events.append(event)
    return client.post("/usage-events", {"events": events})


def usage_of(client, subscription):
    response = client.get(f"/subscriptions/{subscription['id']}/usage")
    assert response.status_code == 200, response.text
    return response.json()


def assert_totals_match_events():
    """The running totals equal a fresh aggregation of the raw events, window by window."""
    mismatched = sql("""
        WITH fresh AS (
            SELECT customer_id, subscription_id, window_start, meter_id, count(*) AS n,
                   coalesce(sum(value), 0) AS s, max(value) AS m
            FROM usage_events WHERE subscription_id IS NOT NULL GROUP BY 1, 2, 3, 4)
        SELECT count(*) FROM fresh f FULL JOIN usage_totals t USING (customer_id, subscription_id, window_start, meter_id)
        WHERE f.n IS DISTINCT FROM t.event_count OR f.s IS DISTINCT FROM t.value_sum
           OR f.m IS DISTINCT FROM t.value_max""")
    assert mismatched == [["0"]]


def test_meters_are_created_read_listed_and_changed_only_in_name_and_state(client):
    meters = [new_meter(client, aggregation) for aggregation in ("count", "sum", "max", "unique_count", "latest")]
    assert meters[1]["value_property"] == "amount" and meters[3]["unique_property"] == "user_id"
    assert meters[0]["value_property"] is None and meters[0]["is_active"] is True
    assert client.get(f"/meters/{meters[2]['id']}").json() == meters[2]
    listed = client.get("/meters?limit=100").json()["data"]
    assert all(meter in listed for meter in meters)
    taken = client.post("/meters", {"code": meters[0]["code"], "name": "x", "aggregation": "count"})
    assert taken.status_code == 409, taken.text
    for bad in (
        {"code": "Upper", "name": "x", "aggregation": "count"},
        {"code": unique("m"), "name": "x", "aggregation": "median"},
        {"code": unique("m"), "name": "x", "aggregation": "sum"},
        {"code": unique("m"), "name": "x", "aggregation": "count", "value_property": "v"},
        {"code": unique("m"), "name": "x", "aggregation": "unique_count"},
    ):
        assert client.post("/meters", bad).status_code == 422, bad
    renamed = client.patch(f"/meters/{meters[1]['id']}", {"name": "Tokens", "is_active": False})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Tokens" and not renamed.json()["is_active"]
    refused = client.patch(f"/meters/{meters[1]['id']}", {"aggregation": "max"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "aggregation"
    types = [event["type"] for event in client.get("/events?limit=100").json()["data"]]
    assert "meter.created" in types and "meter.updated" in types


def test_plan_charges_are_checked_shown_and_immutable(client):
    meter = new_meter(client)
    tiers = [{"up_to": 100, "unit_amount": "0"}, {"up_to": 1000, "unit_amount": "2"},
             {"up_to": None, "unit_amount": "1", "flat_amount_cents": 50}]
    plan = usage_plan(
        client, {"meter_id": meter["id"], "model": "graduated", "tiers": tiers}, amount_cents=1000)
    [charge] = plan["charges"]
    assert charge["model"] == "graduated" and charge["tiers"][2] == {
        "up_to": None, "unit_amount": "1", "flat_amount_cents": 50}
    assert client.get(f"/plans/{plan['id']}").json()["charges"] == plan["charges"]
    unknown = new_plan(client, charges=[]) and client.post("/plans", {
        "code": unique("p"), "name": "x", "amount_cents": 0, "currency": "EUR", "interval": "month",
        "charges": [{"meter_id": "00000000-0000-4000-8000-000000000000", "model": "per_unit", "unit_amount": "1"}]})
    assert unknown.status_code == 404, unknown.text
    for charge, field in (
        ({"meter_id": meter["id"], "model": "per_unit", "unit_amount": 0.5}, "charges[0].unit_amount"),
        ({"meter_id": meter["id"], "model": "per_unit", "unit_amount": "0.0000000000001"}, "charges[0].unit_amount"),
        ({"meter_id": meter["id"], "model": "package", "package_size": 0, "package_amount_cents": 5},
         "charges[0].package_size"),
        ({"meter_id": meter["id"], "model": "volume", "tiers": [{"up_to": 10, "unit_amount": "1"}]},
         "charges[0].tiers[0].up_to"),
        ({"meter_id": meter["id"], "model": "graduated",
          "tiers": [{"up_to": 10, "unit_amount": "1"}, {"up_to": 5, "unit_amount": "1"},
                    {"up_to": None, "unit_amount": "1"}]}, "charges[0].tiers[1].up_to"),
        ({"meter_id": meter["id"], "model": "flat"}, "charges[0].model"),
    ):
        response = client.post("/plans", {
            "code": unique("p"), "name": "x", "amount_cents": 0, "currency": "EUR", "interval": "month",
            "charges": [charge]})
        assert response.status_code == 422, response.text
        assert field in [error["field"] for error in response.json()["errors"]], response.text
    patched = client.patch(f"/plans/{plan['id']}", {"charges": []})
    assert patched.status_code == 422


def test_a_retried_event_counts_once_and_the_answer_says_so(client):
    meter = new_meter(client, "count")
    clock = new_clock(client)
    customer = clock_customer(client, clock)
    subscription = client.post("/subscriptions", {
        "customer_id": customer["id"],
        "plan_id": usage_plan(client, {"meter_id": meter["id"], "model": "per_unit", "unit_amount": "1"})["id"]}).json()
    events = [{"id": f"evt-{i}", "meter": meter["code"], "customer_id": customer["id"]} for i in range(5)]
    first = client.post("/usage-events", {"events": events + [events[0]]})
    assert first.status_code == 200 and first.json() == {"accepted": 5, "duplicates": 1}, first.text
    again = client.post("/usage-events", {"events": events})
    assert again.json() == {"accepted": 0, "duplicates": 5}
    assert usage_of(client, subscription)["charges"][0]["quantity"] == "5"
    listed = client.get(f"/usage-events?customer_id={customer['id']}&limit=3").json()
    assert [event["id"] for event in listed["data"]] == ["evt-4", "evt-3", "evt-2"] and listed["has_more"]
    rest = client.get(f"/usage-events?customer_id={customer['id']}&starting_after={listed['next_cursor']}").json()
    assert [event["id"] for event in rest["data"]] == ["evt-1", "evt-0"] and not rest["has_more"]
    assert rest["data"][0]["timestamp"] == T0 and rest["data"][0]["meter"] == meter["code"]
    assert client.get("/usage-events").status_code == 422


def test_twenty_concurrent_batches_of_the_same_thousand_ids_store_each_once(client):
    meter = new_meter(client, "sum")
    clock = new_clock(client)
    customer = clock_customer(client, clock)
    plan = usage_plan(client, {"meter_id": meter["id"], "model": "per_unit", "unit_amount": "1"})
    subscription = client.post("/subscriptions", {"customer_id": customer["id"], "plan_id": plan["id"]}).json()
    body = {"events": [{"id": f"same-{i}", "meter": meter["code"], "customer_id": customer["id"],
                        "properties": {"amount": "1.5"}} for i in range(1000)]}
    results = fire(20, lambda _: Client(client.key).post("/usage-events", body))
    assert all(r.status_code == 200 for r in results), [r.text for r in results if r.status_code != 200]
    assert sum(r.json()["accepted"] for r in results) == 1000
    assert sum(r.json()["duplicates"] for r in results) == 19 * 1000
    assert sql(f"SELECT count(*) FROM usage_events WHERE customer_id = '{customer['id']}'") == [["1000"]]
    assert usage_of(client, subscription)["charges"][0]["quantity"] == "1500"
    assert_totals_match_events()


def test_a_bad_batch_is_refused_whole_naming_each_bad_event(client):
    meter = new_meter(client, "sum")
    unique_meter = new_meter(client, "unique_count")
    clock = new_clock(client)
    customer = clock_customer(client, clock)
    good = {"meter": meter["code"], "customer_id": customer["id"], "properties": {"amount": 1}}
    cases = [
        ({"properties": {"amount": "1.0000000000001"}}, "events[1].properties.amount"),
        ({"properties": {"amount": "NaN"}}, "events[1].properties.amount"),
        ({"properties": {"amount": "1e999"}}, "events[1].properties.amount"),
        ({"properties": {"amount": 1000000000000000}}, "events[1].properties.amount"),
        ({"properties": {}}, "events[1].properties.amount"),
        ({"properties": {"amount": {"nested": 1}}}, "events[1].properties.amount"),
        ({"meter": "no-such-meter"}, "events[1].meter"),
        ({"meter": unique_meter["code"], "properties": {"amount": 1}}, "events[1].properties.user_id"),
        ({"customer_id": "00000000-0000-4000-8000-000000000000"}, "events[1].customer_id"),
        ({"timestamp": "2025-01-01T00:06:00Z"}, "events[1].timestamp"),
        ({"timestamp": "2024-11-01T00:00:00Z"}, "events[1].timestamp"),
        ({"id": ""}, "events[1].id"),
        ({"surprise": 1}, "events[1].surprise"),
    ]
    for change, field in cases:
        bad = {"id": unique("bad"), **good, **change}
        response = client.post("/usage-events", {"events": [{"id": unique("ok"), **good}, bad]})
        assert response.status_code == 422, (change, response.text)
        assert field in [error["field"] for error in response.json()["errors"]], (change, response.text)
    assert sql(f"SELECT count(*) FROM usage_events WHERE customer_id = '{customer['id']}'") == [["0"]]
    # A number with an exponent is a number: 1.5e3 is 1500, exactly.
    assert send(client, customer, meter, 1.5e3, {"amount": "-2.25"}).json()["accepted"] == 2
    # A window whose usage would price past a line's limit could never be invoiced: the
    # batch that would take it there is refused, and nothing of it is stored.
    dear = usage_plan(client, {"meter_id": meter["id"], "model": "per_unit", "unit_amount": "1000000000000"})
    rich = clock_customer(client, clock)
    assert client.post("/subscriptions", {"customer_id": rich["id"], "plan_id": dear["id"]}).status_code == 201
    assert send(client, rich, meter, 1).json()["accepted"] == 1
    over = send(client, rich, meter, "0.5", 1)
    assert over.status_code == 422 and over.json()["errors"][0]["field"] == "events[0].meter", over.text
    assert sql(f"SELECT count(*) FROM usage_events WHERE customer_id = '{rich['id']}'") == [["1"]]
    too_many = client.post("/usage-events", {"events": [{"id": f"n{i}", **good} for i in range(1001)]})
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"] == "events"
    assert client.post("/usage-events", {"events": []}).status_code == 422


def test_only_the_usage_events_path_takes_a_megabyte(client):
    meter = new_meter(client, "count")
    clock = new_clock(client)
    customer = clock_customer(client, clock)
    padding = "x" * 200
    events = [{"id": f"big-{i}", "meter": meter["code"], "customer_id": customer["id"],
               "properties": {"note": padding}} for i in range(1000)]
    body = json.dumps({"events": events})
    assert 64 * 1024 < len(body) < 1024 * 1024
    headers = {"Authorization": f"Bearer {client.key}", "Content-Type": "application/json"}
    accepted = requests.post(BASE_URL + "/usage-events", data=body, headers=headers, timeout=30)
    assert accepted.status_code == 200 and accepted.json()["accepted"] == 1000, accepted.text
    too_big = requests.post(BASE_URL + "/usage-events", data=" " * (1024 * 1024 + 1), headers=headers, timeout=30)
    assert too_big.status_code == 413 and too_big.headers["Content-Type"].startswith("application/problem+json")
    elsewhere = requests.post(BASE_URL + "/customers", data=" " * (65 * 1024), headers=headers, timeout=30)
    assert elsewhere.status_code == 413


def test_the_worked_examples_of_the_contract(client):
    """usage.md's examples, priced by the code the billing run uses (current usage)."""
    clock = new_clock(client)
    sums = new_meter(client, "sum")
    users = new_meter(client, "unique_count")
    tiers = [{"up_to": 100, "unit_amount": "0", "flat_amount_cents": 0}, {"up_to": 1000, "unit_amount": "2"},
             {"up_to": None, "unit_amount": "1"}]

    def priced(charge, *values, meter=sums):
        customer = clock_customer(client, clock)
        plan = usage_plan(client, {"meter_id": meter["id"], **charge})
        subscription = client.post("/subscriptions", {"customer_id": customer["id"], "plan_id": plan["id"]}).json()
        if values:
            assert send(client, customer, meter, *values).status_code == 200
        [line] = usage_of(client, subscription)["charges"]
        return line["quantity"], line["amount_cents"]

    assert priced({"model": "per_unit", "unit_amount": "0.0004"}, 1234567) == ("1234567", 494)
    assert priced({"model": "graduated", "tiers": tiers}, 1500) == ("1500", 2300)
    assert priced({"model": "volume", "tiers": tiers}, 1500) == ("1500", 1500)
    assert priced({"model": "volume", "tiers": tiers}, 1000) == ("1000", 2000)
    assert priced({"model": "package", "package_size": 1000, "package_amount_cents": 500}, 2001) == ("2001", 1500)
    assert priced({"model": "per_unit", "unit_amount": "1"}, {"user_id": "a"}, {"user_id": "b"}, {"user_id": "a"},
                  meter=users) == ("2", 2)
    # Quantities stay exact: 0.1 + 0.2 is 0.3, and a third of a cent per unit rounds once.
    assert priced({"model": "per_unit", "unit_amount": "0.333333333333"}, "0.1", "0.2") == ("0.3", 0)
    assert priced({"model": "per_unit", "unit_amount": "1"}) == ("0", 0)
    latest = new_meter(client, "latest")
    maximum = new_meter(client, "max")
    customer = clock_customer(client, clock)
    plan = usage_plan(client, {"meter_id": latest["id"], "model": "per_unit", "unit_amount": "1"},
                      {"meter_id": maximum["id"], "model": "per_unit", "unit_amount": "1"})
    subscription = client.post("/subscriptions", {"customer_id": customer["id"], "plan_id": plan["id"]}).json()
    send(client, customer, latest, 7, timestamp="2025-01-01T00:00:00Z")
    send(client, customer, latest, 3, timestamp="2024-12-31T23:00:00Z")  # earlier: not the latest
    send(client, customer, maximum, 5, 9, 2)
    charges = {c["meter_id"]: c["quantity"] for c in usage_of(client, subscription)["charges"]}
    assert charges == {latest["id"]: "7", maximum["id"]: "9"}


def subscribed(client, clock, *charges, **plan_fields):
    customer = clock_customer(client, clock)
    plan = usage_plan(client, *charges, **plan_fields)
    subscription = client.post("/subscriptions", {"customer_id": customer["id"], "plan_id": plan["id"]})
    assert subscription.status_code == 201, subscription.text
    pay_open_invoices(client, subscription.json())
    return customer, subscription.json()


def pay_open_invoices(client, subscription):
    """Paid, so that dunning leaves the subscription alone while its clock moves on."""
    for invoice in invoices_of(client, subscription):
        if invoice["status"] == "open":
            assert client.post(f"/invoices/{invoice['id']}/pay", {}).status_code == 200


def test_usage_is_billed_in_arrears_on_the_next_cycle_invoice_after_the_grace(client):
    clock = new_clock(client)
    meter = new_meter(client, "sum")
    customer, subscription = subscribed(
        client, clock, {"meter_id": meter["id"], "model": "per_unit", "unit_amount": "0.5"}, amount_cents=1000)
    assert advance(client, clock, "2025-01-15T00:00:00Z").status_code == 200
    assert send(client, customer, meter, 10, "0.5", timestamp="2025-01-15T00:00:00Z").json()["accepted"] == 2
    assert advance(client, clock, "2025-01-31T23:59:00Z").status_code == 200
    before_end = usage_of(client, subscription)
    assert before_end["period_start"] == T0 and before_end["period_end"] == FEB
    assert before_end["charges"][0]["quantity"] == "10.5" and before_end["amount_cents"] == 5

    assert advance(client, clock, "2025-02-01T00:30:00Z").status_code == 200
    february = invoices_of(client, subscription)[1]
    assert february["status"] == "draft" and february["number"] is None
    assert february["finalizes_at"] == "2025-02-01T01:00:00Z"
    # Within the grace a late event of January still counts; one of February counts for February.
    late = send(client, customer, meter, 1, timestamp="2025-01-31T23:59:59Z")
    assert late.status_code == 200 and late.json()["accepted"] == 1
    assert send(client, customer, meter, 100, timestamp="2025-02-01T00:10:00Z").status_code == 200
    assert usage_of(client, subscription)["charges"][0]["quantity"] == "100"

    assert advance(client, clock, "2025-02-01T01:00:00Z").status_code == 200
    february = client.get(f"/invoices/{february['id']}").json()
    assert february["status"] == "open" and february["number"]
    usage = [line for line in february["lines"] if line["kind"] == "usage"]
    assert len(usage) == 1 and usage[0]["quantity"] == "11.5" and usage[0]["amount_cents"] == 6
    assert usage[0]["meter_id"] == meter["id"] and usage[0]["period_start"] == T0 and usage[0]["period_end"] == FEB
    assert february["total_cents"] == 1006 and february["due_at"] == "2025-02-08T00:00:00Z"
    # After the grace a late event is refused by name; the finalized total never changes.
    refused = send(client, customer, meter, 1, timestamp="2025-01-31T23:59:59Z")
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "events[0].timestamp"
    assert client.get(f"/invoices/{february['id']}").json()["total_cents"] == 1006
    assert_totals_match_events()
    assert_number_series_gapless()


def test_the_usage_the_period_ends_with_is_the_usage_billed(client):
    """Current usage just before the end and the run's lines come from the same code."""
    clock = new_clock(client)
    meters = [new_meter(client, "sum"), new_meter(client, "count"), new_meter(client, "unique_count")]
    tiers = [{"up_to": 10, "unit_amount": "3", "flat_amount_cents": 7}, {"up_to": None, "unit_amount": "0.25"}]
    customer, subscription = subscribed(
        client, clock, {"meter_id": meters[0]["id"], "model": "graduated", "tiers": tiers},
        {"meter_id": meters[1]["id"], "model": "volume", "tiers": tiers},
        {"meter_id": meters[2]["id"], "model": "package", "package_size": 2, "package_amount_cents": 99})
    send(client, customer, meters[0], *[str(n / 4) for n in range(40)])
    send(client, customer, meters[1], *([None] * 13))
    send(client, customer, meters[2], *[{"user_id": f"u{n % 5}"} for n in range(12)])
    assert advance(client, clock, "2025-01-31T23:59:59Z").status_code == 200
    expected = usage_of(client, subscription)
    # The upcoming invoice shows the same usage so far, beside the next period's price.
    preview = client.get(f"/subscriptions/{subscription['id']}/upcoming-invoice").json()
    assert [(l["meter_id"], l["quantity"], l["amount_cents"]) for l in preview["lines"] if l["kind"] == "usage"] == [
        (c["meter_id"], c["quantity"], c["amount_cents"]) for c in expected["charges"]]
    assert advance(client, clock, "2025-02-01T02:00:00Z").status_code == 200
    february = invoices_of(client, subscription)[1]
    billed = [{"meter_id": l["meter_id"], "quantity": l["quantity"], "amount_cents": l["amount_cents"]}
              for l in february["lines"] if l["kind"] == "usage"]
    assert billed == [{k: c[k] for k in ("meter_id", "quantity", "amount_cents")} for c in expected["charges"]]
    assert february["subtotal_cents"] == expected["amount_cents"]


def test_ending_or_changing_plan_bills_the_usage_so_far_on_a_usage_draft(client):
    clock = new_clock(client)
    meter = new_meter(client, "count")
    customer, subscription = subscribed(
        client, clock, {"meter_id": meter["id"], "model": "per_unit", "unit_amount": "10"}, amount_cents=500)
    send(client, customer, meter, None, None, None)
    assert advance(client, clock, "2025-01-10T00:00:00Z").status_code == 200
    other = usage_plan(client, {"meter_id": meter["id"], "model": "per_unit", "unit_amount": "1"}, amount_cents=500)
    changed = client.post(f"/subscriptions/{subscription['id']}/change-plan", {"plan_id": other["id"]})
    assert changed.status_code == 200, changed.text
    drafts = [i for i in invoices_of(client, subscription) if i["status"] == "draft"]
    assert len(drafts) == 1 and drafts[0]["billing_reason"] == "subscription_update"
    assert drafts[0]["finalizes_at"] == "2025-01-10T01:00:00Z"
    assert usage_of(client, subscription)["period_start"] == "2025-01-10T00:00:00Z"
    send(client, customer, meter, None, None)  # counted afresh, on the new plan
    assert usage_of(client, subscription)["charges"][0]["amount_cents"] == 2

    assert advance(client, clock, "2025-01-20T00:00:00Z").status_code == 200
    change_usage = client.get(f"/invoices/{drafts[0]['id']}").json()
    assert change_usage["status"] == "open"
    assert [(l["quantity"], l["amount_cents"]) for l in change_usage["lines"]] == [("3", 30)]
    assert client.delete(f"/invoices/{drafts[0]['id']}").status_code == 409

    canceled = client.post(f"/subscriptions/{subscription['id']}/cancel", {})
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled", canceled.text
    [final] = [i for i in invoices_of(client, subscription) if i["status"] == "draft"]
    assert final["period_start"] == "2025-01-10T00:00:00Z" and final["period_end"] == "2025-01-20T00:00:00Z"
    assert client.delete(f"/invoices/{final['id']}").status_code == 409
    # Finalized by hand before its grace ends, it takes the usage counted so far.
    finalized = client.post(f"/invoices/{final['id']}/finalize", {})
    assert finalized.status_code == 200, finalized.text
    assert [(l["quantity"], l["amount_cents"]) for l in finalized.json()["lines"]] == [("2", 2)]
    assert send(client, customer, meter, None, timestamp="2025-01-19T00:00:00Z").status_code == 200  # not billed
    assert_number_series_gapless()


def test_usage_lines_are_discounted_and_taxed_with_the_rest(client):
    clock = new_clock(client)
    meter = new_meter(client, "sum")
    rate = client.post("/tax-rates", {"display_name": "VAT", "percentage": "20", "inclusive": False}).json()
    coupon = client.post("/coupons", {"code": unique("HALF"), "name": "Half", "percent_off": "50",
                                      "duration": "forever"}).json()
    customer = clock_customer(client, clock)
    assert client.patch(f"/customers/{customer['id']}", {"tax_rate_ids": [rate["id"]]}).status_code == 200
    plan = usage_plan(client, {"meter_id": meter["id"], "model": "per_unit", "unit_amount": "1"}, amount_cents=1000)
    subscription = client.post("/subscriptions", {"customer_id": customer["id"], "plan_id": plan["id"],
                                                  "coupon": coupon["code"]})
    assert subscription.status_code == 201, subscription.text
    pay_open_invoices(client, subscription.json())
    assert send(client, customer, meter, 200).json() == {"accepted": 1, "duplicates": 0}
    # One advance well past the grace finalizes the draft when the grace ends, as real time would.
    assert advance(client, clock, "2025-02-10T00:00:00Z").status_code == 200
    february = invoices_of(client, subscription.json())[1]
    assert february["finalized_at"] == "2025-02-01T01:00:00Z" and february["due_at"] == "2025-02-08T00:00:00Z"
    # (1000 + 200) − 50% = 600, + 20% = 720.
    assert (february["subtotal_cents"], february["discount_cents"], february["tax_cents"], february["total_cents"]) \
        == (1200, 600, 120, 720), february


def test_events_racing_the_period_boundary_count_in_exactly_one_period(client):
    clock = new_clock(client, frozen_time="2025-01-31T23:58:00Z")
    meter = new_meter(client, "count")
    customers = []
    for _ in range(5):
        customers.append(subscribed(
            client, clock, {"meter_id": meter["id"], "model": "per_unit", "unit_amount": "1"})[0])

    def work(i):
        if i == 0:
            return advance(Client(client.key), clock, "2025-02-01T00:30:00Z")
        customer = customers[i % len(customers)]
        stamp = "2025-01-31T23:59:00Z" if i % 2 else None  # January's, or the clock's now
        return send(Client(client.key), customer, meter, *([None] * 50), prefix=f"race-{i}",
                    **({"timestamp": stamp} if stamp else {}))

    results = fire(21, work)
    assert all(r.status_code == 200 for r in results), [r.text for r in results if r.status_code != 200]
    accepted = sum(r.json()["accepted"] for r in results[1:])
    assert accepted == 20 * 50
    assert advance(client, clock, "2025-03-01T02:00:00Z").status_code == 200
    ids = ", ".join(f"'{c['id']}'" for c in customers)
    billed = sql(f"""SELECT coalesce(sum(usage_quantity), 0) FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id
                     WHERE l.kind = 'usage' AND i.customer_id IN ({ids})""")
    assert billed == [[str(accepted)]]
    assert_totals_match_events()


def test_eight_concurrent_runs_bill_each_usage_window_once(client):
    """Twelve subscriptions back-dated a month and two days, their first invoices paid: the
    renewal's drafts are past their grace at once, and 8 billing runs race to renew, price
    and finalize them. Each period has one cycle invoice, finalized, with one usage line."""
    meter = new_meter(client, "count")
    plan = usage_plan(client, {"meter_id": meter["id"], "model": "per_unit", "unit_amount": "1"}, amount_cents=100)
    start = (datetime.now(timezone.utc) - timedelta(days=33)).strftime("%Y-%m-%dT%H:%M:%SZ")
    subscriptions = []
    for _ in range(12):
        customer = client.post("/customers", {"email": f"{unique('r')}@example.com", "name": "Raced"}).json()
        subscription = client.post("/subscriptions", {"customer_id": customer["id"], "plan_id": plan["id"],
                                                      "start_at": start})
        assert subscription.status_code == 201, subscription.text
        pay_open_invoices(client, subscription.json())
        subscriptions.append(subscription.json()["id"])
    results = fire(8, lambda _: Client(client.key).post("/billing/run", {}))
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    ids = ", ".join(f"'{s}'" for s in subscriptions)
    billed = sql(f"""SELECT i.status, count(l.id) FROM invoices i LEFT JOIN invoice_lines l
                     ON l.invoice_id = i.id AND l.kind = 'usage'
                     WHERE i.subscription_id IN ({ids}) AND i.billing_reason = 'subscription_cycle'
                     GROUP BY i.id, i.status""")
    assert billed == [["open", "1"]] * 12
    assert sql(f"SELECT count(*) FROM usage_windows WHERE subscription_id IN ({ids}) AND billed_at IS NULL") == [["0"]]
    assert_number_series_gapless()
