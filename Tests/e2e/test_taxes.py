"""invoicing.md §6 and §7 through nginx and the pool: tax rates on customers and
subscriptions, one rounding per rate per invoice, and a finalized invoice that keeps the
rates it was finalized with."""

from datetime import datetime, timedelta, timezone

import pytest

from conftest import new_customer, new_plan, subscribe


def rate(client, percentage, inclusive=False, **fields):
    body = {"display_name": "VAT", "percentage": percentage, "inclusive": inclusive}
    body.update(fields)
    response = client.post("/tax-rates", body)
    assert response.status_code == 201, response.text
    return response.json()


def first_invoice(client, subscription):
    return client.get(f"/invoices?subscription_id={subscription['id']}").json()["data"][-1]


def test_a_rate_is_exact_and_its_terms_never_change(client):
    vat = rate(client, "19.50", country="DE", description="Standard rate")
    assert (vat["percentage"], vat["inclusive"], vat["country"], vat["is_active"]) == ("19.5", False, "DE", True)
    assert client.get(f"/tax-rates/{vat['id']}").json() == vat
    for body in ({"percentage": "20"}, {"inclusive": True}, {"country": "FR"}):
        refused = client.patch(f"/tax-rates/{vat['id']}", body)
        assert refused.status_code == 422, body
    renamed = client.patch(f"/tax-rates/{vat['id']}", {"display_name": "MwSt", "is_active": False})
    assert renamed.status_code == 200 and renamed.json()["display_name"] == "MwSt"
    assert renamed.json()["percentage"] == "19.5" and renamed.json()["is_active"] is False
    assert any(r["id"] == vat["id"] for r in client.get("/tax-rates?is_active=false&limit=100").json()["data"])


@pytest.mark.parametrize("percentage", [19, 19.5, "19.12345", "100", "-1", "1e1", "", ".5", "abc", None])
def test_a_percentage_is_a_decimal_string_below_100_with_four_decimals_at_most(client, percentage):
    response = client.post("/tax-rates", {"display_name": "VAT", "percentage": percentage, "inclusive": False})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "percentage"


def test_a_subscription_invoice_is_taxed_with_the_customers_rates(client):
    vat = rate(client, "19")
    customer = new_customer(client)
    assert client.patch(f"/customers/{customer['id']}", {"tax_rate_ids": [vat["id"]]}).json()["tax_rate_ids"] == [
        vat["id"]]
    subscription = subscribe(client, customer, new_plan(client, amount_cents=10000)).json()
    invoice = first_invoice(client, subscription)
    assert (invoice["subtotal_cents"], invoice["tax_cents"], invoice["total_cents"], invoice["amount_due_cents"]) == (
        10000, 1900, 11900, 11900)
    assert invoice["taxes"] == [{"tax_rate_id": vat["id"], "display_name": "VAT", "percentage": "19",
                                 "inclusive": False, "taxable_amount_cents": 10000, "amount_cents": 1900}]
    # Later changes of the customer or the rate never change a finalized invoice.
    other = rate(client, "7")
    client.patch(f"/customers/{customer['id']}", {"tax_rate_ids": [other["id"]]})
    client.patch(f"/tax-rates/{vat['id']}", {"display_name": "Renamed", "is_active": False})
    assert client.get(f"/invoices/{invoice['id']}").json() == invoice


def test_a_subscriptions_own_inclusive_rate_wins_over_the_customers(client):
    customer = new_customer(client)
    client.patch(f"/customers/{customer['id']}", {"tax_rate_ids": [rate(client, "7")["id"]]})
    inclusive = rate(client, "19", inclusive=True)
    subscription = subscribe(client, customer, new_plan(client, amount_cents=11900),
                             tax_rate_ids=[inclusive["id"]]).json()
    assert subscription["tax_rate_ids"] == [inclusive["id"]]
    invoice = first_invoice(client, subscription)
    assert (invoice["tax_cents"], invoice["total_cents"]) == (1900, 11900)
    assert invoice["taxes"][0]["taxable_amount_cents"] == 10000


def test_renewals_and_previews_are_taxed_too(client):
    vat = rate(client, "20")
    customer = new_customer(client)
    start = (datetime.now(timezone.utc) - timedelta(days=40)).strftime("%Y-%m-%dT%H:%M:%SZ")
    subscription = subscribe(client, customer, new_plan(client, amount_cents=1001), start_at=start,
                             tax_rate_ids=[vat["id"]]).json()
    preview = client.get(f"/subscriptions/{subscription['id']}/upcoming-invoice").json()
    assert (preview["tax_cents"], preview["total_cents"]) == (200, 1201)  # 200.2 → 200
    assert client.post("/billing/run").status_code == 200
    invoices = client.get(f"/invoices?subscription_id={subscription['id']}").json()["data"]
    assert len(invoices) == 2 and all(i["tax_cents"] == 200 and i["total_cents"] == 1201 for i in invoices)


def test_one_rounding_per_rate_per_invoice_and_a_draft_shows_the_current_rates(client):
    customer = new_customer(client)
    draft = client.post("/invoices", {"customer_id": customer["id"], "currency": "EUR"}).json()
    for _ in range(3):
        client.post("/invoice-items", {"customer_id": customer["id"], "description": "Part", "amount_cents": 333,
                                       "invoice_id": draft["id"]})
    assert client.get(f"/invoices/{draft['id']}").json()["tax_cents"] == 0
    vat = rate(client, "20")
    client.patch(f"/customers/{customer['id']}", {"tax_rate_ids": [vat["id"]]})
    shown = client.get(f"/invoices/{draft['id']}").json()
    assert (shown["tax_cents"], shown["total_cents"]) == (200, 1199), "200, not 3 × 67 = 201"
    final = client.post(f"/invoices/{draft['id']}/finalize").json()
    assert (final["tax_cents"], final["total_cents"], final["amount_due_cents"]) == (200, 1199, 1199)
    client.patch(f"/customers/{customer['id']}", {"tax_rate_ids": []})
    assert client.get(f"/invoices/{draft['id']}").json()["taxes"] == final["taxes"]


def test_rates_given_to_a_customer_or_a_subscription_are_checked(client):
    customer = new_customer(client)
    exclusive, inclusive = rate(client, "10"), rate(client, "10", inclusive=True)
    inactive = rate(client, "5")
    client.patch(f"/tax-rates/{inactive['id']}", {"is_active": False})
    six = [rate(client, "1")["id"] for _ in range(6)]
    for ids in ([exclusive["id"], inclusive["id"]], six, [inactive["id"]], ["01a00000-0000-7000-8000-000000000000"],
                [exclusive["id"], exclusive["id"]], "x", [1]):
        response = client.patch(f"/customers/{customer['id']}", {"tax_rate_ids": ids})
        assert response.status_code == 422, (ids, response.text)
        assert response.json()["errors"][0]["field"] == "tax_rate_ids"
        plan = new_plan(client)
        refused = subscribe(client, new_customer(client), plan, tax_rate_ids=ids)
        assert refused.status_code == 422, (ids, refused.text)
    assert client.get(f"/customers/{customer['id']}").json()["tax_rate_ids"] == []
