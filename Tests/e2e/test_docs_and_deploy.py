"""Swagger UI and the OpenAPI document served by nginx; the container deployment files."""

import os
import re
import subprocess
import uuid

import requests
import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.versions import consts  # noqa: F401  (import proves the validator is installed)

from conftest import BASE_URL, REPO_ROOT


def test_docs_serve_swagger_ui():
    response = requests.get(BASE_URL + "/docs/", timeout=10)
    assert response.status_code == 200 and "swagger-ui" in response.text
    init = requests.get(BASE_URL + "/docs/swagger-initializer.js", timeout=10)
    assert init.status_code == 200 and '"/openapi.yaml"' in init.text
    bundle = requests.get(BASE_URL + "/docs/swagger-ui-bundle.js", timeout=10)
    assert bundle.status_code == 200 and len(bundle.content) > 100_000
    assert requests.get(BASE_URL + "/docs", timeout=10, allow_redirects=False).status_code == 301


def test_openapi_document_is_valid_openapi_3_1_and_covers_every_route():
    response = requests.get(BASE_URL + "/openapi.yaml", timeout=10)
    assert response.status_code == 200
    document = yaml.safe_load(response.text)
    assert document["openapi"].startswith("3.1")
    validate(document)
    routes = set()
    for path in os.listdir(f"{REPO_ROOT}/Sources/BillingAPI/Routes"):
        source = open(f"{REPO_ROOT}/Sources/BillingAPI/Routes/{path}").read()
        for method, route in re.findall(r'api\.write\("(\w+)", "([^"]+)"', source):
            routes.add((method.lower(), route))
        for route in re.findall(r'api\.read\("([^"]+)"', source):
            routes.add(("get", route))
    documented = {(m, p) for p, ops in document["paths"].items() for m in ops if m in ("get", "post", "patch", "delete")}
    assert routes - documented == set(), "routes missing from openapi.yaml"


def test_nginx_own_errors_are_problem_json():
    response = requests.get(BASE_URL + "/docs/missing.js", timeout=10)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["request_id"] == response.headers["X-Request-Id"]


def test_compose_file_references_existing_files_and_the_one_nginx_template():
    compose = yaml.safe_load(open(f"{REPO_ROOT}/compose.yaml"))
    services = compose["services"]
    assert {"postgres", "migrate", "app", "nginx"} <= set(services)
    assert "ports" not in services["postgres"], "PostgreSQL is never published"
    assert services["postgres"].get("healthcheck")
    assert services["nginx"]["ports"]
    for service in services.values():
        build = service.get("build")
        if build:
            context = build["context"] if isinstance(build, dict) else build
            dockerfile = build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
            assert os.path.exists(os.path.join(REPO_ROOT, context, dockerfile))
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert os.path.exists(os.path.join(REPO_ROOT, source)), source
    mounts = " ".join(services["nginx"]["volumes"])
    assert "./nginx/nginx.conf.template" in mounts


def test_every_request_example_does_what_a_person_trying_it_expects(client):
    """Swagger UI pre-fills these: sent unchanged (ids pasted where they say so) each must do
    the ordinary thing, now: nothing back-dated, no trial, no collision with the create."""
    document = yaml.safe_load(requests.get(BASE_URL + "/openapi.yaml", timeout=10).text)

    def example(path, method):
        return document["paths"][path][method]["requestBody"]["content"]["application/json"]["example"]

    customer = client.post("/customers", example("/customers", "post"))
    assert customer.status_code == 201, customer.text
    customer = customer.json()
    updated = client.patch(f"/customers/{customer['id']}", example("/customers/{id}", "patch"))
    assert updated.status_code == 200, updated.text
    plan = client.post("/plans", example("/plans", "post"))
    assert plan.status_code == 201, plan.text
    plan = plan.json()
    assert plan["amount_cents"] <= 100_000 and plan["trial_days"] == 0 and plan["interval"] == "month"
    assert client.patch(f"/plans/{plan['id']}", example("/plans/{id}", "patch")).status_code == 200

    body = example("/subscriptions", "post")
    assert set(body) == {"customer_id", "plan_id"}, "no back-dating, no trial"
    subscription = client.post("/subscriptions", {"customer_id": customer["id"], "plan_id": plan["id"]}).json()
    assert subscription["status"] == "active" and subscription["trial_end"] is None
    invoice = client.get(f"/invoices?subscription_id={subscription['id']}").json()["data"][0]
    paid = client.post(f"/invoices/{invoice['id']}/pay", example("/invoices/{id}/pay", "post"))
    assert paid.status_code == 200 and paid.json()["paid_at"] >= invoice["created_at"]
    run = client.post("/billing/run", example("/billing/run", "post"))
    assert run.status_code == 200 and run.json()["as_of"] >= invoice["created_at"]
    canceled = client.post(f"/subscriptions/{subscription['id']}/cancel",
                           example("/subscriptions/{id}/cancel", "post"))
    assert canceled.status_code == 200 and canceled.json()["cancel_at_period_end"] is True
    assert set(example("/subscriptions/{id}/change-plan", "post")) == {"plan_id", "prorate"}

    # Invoicing, taxes, coupons, credit notes and webhooks, each example sent as it stands
    # (ids pasted where it says so).
    def paste(body, **ids):
        return {k: ids.get(k, v) if isinstance(v, str) and v.startswith("<") else v for k, v in body.items()}

    buyer = client.post("/customers", {"email": f"{uuid.uuid4().hex}@example.com", "name": "Example"}).json()
    item = client.post("/invoice-items", paste(example("/invoice-items", "post"), customer_id=buyer["id"]) | {
        "currency": "EUR"})
    assert item.status_code == 201, item.text
    assert client.patch(f"/invoice-items/{item.json()['id']}", example("/invoice-items/{id}", "patch")).status_code == 200
    draft = client.post("/invoices", paste(example("/invoices", "post"), customer_id=buyer["id"]))
    assert draft.status_code == 201, draft.text
    assert client.patch(f"/invoices/{draft.json()['id']}", example("/invoices/{id}", "patch")).status_code == 200
    final = client.post(f"/invoices/{draft.json()['id']}/finalize").json()
    payment = client.post(f"/invoices/{final['id']}/payments", example("/invoices/{id}/payments", "post"))
    assert payment.status_code == 201, payment.text
    note = client.post("/credit-notes", paste(example("/credit-notes", "post"), invoice_id=final["id"]))
    assert note.status_code == 201, note.text
    rate = client.post("/tax-rates", example("/tax-rates", "post"))
    assert rate.status_code == 201, rate.text
    assert client.patch(f"/tax-rates/{rate.json()['id']}", example("/tax-rates/{id}", "patch")).status_code == 200
    # Codes are unique and the README's walkthrough creates the example's own (SPRING): the
    # example is sent with a code of its own, which the discount example then names.
    code = f"EX{uuid.uuid4().hex[:8].upper()}"
    coupon = client.post("/coupons", example("/coupons", "post") | {"code": code})
    assert coupon.status_code == 201, coupon.text
    second = client.post("/subscriptions", {"customer_id": buyer["id"], "plan_id": plan["id"]}).json()
    discount = example("/subscriptions/{id}/discount", "post")
    assert set(discount) == {"coupon"}
    discounted = client.post(f"/subscriptions/{second['id']}/discount", discount | {"coupon": code})
    assert discounted.status_code == 200, discounted.text
    paused = client.post(f"/subscriptions/{second['id']}/pause", example("/subscriptions/{id}/pause", "post"))
    assert paused.status_code == 200 and paused.json()["pause_collection"]["behavior"] == "void", paused.text
    assert client.post(f"/subscriptions/{second['id']}/unpause").status_code == 200
    hook = client.post("/webhook-endpoints", example("/webhook-endpoints", "post"))
    assert hook.status_code == 201, hook.text
    assert client.delete(f"/webhook-endpoints/{hook.json()['id']}").status_code == 200
    assert client.patch(f"/coupons/{coupon.json()['id']}", example("/coupons/{id}", "patch")).status_code == 200
    clock = client.post("/test-clocks", example("/test-clocks", "post"))
    assert clock.status_code == 201, clock.text
    advanced = client.post(f"/test-clocks/{clock.json()['id']}/advance", example("/test-clocks/{id}/advance", "post"))
    assert advanced.status_code == 200 and advanced.json()["status"] == "ready", advanced.text
    # Usage: the meter example with a code of its own (codes are unique), named by the event example.
    meter_code = f"ex_{uuid.uuid4().hex[:8]}"
    meter = client.post("/meters", example("/meters", "post") | {"code": meter_code})
    assert meter.status_code == 201, meter.text
    assert client.patch(f"/meters/{meter.json()['id']}", example("/meters/{id}", "patch")).status_code == 200
    batch = example("/usage-events", "post")
    batch = {"events": [paste(event, customer_id=buyer["id"]) | {"meter": meter_code} for event in batch["events"]]}
    recorded = client.post("/usage-events", batch)
    assert recorded.status_code == 200 and recorded.json() == {"accepted": 1, "duplicates": 0}, recorded.text


def test_the_readme_walkthrough_works_as_typed(api_key):
    readme = open(f"{REPO_ROOT}/README.md").read()
    block = readme.split("## API walkthrough", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    script = re.sub(r"^KEY=.*$", f"KEY={api_key}", block, count=1, flags=re.M)
    script = re.sub(r"^API=.*$", f"API={BASE_URL}", script, count=1, flags=re.M)
    assert script.count(api_key) == 1 and BASE_URL in script
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert '"cancellation_reason":"nonpayment"' in result.stdout
    assert '"status":"paid"' in result.stdout and '"kind":"proration"' in result.stdout
    assert '"discount_cents":1250' in result.stdout and '"tax_cents":1663' in result.stdout
    assert '"total_cents":10413' in result.stdout
    assert '"tax_cents":799' in result.stdout and '"amount_remaining_cents":5413' in result.stdout
    assert '{"accepted":0,"duplicates":2}' in result.stdout
    assert '"kind":"usage"' in result.stdout and '"amount_cents":494,"quantity":"1234567"' in result.stdout
