"""Customer time zones (time.md) through the real API: calendars kept on the customer's wall
clock, checked against Python's zoneinfo (the system's tz database), each period invoiced
once whatever hour the run comes, and the zone locked while a subscription lives."""

from calendar import monthrange
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from conftest import Client, new_customer, new_plan, sql, subscribe

FMT = "%Y-%m-%dT%H:%M:%SZ"
PARIS = ZoneInfo("Europe/Paris")


def utc(moment):
    return moment.astimezone(timezone.utc).strftime(FMT)


def paris_month_starts(count):
    """Midnight on the last day of each month from January 2025, Paris time: what a monthly
    plan anchored at 2025-01-31 00:00 Paris renews on (the 31st clamped to the month)."""
    starts = []
    for index in range(count):
        year, month = 2025 + index // 12, index % 12 + 1
        last_day = monthrange(year, month)[1]
        starts.append(utc(datetime(year, month, last_day, tzinfo=PARIS)))
    return starts


def test_a_customer_has_a_time_zone(client):
    assert new_customer(client)["timezone"] == "UTC"
    customer = new_customer(client, timezone="Europe/Paris")
    assert customer["timezone"] == "Europe/Paris"
    assert client.get(f"/customers/{customer['id']}").json()["timezone"] == "Europe/Paris"
    changed = client.patch(f"/customers/{customer['id']}", {"timezone": "Australia/Lord_Howe"})
    assert changed.status_code == 200 and changed.json()["timezone"] == "Australia/Lord_Howe"


def test_unknown_zones_are_refused(client):
    customer = new_customer(client)
    for bad in ["Mars/Base", "europe/paris", "GMT+2", "", "Europe/Paris/../x", 5, None, "A" * 65]:
        for response in (
            client.post("/customers", {"email": "z@example.com", "name": "Z", "timezone": bad}),
            client.patch(f"/customers/{customer['id']}", {"timezone": bad}),
        ):
            assert response.status_code == 422, (bad, response.text)
            assert any(error["field"] == "timezone" for error in response.json()["errors"]), response.text
    assert client.get(f"/customers/{customer['id']}").json()["timezone"] == "UTC"


def test_monthly_periods_in_paris_follow_the_wall_clock(client):
    """The contract's example: monthly from 2025-01-31 00:00 Paris ends 2025-02-28 00:00 Paris
    time (2025-02-27T23:00:00Z); the March period is a calendar month across the DST change."""
    customer = new_customer(client, timezone="Europe/Paris")
    plan = new_plan(client, amount_cents=3100)
    created = subscribe(client, customer, plan, start_at="2025-01-30T23:00:00Z")
    assert created.status_code == 201, created.text
    subscription = created.json()
    assert subscription["current_period_end"] == "2025-02-27T23:00:00Z"

    assert client.post("/billing/run", None).status_code == 200
    assert client.post("/billing/run", None).status_code == 200  # a second run adds nothing
    invoices = client.get(f"/invoices?subscription_id={subscription['id']}&limit=100").json()["data"]
    starts = sorted(invoice["period_start"] for invoice in invoices)
    assert len(starts) == len(set(starts)), "no period is invoiced twice"
    expected = paris_month_starts(len(starts))
    assert starts == expected
    by_start = {invoice["period_start"]: invoice for invoice in invoices}
    assert by_start["2025-03-30T22:00:00Z"]["period_end"] == "2025-04-29T22:00:00Z"  # 30 April, CEST


def test_trial_days_are_local_days(client):
    """One trial day from midnight before Paris moves its clocks forward is 23 hours."""
    customer = new_customer(client, timezone="Europe/Paris")
    plan = new_plan(client)
    created = subscribe(client, customer, plan, start_at="2025-03-29T23:00:00Z", trial_days=1)
    assert created.status_code == 201, created.text
    assert created.json()["trial_end"] == "2025-03-30T22:00:00Z"


def test_the_zone_cannot_change_under_a_live_subscription(client):
    customer = new_customer(client, timezone="Europe/Paris")
    subscription = subscribe(client, customer, new_plan(client)).json()
    refused = client.patch(f"/customers/{customer['id']}", {"timezone": "America/Los_Angeles"})
    assert refused.status_code == 409, refused.text
    assert client.patch(f"/customers/{customer['id']}", {"timezone": "Europe/Paris"}).status_code == 200
    assert client.post(f"/subscriptions/{subscription['id']}/cancel", {}).status_code == 200
    moved = client.patch(f"/customers/{customer['id']}", {"timezone": "America/Los_Angeles"})
    assert moved.status_code == 200 and moved.json()["timezone"] == "America/Los_Angeles"


def test_a_zone_change_racing_a_new_subscription_never_splits_the_calendar(api_key):
    """24 zone changes race one new subscription: the customer's lock orders them, so the
    subscription's calendar is the zone the customer had when it started, changes after it
    are 409, and the customer ends in the subscription's zone."""
    client = Client(api_key)
    for _ in range(3):
        customer = new_customer(client)
        plan = new_plan(client)
        zones = ["Europe/Paris", "America/Los_Angeles", "Asia/Tokyo", "Australia/Lord_Howe"] * 6

        def change(zone):
            return Client(api_key).patch(f"/customers/{customer['id']}", {"timezone": zone}).status_code

        with ThreadPoolExecutor(25) as pool:
            started = pool.submit(lambda: subscribe(Client(api_key), customer, plan).status_code)
            statuses = list(pool.map(change, zones))
        assert started.result() == 201
        assert set(statuses) <= {200, 409}
        [[customer_zone, subscription_zone]] = sql(
            f"SELECT c.timezone, s.timezone FROM customers c JOIN subscriptions s ON s.customer_id = c.id "
            f"WHERE c.id = '{customer['id']}'")
        assert customer_zone == subscription_zone
