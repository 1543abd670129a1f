"""The OpenAPI document as clients use it: openapi-python-client generates a client from
/openapi.yaml with no schema dropped, and the seed flow runs through that client, every
documented answer parsed into its typed model."""

import importlib
import subprocess
import sys
import uuid

import requests

from conftest import BASE_URL


def generate(tmp_path):
    spec = tmp_path / "openapi.yaml"
    spec.write_bytes(requests.get(BASE_URL + "/openapi.yaml", timeout=10).content)
    config = tmp_path / "config.yaml"
    config.write_text("post_hooks: []\n")
    result = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(spec), "--meta", "none",
         "--output-path", str(tmp_path / "billing_client"), "--config", str(config)],
        capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    # Any schema the generator could not read is reported, and its operations lose their types.
    assert "Unable to" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(tmp_path))
    return importlib.import_module("billing_client")


def test_a_generated_client_runs_the_seed_flow(tmp_path, api_key):
    client_module = generate(tmp_path)
    api = importlib.import_module("billing_client.api")
    models = importlib.import_module("billing_client.models")
    ops = {name: importlib.import_module(f"billing_client.api.{group}.{name}") for group, name in [
        ("customers", "create_customer"), ("customers", "list_customers"), ("customers", "list_customer_invoices"),
        ("plans", "create_plan"), ("plans", "list_plans"), ("subscriptions", "create_subscription"),
        ("subscriptions", "list_subscriptions"), ("subscriptions", "change_subscription_plan"),
        ("subscriptions", "cancel_subscription"), ("invoices", "list_invoices"), ("invoices", "pay_invoice"),
        ("events", "list_events"), ("billing", "run_billing")]}
    assert api
    client = client_module.AuthenticatedClient(base_url=BASE_URL, token=api_key, raise_on_unexpected_status=True)

    customer = ops["create_customer"].sync(
        client=client, body=models.CustomerCreate(email=f"{uuid.uuid4().hex[:10]}@example.com", name="Generated"))
    basic = ops["create_plan"].sync(client=client, body=models.PlanCreate(
        code=uuid.uuid4().hex[:10], name="Basic", amount_cents=1000, currency=models.Currency.EUR, interval=models.Interval.MONTH))
    pro = ops["create_plan"].sync(client=client, body=models.PlanCreate(
        code=uuid.uuid4().hex[:10], name="Pro", amount_cents=3000, currency=models.Currency.EUR, interval=models.Interval.MONTH))
    subscription = ops["create_subscription"].sync(
        client=client, body=models.SubscriptionCreate(customer_id=customer.id, plan_id=basic.id))
    assert subscription.status == models.SubscriptionStatus.ACTIVE

    invoice = ops["list_customer_invoices"].sync(client=client, id=customer.id).data[0]
    assert isinstance(invoice, models.Invoice) and invoice.amount_cents == 1000
    paid = ops["pay_invoice"].sync(client=client, id=invoice.id)
    assert paid.status == models.InvoiceStatus.PAID

    changed = ops["change_subscription_plan"].sync(
        client=client, id=subscription.id, body=models.SubscriptionChangePlan(plan_id=pro.id))
    assert changed.plan_id == pro.id and changed.invoice is not None
    summary = ops["run_billing"].sync(client=client, body=models.BillingRunRequest())
    assert summary.invoices_created >= 0
    canceled = ops["cancel_subscription"].sync(
        client=client, id=subscription.id, body=models.SubscriptionCancel(at_period_end=True))
    assert canceled.cancel_at_period_end is True

    # Every list answers its typed page.
    for name, model in [("list_customers", models.Customer), ("list_plans", models.Plan),
                        ("list_subscriptions", models.Subscription), ("list_invoices", models.Invoice),
                        ("list_events", models.Event)]:
        page = ops[name].sync(client=client, limit=2)
        assert page is not None and len(page.data) == 2, name
        assert all(isinstance(item, model) for item in page.data), (name, type(page.data[0]))
        assert isinstance(page.has_more, bool)
