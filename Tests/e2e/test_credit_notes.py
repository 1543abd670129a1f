"""invoicing.md §8 through nginx and the pool: credit notes against the remainder, the
amount paid and the customer's balance, voiding, their own gapless numbers, and the race of
two notes that each fit but not together."""

from conftest import Client, assert_number_series_gapless, fire, new_customer, sql


def invoice_of(client, amount, customer=None, rate=None):
    """A finalized one-off invoice of `amount` (with `rate` as the customer's tax rate)."""
    customer = customer or new_customer(client)
    if rate:
        client.patch(f"/customers/{customer['id']}", {"tax_rate_ids": [rate["id"]]})
    draft = client.post("/invoices", {"customer_id": customer["id"], "currency": "EUR"}).json()
    client.post("/invoice-items", {"customer_id": customer["id"], "description": "Work", "amount_cents": amount,
                                   "invoice_id": draft["id"]})
    return client.post(f"/invoices/{draft['id']}/finalize").json()


def note(client, invoice, amount, **fields):
    return client.post("/credit-notes", {"invoice_id": invoice["id"], "amount_cents": amount, **fields})


def events_of(object_id):
    return [row[0] for row in sql(f"SELECT type FROM events WHERE data::json->>'id' = '{object_id}' ORDER BY seq")]


def test_a_note_reduces_the_remainder_and_voiding_gives_it_back(client):
    vat = client.post("/tax-rates", {"display_name": "VAT", "percentage": "19", "inclusive": False}).json()
    invoice = invoice_of(client, 10000, rate=vat)
    assert invoice["total_cents"] == 11900
    created = note(client, invoice, 1900, reason="order_change", memo="one seat less")
    assert created.status_code == 201, created.text
    credit = created.json()
    assert credit["number"].startswith("CN-") and credit["status"] == "issued"
    assert credit["tax_cents"] == 303  # round(1900 × 1900 / 11900) = round(303.36)
    assert (credit["refund_amount_cents"], credit["credit_amount_cents"], credit["out_of_band_amount_cents"]) == (0, 0, 0)
    after = client.get(f"/invoices/{invoice['id']}").json()
    assert (after["amount_remaining_cents"], after["credited_cents"], after["status"]) == (10000, 1900, "open")
    voided = client.post(f"/credit-notes/{credit['id']}/void")
    assert voided.status_code == 200 and voided.json()["status"] == "void" and voided.json()["voided_at"]
    restored = client.get(f"/invoices/{invoice['id']}").json()
    assert (restored["amount_remaining_cents"], restored["credited_cents"]) == (11900, 0)
    assert client.post(f"/credit-notes/{credit['id']}/void").status_code == 409
    assert events_of(credit["id"]) == ["credit_note.created", "credit_note.voided"]


def test_on_a_paid_invoice_the_note_goes_to_the_balance_unless_refunded(client):
    customer = new_customer(client)
    invoice = invoice_of(client, 10000, customer=customer)
    client.post(f"/invoices/{invoice['id']}/pay")
    too_much = note(client, invoice, 3000, refund_amount_cents=2000, credit_amount_cents=1500)
    assert too_much.status_code == 422 and too_much.json()["errors"][0]["field"] == "refund_amount_cents"
    refunded = note(client, invoice, 3000, refund_amount_cents=2000).json()
    assert (refunded["refund_amount_cents"], refunded["credit_amount_cents"]) == (2000, 1000)
    credited = note(client, invoice, 5000).json()
    assert credited["credit_amount_cents"] == 5000
    assert client.get(f"/customers/{customer['id']}").json()["balance_cents"] == -6000
    paid = client.get(f"/invoices/{invoice['id']}").json()
    assert (paid["status"], paid["credited_cents"], paid["amount_paid_cents"]) == ("paid", 8000, 10000)
    assert client.post(f"/credit-notes/{refunded['id']}/void").status_code == 409, "a refund cannot be taken back"
    assert client.post(f"/credit-notes/{credited['id']}/void").status_code == 200
    assert client.get(f"/customers/{customer['id']}").json()["balance_cents"] == -1000
    assert note(client, invoice, 7001).status_code == 422, "only 7000 of the total is left to credit"
    assert note(client, invoice, 7000).status_code == 201


def test_a_note_covering_the_remainder_pays_the_invoice_and_cannot_be_voided(client):
    invoice = invoice_of(client, 1000)
    client.post(f"/invoices/{invoice['id']}/payments", {"amount_cents": 400})
    covering = note(client, invoice, 600).json()
    paid = client.get(f"/invoices/{invoice['id']}").json()
    assert (paid["status"], paid["amount_paid_cents"], paid["amount_remaining_cents"]) == ("paid", 400, 0)
    assert paid["paid_at"] is not None
    assert client.post(f"/credit-notes/{covering['id']}/void").status_code == 409


def test_drafts_void_invoices_and_bad_bodies_are_refused(client):
    customer = new_customer(client)
    draft = client.post("/invoices", {"customer_id": customer["id"], "currency": "EUR"}).json()
    assert note(client, draft, 1).status_code == 409
    voided = invoice_of(client, 500)
    client.post(f"/invoices/{voided['id']}/void")
    assert note(client, voided, 1).status_code == 409
    invoice = invoice_of(client, 500)
    for body in ({"amount_cents": 0}, {"amount_cents": 501}, {"amount_cents": 1, "reason": "because"},
                 {"amount_cents": 1.5}, {"amount_cents": 1, "refund_amount_cents": -1}, {"amount_cents": 1, "x": 1}):
        response = client.post("/credit-notes", {"invoice_id": invoice["id"], **body})
        assert response.status_code == 422, (body, response.text)
    assert client.post("/credit-notes", {"invoice_id": "01a00000-0000-7000-8000-000000000000",
                                         "amount_cents": 1}).status_code == 404
    listed = client.get(f"/credit-notes?invoice_id={invoice['id']}").json()
    assert listed["data"] == []


def test_two_notes_that_each_fit_but_not_together_never_both_land(api_key):
    setup = Client(api_key)
    for _ in range(3):
        invoice = invoice_of(setup, 1000)
        responses = fire(20, lambda i: Client(api_key).post(
            "/credit-notes", {"invoice_id": invoice["id"], "amount_cents": 600}))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201] + [422] * 19, statuses
        assert setup.get(f"/invoices/{invoice['id']}").json()["credited_cents"] == 600


def test_credit_note_numbers_are_gapless_under_concurrency(api_key):
    setup = Client(api_key)
    invoices = [invoice_of(setup, 100) for _ in range(30)]
    responses = fire(30, lambda i: Client(api_key).post(
        "/credit-notes", {"invoice_id": invoices[i]["id"], "amount_cents": 50}))
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses if r.status_code != 201]
    numbers = sorted(int(r.json()["number"][3:]) for r in responses)
    assert numbers == list(range(numbers[0], numbers[0] + 30))
    assert_number_series_gapless()
