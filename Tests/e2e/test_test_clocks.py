"""Test clocks (time.md) through the real API: customers that live at a clock's time, left
alone by the real-time run, moved only by advancing the clock, which steps the billing run
through every boundary in order, exactly as real time would."""

from concurrent.futures import ThreadPoolExecutor

from conftest import Client, assert_number_series_gapless, fire, new_plan, sql, subscribe, unique

T0 = "2025-01-01T00:00:00Z"


def new_clock(client, frozen_time=T0, **fields):
    response = client.post("/test-clocks", {"frozen_time": frozen_time, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def clock_customer(client, clock, **fields):
    body = {"email": f"{unique('c')}@example.com", "name": "Clocked", "test_clock_id": clock["id"], **fields}
    response = client.post("/customers", body)
    assert response.status_code == 201, response.text
    return response.json()


def advance(client, clock, frozen_time):
    return client.post(f"/test-clocks/{clock['id']}/advance", {"frozen_time": frozen_time})


def invoices_of(client, subscription):
    data = client.get(f"/invoices?subscription_id={subscription['id']}&limit=100").json()["data"]
    return sorted(data, key=lambda invoice: invoice["period_start"])


def test_a_clock_is_created_read_and_listed(client):
    clock = new_clock(client, name="January")
    assert clock["frozen_time"] == T0 and clock["status"] == "ready" and clock["name"] == "January"
    assert client.get(f"/test-clocks/{clock['id']}").json() == clock
    listed = client.get("/test-clocks?limit=100").json()["data"]
    assert clock in listed


def test_a_clock_customer_lives_at_the_clock_and_the_real_time_run_leaves_it_alone(client):
    clock = new_clock(client)
    customer = clock_customer(client, clock)
    assert customer["created_at"] == T0 and customer["test_clock_id"] == clock["id"]
    subscription = subscribe(client, customer, new_plan(client)).json()
    assert subscription["start_at"] == T0 and subscription["current_period_end"] == "2025-02-01T00:00:00Z"
    # Real time is almost two years later: the run would owe this subscription 22 invoices.
    assert client.post("/billing/run", None).status_code == 200
    assert len(invoices_of(client, subscription)) == 1
    preview = client.get(f"/subscriptions/{subscription['id']}/upcoming-invoice").json()
    assert preview["created_at"] == T0 and preview["period_start"] == "2025-02-01T00:00:00Z"
    # A start in the clock's future is refused as it would be in real time.
    other = clock_customer(client, clock)
    future = subscribe(client, other, new_plan(client), start_at="2025-01-02T00:00:00Z")
    assert future.status_code == 422, future.text


def test_advancing_steps_through_renewals_and_dunning_in_order(client):
    """Paid in January, never after: February's invoice is due on the 8th (past_due then),
    its 14 days of grace end on the 22nd and the subscription is canceled for nonpayment
    then, so no March invoice is made, although the clock jumps to mid-March at once."""
    clock = new_clock(client)
    customer = clock_customer(client, clock)
    subscription = subscribe(client, customer, new_plan(client, amount_cents=1000)).json()
    [first] = invoices_of(client, subscription)
    paid = client.post(f"/invoices/{first['id']}/pay", {})
    assert paid.status_code == 200 and paid.json()["paid_at"] == T0, paid.text

    moved = advance(client, clock, "2025-03-15T00:00:00Z")
    assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "ready" and moved.json()["frozen_time"] == "2025-03-15T00:00:00Z"

    invoices = invoices_of(client, subscription)
    assert [invoice["period_start"] for invoice in invoices] == [T0, "2025-02-01T00:00:00Z"]
    february = invoices[1]
    assert february["created_at"] == "2025-02-01T00:00:00Z" and february["due_at"] == "2025-02-08T00:00:00Z"
    assert february["status"] == "uncollectible"
    ended = client.get(f"/subscriptions/{subscription['id']}").json()
    assert ended["status"] == "canceled" and ended["cancellation_reason"] == "nonpayment"
    assert ended["ended_at"] == "2025-02-22T00:00:00Z"

    # The events of the clock's customer carry the clock, at the clock's times, in order.
    rows = sql(f"SELECT id, type FROM events WHERE test_clock_id = '{clock['id']}' ORDER BY seq")
    events = [client.get(f"/events/{event_id}").json() for event_id, _ in rows]
    assert all(event["test_clock_id"] == clock["id"] for event in events)
    kinds = [(event["type"], event["created_at"]) for event in events]
    assert ("invoice.created", "2025-02-01T00:00:00Z") in kinds
    assert ("subscription.updated", "2025-02-08T00:00:00Z") in kinds  # past_due
    assert ("subscription.canceled", "2025-02-22T00:00:00Z") in kinds
    assert [time for _, time in kinds] == sorted(time for _, time in kinds)
    # Every event about the customer or its objects carries the clock; none without it.
    [[stray]] = sql(
        f"SELECT count(*) FROM events WHERE (data::json->>'customer_id' = '{customer['id']}' "
        f"OR data::json->>'id' = '{customer['id']}') AND test_clock_id IS DISTINCT FROM '{clock['id']}'")
    assert stray == "0"
    # Every invoice copies its customer's clock (sql/0023), which the clock's steps read.
    [[misplaced]] = sql("SELECT count(*) FROM invoices i JOIN customers c ON c.id = i.customer_id "
                        "WHERE i.test_clock_id IS DISTINCT FROM c.test_clock_id")
    assert misplaced == "0"


def test_a_year_of_paid_renewals_is_twelve_invoices_each_once(client):
    clock = new_clock(client)
    customer = clock_customer(client, clock)
    subscription = subscribe(client, customer, new_plan(client, amount_cents=1000)).json()
    for month in range(2, 14):
        year, month = 2025 + (month - 1) // 12, (month - 1) % 12 + 1
        for invoice in invoices_of(client, subscription):
            if invoice["status"] == "open":
                assert client.post(f"/invoices/{invoice['id']}/pay", {}).status_code == 200
        assert advance(client, clock, f"{year}-{month:02d}-01T00:00:00Z").status_code == 200
    invoices = invoices_of(client, subscription)
    starts = [invoice["period_start"] for invoice in invoices]
    assert len(starts) == 13 and len(set(starts)) == 13
    assert starts[-1] == "2026-01-01T00:00:00Z"
    assert client.get(f"/subscriptions/{subscription['id']}").json()["status"] == "active"
    assert_number_series_gapless()


def test_a_clock_customers_documents_are_numbered_in_its_own_series(client):
    """With global numbers (this stack's setting), what a clock simulates takes no number of
    the real series: its customers' invoices, renewals made by an advance, finalized drafts
    and credit notes are each numbered in the customer's own series, gapless."""
    clock = new_clock(client)
    customer = clock_customer(client, clock)
    prefix = customer["invoice_prefix"]
    subscription = subscribe(client, customer, new_plan(client, amount_cents=1000)).json()
    [first] = invoices_of(client, subscription)
    assert client.post(f"/invoices/{first['id']}/pay", {}).status_code == 200
    assert advance(client, clock, "2025-02-01T00:00:00Z").status_code == 200
    draft = client.post("/invoices", {"customer_id": customer["id"], "currency": "EUR"}).json()
    item = client.post("/invoice-items", {"customer_id": customer["id"], "invoice_id": draft["id"],
                                          "description": "Setup", "amount_cents": 500})
    assert item.status_code == 201, item.text
    final = client.post(f"/invoices/{draft['id']}/finalize")
    assert final.status_code == 200, final.text
    numbers = [invoice["number"] for invoice in invoices_of(client, subscription)] + [final.json()["number"]]
    assert numbers == [f"{prefix}-0001", f"{prefix}-0002", f"{prefix}-0003"]
    note = client.post("/credit-notes", {"invoice_id": final.json()["id"], "amount_cents": 100})
    assert note.status_code == 201 and note.json()["number"] == f"{prefix}-CN-0001", note.text
    # A customer on no clock keeps the global series.
    real = subscribe(client, client.post("/customers", {"email": f"{unique('r')}@example.com", "name": "R"}).json(),
                     new_plan(client)).json()
    [invoice] = client.get(f"/invoices?subscription_id={real['id']}").json()["data"]
    assert invoice["number"].startswith("INV-")
    assert_number_series_gapless()


def test_racing_finalizations_of_a_clock_customer_number_its_own_series_gapless(client, api_key):
    """20 drafts of one clock customer finalized at once, with global numbers: the customer's
    row lock orders them, `<prefix>-0001…0020`, each once."""
    customer = clock_customer(client, new_clock(client))
    drafts = []
    for _ in range(20):
        draft = client.post("/invoices", {"customer_id": customer["id"], "currency": "EUR"}).json()
        item = client.post("/invoice-items", {"customer_id": customer["id"], "invoice_id": draft["id"],
                                              "description": "Setup", "amount_cents": 500})
        assert item.status_code == 201, item.text
        drafts.append(draft)
    responses = fire(20, lambda i: Client(api_key).post(f"/invoices/{drafts[i]['id']}/finalize"))
    assert all(response.status_code == 200 for response in responses), [r.text for r in responses]
    numbers = sorted(response.json()["number"] for response in responses)
    assert numbers == [f"{customer['invoice_prefix']}-{n:04d}" for n in range(1, 21)]
    assert_number_series_gapless()


def test_actions_on_a_clock_customer_happen_at_the_clock(client):
    clock = new_clock(client, "2025-06-15T12:00:00Z")
    customer = clock_customer(client, clock)
    subscription = subscribe(client, customer, new_plan(client)).json()
    item = client.post("/invoice-items", {"customer_id": customer["id"], "amount_cents": 500,
                                          "description": "Setup"})
    assert item.status_code == 201 and item.json()["created_at"] == "2025-06-15T12:00:00Z", item.text
    assert advance(client, clock, "2025-06-20T00:00:00Z").status_code == 200
    canceled = client.post(f"/subscriptions/{subscription['id']}/cancel", {})
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["canceled_at"] == "2025-06-20T00:00:00Z"
    assert canceled.json()["ended_at"] == "2025-06-20T00:00:00Z"


def test_bad_advances_and_clock_references_are_refused(client):
    clock = new_clock(client)
    for target, status in [(T0, 422), ("2024-12-31T00:00:00Z", 422), ("2027-01-02T00:00:00Z", 422),
                           ("not a time", 422), (None, 422)]:
        response = advance(client, clock, target)
        assert response.status_code == status, (target, response.text)
    assert advance(client, {"id": "00000000-0000-7000-8000-000000000000"}, "2025-02-01T00:00:00Z").status_code == 404
    assert client.post("/test-clocks", {"frozen_time": "1999-12-31T00:00:00Z"}).status_code == 422
    assert client.post("/test-clocks", {}).status_code == 422
    unknown = client.post("/customers", {"email": "u@example.com", "name": "U",
                                         "test_clock_id": "00000000-0000-7000-8000-000000000000"})
    assert unknown.status_code == 404, unknown.text
    customer = clock_customer(client, clock)
    for value in [None, clock["id"]]:
        moved = client.patch(f"/customers/{customer['id']}", {"test_clock_id": value})
        assert moved.status_code == 422, moved.text
    assert client.get(f"/test-clocks/{clock['id']}").json()["frozen_time"] == T0


def test_racing_advances_and_writes_bill_each_period_once(api_key):
    """20 advances of one clock race each other, another clock's advance and payments of
    its customers' invoices: each advance is 200, 409 (another is running) or 422 (the
    clock has already passed its target); every period is invoiced once, in both clocks."""
    client = Client(api_key)
    clocks = [new_clock(client), new_clock(client)]
    plan = new_plan(client, amount_cents=700, interval="week")
    subscriptions = []
    for clock in clocks:
        for _ in range(5):
            subscriptions.append(subscribe(client, clock_customer(client, clock), plan).json())
    targets = [f"2025-{month:02d}-01T00:00:00Z" for month in range(2, 12)] * 2

    def advance_first(i):
        return advance(Client(api_key), clocks[0], targets[i]).status_code

    def pay(subscription):
        for invoice in invoices_of(Client(api_key), subscription):
            if invoice["status"] == "open":
                Client(api_key).post(f"/invoices/{invoice['id']}/pay", {})

    with ThreadPoolExecutor(8) as pool:
        other = pool.submit(lambda: advance(Client(api_key), clocks[1], "2025-11-01T00:00:00Z").status_code)
        payments = [pool.submit(pay, subscription) for subscription in subscriptions]
        statuses = fire(len(targets), advance_first)
        assert other.result() == 200
        for payment in payments:
            payment.result()
    assert 200 in statuses and set(statuses) <= {200, 409, 422}, statuses
    assert client.get(f"/test-clocks/{clocks[0]['id']}").json()["status"] == "ready"
    for subscription in subscriptions:
        starts = [invoice["period_start"] for invoice in invoices_of(client, subscription)]
        assert len(starts) == len(set(starts)), "a period invoiced twice"
    assert_number_series_gapless()
