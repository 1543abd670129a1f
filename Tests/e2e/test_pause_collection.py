"""Pausing collection (time.md) through the real API, on test clocks: periods advance while
paused and each invoice made is voided, kept as a draft or marked uncollectible at once; no
dunning runs; `resumes_at` ends the pause in the run; a canceled subscription cannot be
paused or unpaused."""

import time
from uuid import uuid4

from conftest import Client, assert_number_series_gapless, fire, new_plan, subscribe
from test_test_clocks import advance, clock_customer, invoices_of, new_clock


def started(client, frozen_time="2025-01-01T00:00:00Z", paid=True):
    clock = new_clock(client, frozen_time)
    subscription = subscribe(client, clock_customer(client, clock), new_plan(client, amount_cents=1000)).json()
    if paid:
        [first] = invoices_of(client, subscription)
        assert client.post(f"/invoices/{first['id']}/pay", {}).status_code == 200
    return clock, subscription


def pause(client, subscription, **body):
    return client.post(f"/subscriptions/{subscription['id']}/pause", body)


def test_void_while_paused_then_billing_again_after_unpause(client):
    clock, subscription = started(client)
    paused = pause(client, subscription, behavior="void")
    assert paused.status_code == 200, paused.text
    assert paused.json()["pause_collection"] == {"behavior": "void", "resumes_at": None}
    assert advance(client, clock, "2025-03-15T00:00:00Z").status_code == 200
    invoices = invoices_of(client, subscription)
    assert [(i["period_start"], i["status"]) for i in invoices[1:]] == [
        ("2025-02-01T00:00:00Z", "void"), ("2025-03-01T00:00:00Z", "void")]
    assert all(invoice["number"] for invoice in invoices)
    assert client.get(f"/subscriptions/{subscription['id']}").json()["status"] == "active"

    resumed = client.post(f"/subscriptions/{subscription['id']}/unpause")
    assert resumed.status_code == 200 and resumed.json()["pause_collection"] is None, resumed.text
    assert advance(client, clock, "2025-04-01T00:00:00Z").status_code == 200
    assert invoices_of(client, subscription)[-1]["status"] == "open"


def test_keep_as_draft_leaves_drafts_for_a_person_to_finalize(client):
    clock, subscription = started(client)
    assert pause(client, subscription, behavior="keep_as_draft").status_code == 200
    assert advance(client, clock, "2025-02-15T00:00:00Z").status_code == 200
    february = invoices_of(client, subscription)[1]
    assert february["status"] == "draft" and february["number"] is None
    assert client.post(f"/subscriptions/{subscription['id']}/unpause").status_code == 200
    assert advance(client, clock, "2025-02-20T00:00:00Z").status_code == 200
    assert client.get(f"/invoices/{february['id']}").json()["status"] == "draft"  # still a draft
    finalized = client.post(f"/invoices/{february['id']}/finalize")
    assert finalized.status_code == 200 and finalized.json()["status"] == "open", finalized.text
    assert finalized.json()["finalized_at"] == "2025-02-20T00:00:00Z"


def test_mark_uncollectible_until_resumes_at(client):
    clock, subscription = started(client)
    paused = pause(client, subscription, behavior="mark_uncollectible", resumes_at="2025-03-15T00:00:00Z")
    assert paused.status_code == 200, paused.text
    assert advance(client, clock, "2025-04-15T00:00:00Z").status_code == 200
    statuses = [(i["period_start"], i["status"]) for i in invoices_of(client, subscription)[1:]]
    assert statuses == [("2025-02-01T00:00:00Z", "uncollectible"), ("2025-03-01T00:00:00Z", "uncollectible"),
                        ("2025-04-01T00:00:00Z", "open")]
    after = client.get(f"/subscriptions/{subscription['id']}").json()
    assert after["pause_collection"] is None  # the run ended the pause at resumes_at


def test_no_dunning_while_paused_and_dunning_resumes_after(client):
    clock, subscription = started(client, paid=False)  # January's invoice is left open
    assert pause(client, subscription, behavior="void").status_code == 200
    assert advance(client, clock, "2025-03-15T00:00:00Z").status_code == 200
    during = client.get(f"/subscriptions/{subscription['id']}").json()
    assert during["status"] == "active", "no dunning while paused"
    assert invoices_of(client, subscription)[0]["status"] == "open"  # it waits
    assert client.post(f"/subscriptions/{subscription['id']}/unpause").status_code == 200
    assert advance(client, clock, "2025-03-16T00:00:00Z").status_code == 200
    after = client.get(f"/subscriptions/{subscription['id']}").json()
    assert after["status"] == "canceled" and after["cancellation_reason"] == "nonpayment"


def test_bad_pauses_are_refused(client):
    clock, subscription = started(client)
    for body in [{}, {"behavior": "skip"}, {"behavior": "void", "resumes_at": "2024-12-31T00:00:00Z"},
                 {"behavior": "void", "resumes_at": "2025-01-01T00:00:00Z"}, {"behavior": 1}]:
        response = pause(client, subscription, **body)
        assert response.status_code == 422, (body, response.text)
    assert client.post(f"/subscriptions/{subscription['id']}/cancel", {}).status_code == 200
    assert pause(client, subscription, behavior="void").status_code == 409
    assert client.post(f"/subscriptions/{subscription['id']}/unpause").status_code == 409


def test_a_coupons_duration_keeps_running_while_paused(client):
    """A 3-month repeating coupon from January: February and March are paused (voided), and
    April, after the pause, is no longer discounted: the duration ran on through the pause."""
    promo = client.post("/coupons", {"code": f"P{uuid4().hex[:10].upper()}", "name": "Promo", "duration": "repeating",
                                      "duration_in_periods": 3, "percent_off": "50"}).json()
    clock = new_clock(client, "2025-01-01T00:00:00Z")
    subscription = subscribe(client, clock_customer(client, clock), new_plan(client, amount_cents=1000),
                             coupon=promo["code"]).json()
    [first] = invoices_of(client, subscription)
    assert first["discount_cents"] == 500
    assert client.post(f"/invoices/{first['id']}/pay", {}).status_code == 200
    assert pause(client, subscription, behavior="void", resumes_at="2025-03-15T00:00:00Z").status_code == 200
    assert advance(client, clock, "2025-04-02T00:00:00Z").status_code == 200
    invoices = invoices_of(client, subscription)
    assert [(i["period_start"], i["status"], i["discount_cents"]) for i in invoices[1:]] == [
        ("2025-02-01T00:00:00Z", "void", 500), ("2025-03-01T00:00:00Z", "void", 500),
        ("2025-04-01T00:00:00Z", "open", 0)]


def test_a_pause_racing_an_advance_takes_effect_at_one_step(client):
    """A pause sent while the clock's advance steps through three weekly renewals lands
    between two steps, never inside one: the periods before it are billed, those after it
    voided, each period once, in every round of the race."""
    for round_ in range(6):
        clock = new_clock(client, "2025-01-01T00:00:00Z")
        plan = new_plan(client, amount_cents=700, interval="week")
        subscription = subscribe(client, clock_customer(client, clock), plan).json()
        [first] = invoices_of(client, subscription)
        assert client.post(f"/invoices/{first['id']}/pay", {}).status_code == 200

        def work(index):
            if index == 0:
                return advance(Client(client.key), clock, "2025-01-22T00:00:00Z")
            time.sleep(0.01 * round_)
            return pause(Client(client.key), subscription, behavior="void")

        moved, paused = fire(2, work)
        assert moved.status_code == 200 and paused.status_code == 200, (moved.text, paused.text)
        invoices = invoices_of(client, subscription)[1:]
        assert [i["period_start"] for i in invoices] == [
            "2025-01-08T00:00:00Z", "2025-01-15T00:00:00Z", "2025-01-22T00:00:00Z"]
        statuses = [i["status"] for i in invoices]
        voided = statuses.count("void")
        assert statuses == ["open"] * (3 - voided) + ["void"] * voided, statuses
    assert_number_series_gapless()
