"""documents.md's reports through nginx and the pool. The database is shared, so each test
lives on its own test clock in a year no other test uses, and in a currency of its own:
every figure in its buckets is its own, exactly."""

import random
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from conftest import new_plan, subscribe, unique
from test_test_clocks import advance, clock_customer, new_clock

YEAR = random.Random().randrange(2030, 2058)  # test clocks run 2000–2099; other tests use ≤ 2027 and 2060
# Currencies no other test uses, one per test: sums are exact only over one's own figures.
EXACT, REVENUE, GENERATED = random.Random().sample(["CHF", "NOK", "SEK", "DKK", "PLN", "CZK", "HUF", "NZD"], 3)


def at(month, day=1, hour=0, year=YEAR):
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return f"{year}-{month:02d}-{day:02d}T{hour:02d}:00:00Z"


def pay_everything(client, customers):
    for customer in customers:
        for invoice in client.get(f"/invoices?customer_id={customer['id']}&status=open&limit=100").json()["data"]:
            assert client.post(f"/invoices/{invoice['id']}/pay", {}).status_code == 200


def step(client, clock, customers, moment):
    """Advances the clock to `moment` a week at a time, paying what is open before each
    hop: no invoice goes unpaid long enough for dunning to cancel anything."""
    now = datetime.fromisoformat(client.get(f"/test-clocks/{clock['id']}").json()["frozen_time"].replace("Z", "+00:00"))
    target = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    while now < target:
        now = min(now + timedelta(days=6), target)
        pay_everything(client, customers)
        response = advance(client, clock, now.strftime("%Y-%m-%dT%H:%M:%SZ"))
        assert response.status_code == 200, response.text
    pay_everything(client, customers)


def currency_of(bucket, currency):
    return next(row for row in bucket["currencies"] if row["currency"] == currency)


def test_mrr_and_its_movements_are_exact(client):
    """Monthly, yearly with a forever 25% coupon, weekly (a third of a cent per month), a
    trial; then an expansion, a churn, a trial that converts (new), a contraction and a
    customer who comes back (reactivated)."""
    currency = EXACT
    clock = new_clock(client, at(1, 1, 12))
    plan = lambda **fields: new_plan(client, currency=currency, **fields)  # noqa: E731
    monthly, yearly, weekly = plan(amount_cents=10000), plan(amount_cents=120000, interval="year"), plan(
        amount_cents=1000, interval="week")
    trial = plan(amount_cents=5000, trial_days=45)
    comeback = plan(amount_cents=3000)
    coupon = client.post("/coupons", {"code": unique("Q"), "name": "Quarter", "percent_off": "25",
                                      "duration": "forever"}).json()
    a, b, c, d = (clock_customer(client, clock) for _ in range(4))
    sub_a = subscribe(client, a, monthly, quantity=2).json()
    sub_b = subscribe(client, b, yearly, coupon=coupon["code"]).json()
    sub_c = subscribe(client, c, weekly).json()
    subscribe(client, d, trial)
    everyone = [a, b, c, d]

    mrr = client.get(f"/reports/mrr?as_of={at(1, 1, 12)}").json()
    assert {"currency": currency, "mrr_cents": 31833, "subscriptions": 3} in mrr["currencies"]  # 31833.33…

    step(client, clock, everyone, at(2, 10))
    changed = client.post(f"/subscriptions/{sub_a['id']}/change-plan",
                          {"plan_id": monthly["id"], "quantity": 3, "prorate": False})
    assert changed.status_code == 200, changed.text
    assert client.post(f"/subscriptions/{sub_c['id']}/cancel", {}).status_code == 200
    step(client, clock, everyone, at(2, 20))  # D's trial ended on Feb 15
    step(client, clock, everyone, at(3, 10))
    assert subscribe(client, c, comeback).status_code == 201
    changed = client.post(f"/subscriptions/{sub_a['id']}/change-plan",
                          {"plan_id": monthly["id"], "quantity": 1, "prorate": False})
    assert changed.status_code == 200, changed.text
    step(client, clock, everyone, at(4, 10))
    assert client.post(f"/subscriptions/{sub_b['id']}/cancel", {}).status_code == 200

    # A customer's movement in a bucket is their net change over it (a subscription started
    # and upgraded in one month is new by its upgraded amount).
    response = client.get(f"/reports/mrr-movements?from={at(1)}&to={at(5)}&interval=month")
    assert response.status_code == 200, response.text
    buckets = response.json()["buckets"]
    assert [(x["start"], x["end"]) for x in buckets] == [(at(n), at(n + 1)) for n in range(1, 5)]
    keys = ["mrr_start_cents", "new", "expansion", "contraction", "churned", "reactivated", "mrr_end_cents"]
    assert [[currency_of(bucket, currency)[key] for key in keys] for bucket in buckets] == [
        [0, 31833, 0, 0, 0, 0, 31833],  # 20000 + 7500 + 4333.33…, rounded once
        [31833, 5000, 10000, 0, -4333, 0, 42500],  # each kind the step in the rounded running total
        [42500, 0, 0, -20000, 0, 3000, 25500],
        [25500, 0, 0, 0, -7500, 0, 18000],
    ]
    for bucket in buckets:
        row = currency_of(bucket, currency)
        assert row["mrr_end_cents"] == row["mrr_start_cents"] + sum(row[key] for key in keys[1:6])
        now = client.get(f"/reports/mrr?as_of={bucket['end']}").json()["currencies"]
        assert next(x["mrr_cents"] for x in now if x["currency"] == currency) == row["mrr_end_cents"]

    subscriptions = client.get(f"/reports/subscriptions?from={at(1)}&to={at(5)}").json()["buckets"]
    summary = [(x["new"], x["canceled"], x["active_at_start"], x["active_at_end"], x["churn_rate"])
               for x in subscriptions]
    # Other tests' subscriptions all started before this year and count as live at every
    # instant that they are: only the differences between buckets are this test's own.
    base = subscriptions[0]["active_at_start"]
    none, one = {"requested": 0, "nonpayment": 0}, {"requested": 1, "nonpayment": 0}
    assert [x[:2] + (x[3] - base,) for x in summary] == [(4, none, 4), (0, one, 3), (1, none, 4), (0, one, 3)]
    assert summary[3][2] == base + 4
    assert Decimal(summary[3][4]) == (Decimal(1) / Decimal(base + 4)).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def test_revenue_matches_the_invoices_payments_and_credit_notes(client):
    currency = REVENUE
    clock = new_clock(client, at(5, 1, 12))
    customers = [clock_customer(client, clock) for _ in range(3)]
    for n, customer in enumerate(customers):
        subscribe(client, customer, new_plan(client, currency=currency, amount_cents=1000 * (n + 1)))
    step(client, clock, customers, at(6, 2))
    invoices = [i for c in customers for i in client.get(f"/invoices?customer_id={c['id']}&limit=100").json()["data"]]
    note = client.post("/credit-notes", {"invoice_id": invoices[0]["id"], "amount_cents": 300})
    assert note.status_code == 201, note.text
    # One invoice left open at the end of June.
    advance(client, clock, at(7, 2))
    response = client.get(f"/reports/revenue?from={at(5)}&to={at(7)}&interval=month")
    assert response.status_code == 200, response.text
    may, june = response.json()["buckets"]
    invoices = [i for c in customers for i in client.get(f"/invoices?customer_id={c['id']}&limit=100").json()["data"]]
    for bucket in (may, june):
        mine = [i for i in invoices if bucket["start"] <= i["finalized_at"] < bucket["end"]]
        row = currency_of(bucket, currency)
        assert row["invoiced_cents"] == sum(i["total_cents"] for i in mine)
        payments = [p for i in invoices for p in client.get(f"/invoices/{i['id']}/payments").json()["data"]]
        assert row["paid_cents"] == sum(p["amount_cents"] for p in payments if bucket["start"] <= p["paid_at"] < bucket["end"])
    assert currency_of(june, currency)["credited_cents"] == 300
    assert currency_of(may, currency)["credited_cents"] == 0
    open_in_july = [i for i in invoices if i["status"] == "open"]
    assert currency_of(june, currency)["outstanding_cents"] == 0
    assert open_in_july  # the July renewals, not yet in any bucket here


def test_the_movements_always_sum_to_the_change(client):
    """Generated histories: random plans, quantities, coupons, cancellations and comebacks,
    month by month; every bucket, monthly and daily, satisfies the identity and agrees with
    /reports/mrr at its edges."""
    currency = GENERATED
    rng = random.Random(YEAR)
    clock = new_clock(client, at(1, 1, 6, year=YEAR + 1))
    plans = [new_plan(client, currency=currency, amount_cents=rng.randrange(100, 100000),
                      interval=interval, interval_count=1 if interval == "year" else rng.choice([1, 1, 2, 3]))
             for interval in (rng.choice(["month", "year", "week", "day"]) for _ in range(6))]
    coupons = [client.post("/coupons", {"code": unique("P"), "name": "Off", "percent_off": str(rng.choice([5, 12.5, 33.33])),
                                        "duration": "forever"}).json() for _ in range(2)]
    customers = [clock_customer(client, clock) for _ in range(8)]
    live = {}
    for month in range(1, 5):
        for customer in customers:
            action = rng.random()
            current = live.get(customer["id"])
            if current is None and action < 0.6:
                fields = {"quantity": rng.randrange(1, 5)}
                if rng.random() < 0.4:
                    fields["coupon"] = rng.choice(coupons)["code"]
                response = subscribe(client, customer, rng.choice(plans), **fields)
                if response.status_code == 201:
                    live[customer["id"]] = response.json()
            elif current is not None and action < 0.3:
                assert client.post(f"/subscriptions/{current['id']}/cancel", {}).status_code == 200
                del live[customer["id"]]
            elif current is not None and action < 0.7:
                client.post(f"/subscriptions/{current['id']}/change-plan",
                            {"plan_id": current["plan_id"], "quantity": rng.randrange(1, 6), "prorate": False})
        step(client, clock, customers, at(month + 1, rng.randrange(1, 28), 6, year=YEAR + 1))
    for interval, end in (("month", at(6, year=YEAR + 1)), ("day", at(3, year=YEAR + 1))):
        response = client.get(f"/reports/mrr-movements?from={at(1, year=YEAR + 1)}&to={end}&interval={interval}")
        assert response.status_code == 200, response.text
        buckets = response.json()["buckets"]
        previous = None
        for bucket in buckets:
            row = currency_of(bucket, currency)
            movements = [row["new"], row["expansion"], row["contraction"], row["churned"], row["reactivated"]]
            assert row["mrr_end_cents"] == row["mrr_start_cents"] + sum(movements), bucket
            assert row["new"] >= 0 and row["expansion"] >= 0 and row["reactivated"] >= 0
            assert row["contraction"] <= 0 and row["churned"] <= 0
            if previous is not None:
                assert row["mrr_start_cents"] == previous
            previous = row["mrr_end_cents"]
        for bucket in buckets[:: max(1, len(buckets) // 6)]:
            mrr = client.get(f"/reports/mrr?as_of={bucket['end']}").json()["currencies"]
            assert next(x["mrr_cents"] for x in mrr if x["currency"] == currency) == currency_of(bucket, currency)["mrr_end_cents"]


def test_bad_report_parameters_are_422(client):
    for path in ["/reports/revenue", "/reports/revenue?from=2026-01-01T00:00:00Z",
                 "/reports/revenue?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
                 "/reports/revenue?from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
                 "/reports/mrr-movements?from=2026-01-01T00:00:00Z&to=2027-01-03T00:00:00Z&interval=day",
                 "/reports/subscriptions?from=2026-01-01T00:00:00Z&to=2060-01-01T00:00:00Z",
                 "/reports/subscriptions?from=yesterday&to=2026-01-01T00:00:00Z",
                 "/reports/revenue?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z&interval=week",
                 "/reports/mrr?as_of=soon", "/reports/mrr?limit=3"]:
        assert client.get(path).status_code == 422, path
    # A year of days is within the limit.
    ok = client.get("/reports/mrr-movements?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z&interval=day")
    assert ok.status_code == 200 and len(ok.json()["buckets"]) == 365
    assert client.get("/reports/mrr", auth=False).status_code == 401
