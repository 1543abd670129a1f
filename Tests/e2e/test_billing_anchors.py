"""Billing cycle anchors and calendar plans (time.md) through the real API, on test clocks
so that every instant is exact: the first invoice prorated over the whole period that ends
at the anchor, `none` billing nothing until it, and calendar plans anchored on the 1st in
the customer's time zone."""

from datetime import datetime, timezone

from conftest import new_plan, subscribe
from test_test_clocks import advance, clock_customer, invoices_of, new_clock


def seconds(text):
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp())


def share(amount, remaining, length):
    """amount × remaining / length, half away from zero, in integers (API.md)."""
    quotient, remainder = divmod(amount * remaining, length)
    return quotient + (1 if remainder * 2 >= length else 0)


def test_the_first_invoice_is_prorated_to_the_anchor_then_periods_follow_it(client):
    clock = new_clock(client, "2025-01-15T10:00:00Z")
    customer = clock_customer(client, clock)
    plan = new_plan(client, amount_cents=3000)
    created = subscribe(client, customer, plan, billing_cycle_anchor="2025-02-01T00:00:00Z")
    assert created.status_code == 201, created.text
    subscription = created.json()
    assert subscription["billing_cycle_anchor"] == "2025-02-01T00:00:00Z"
    assert subscription["current_period_end"] == "2025-02-01T00:00:00Z"
    [first] = invoices_of(client, subscription)
    [line] = first["lines"]
    # The whole period that ends at the anchor is January: 31 days.
    expected = share(3000, seconds("2025-02-01T00:00:00Z") - seconds("2025-01-15T10:00:00Z"), 31 * 86_400)
    assert line["kind"] == "proration" and line["amount_cents"] == expected == 1605
    assert (line["period_start"], line["period_end"]) == ("2025-01-15T10:00:00Z", "2025-02-01T00:00:00Z")
    assert client.post(f"/invoices/{first['id']}/pay", {}).status_code == 200

    assert advance(client, clock, "2025-02-01T00:00:00Z").status_code == 200
    second = invoices_of(client, subscription)[1]
    assert (second["period_start"], second["period_end"]) == ("2025-02-01T00:00:00Z", "2025-03-01T00:00:00Z")
    assert second["lines"][0]["kind"] == "subscription" and second["amount_due_cents"] == 3000


def test_proration_behavior_none_bills_nothing_until_the_anchor(client):
    clock = new_clock(client, "2025-01-15T10:00:00Z")
    customer = clock_customer(client, clock)
    created = subscribe(client, customer, new_plan(client, amount_cents=3000),
                        billing_cycle_anchor="2025-02-01T00:00:00Z", proration_behavior="none")
    assert created.status_code == 201, created.text
    [first] = invoices_of(client, created.json())
    assert first["status"] == "paid" and first["total_cents"] == 0
    assert [(line["kind"], line["amount_cents"]) for line in first["lines"]] == [("proration", 0)]


def test_a_calendar_plan_bills_from_the_first_of_the_month_in_the_customers_zone(client):
    clock = new_clock(client, "2025-03-15T12:00:00Z")
    customer = clock_customer(client, clock, timezone="Europe/Paris")
    plan = new_plan(client, amount_cents=3100, billing_cycle="calendar")
    assert plan["billing_cycle"] == "calendar"
    subscription = subscribe(client, customer, plan).json()
    # April 1 00:00 in Paris is summer time: 2025-03-31T22:00:00Z.
    assert subscription["billing_cycle_anchor"] == "2025-03-31T22:00:00Z"
    [first] = invoices_of(client, subscription)
    # The period that ends at the anchor is March in Paris: from 2025-02-28T23:00:00Z, 31 days less the DST hour.
    length = seconds("2025-03-31T22:00:00Z") - seconds("2025-02-28T23:00:00Z")
    expected = share(3100, seconds("2025-03-31T22:00:00Z") - seconds("2025-03-15T12:00:00Z"), length)
    assert first["lines"][0]["amount_cents"] == expected
    assert client.post(f"/invoices/{first['id']}/pay", {}).status_code == 200
    assert advance(client, clock, "2025-04-01T00:00:00Z").status_code == 200
    april = invoices_of(client, subscription)[1]
    assert (april["period_start"], april["period_end"]) == ("2025-03-31T22:00:00Z", "2025-04-30T22:00:00Z")


def test_bad_anchors_are_refused(client):
    clock = new_clock(client, "2025-01-15T10:00:00Z")
    plan = new_plan(client)
    for fields in [
        {"billing_cycle_anchor": "2025-01-15T10:00:00Z"},  # not in the future
        {"billing_cycle_anchor": "2025-01-01T00:00:00Z"},  # in the past
        {"billing_cycle_anchor": "2025-02-15T10:00:01Z"},  # more than one interval ahead
        {"billing_cycle_anchor": "2025-02-01T00:00:00Z", "trial_days": 7},
        {"billing_cycle_anchor": "soon"},
        {"billing_cycle_anchor": "2025-02-01T00:00:00Z", "proration_behavior": "always"},
    ]:
        response = subscribe(client, clock_customer(client, clock), plan, **fields)
        assert response.status_code == 422, (fields, response.text)
    assert subscribe(client, clock_customer(client, clock), plan,
                     billing_cycle_anchor="2025-02-15T10:00:00Z").status_code == 201  # exactly one interval
    refused = client.post("/plans", {"code": "bad-cycle", "name": "X", "amount_cents": 1, "currency": "EUR",
                                     "interval": "month", "billing_cycle": "fiscal"})
    assert refused.status_code == 422, refused.text
