"""End-to-end tests: real nginx, the real FastCGI pool and a real PostgreSQL, started by
`make test` (scripts/stack.sh) and reached over loopback only."""

import os
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:18080")
DATABASE_URL = os.environ["DATABASE_URL"]  # the owner's: for checks the API cannot make
APP_DATABASE_URL = os.environ.get("APP_DATABASE_URL", DATABASE_URL)  # the service's least-privileged role
BILLING_BIN = os.environ["BILLING_BIN"]
REPO_ROOT = os.environ.get("REPO_ROOT", os.getcwd())
TIMEOUT = 30


def create_api_key(name="e2e"):
    out = subprocess.run(
        [BILLING_BIN, "api-key", "create", "--name", name, "--quiet", "--database-url", APP_DATABASE_URL],
        check=True, capture_output=True, text=True,
    )
    return out.stdout.strip()


def sql(query):
    """Runs one SQL statement through psql and returns its rows as lists of strings."""
    # On stdin rather than the command line: a statement listing many ids exceeds ARG_MAX.
    out = subprocess.run(
        ["psql", DATABASE_URL, "-AtX", "-F", "\t", "-v", "ON_ERROR_STOP=1"],
        input=query, capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr
    return [line.split("\t") for line in out.stdout.splitlines() if line]


class Client:
    """A thin requests wrapper that checks every response for the service's promises."""

    def __init__(self, key, base=BASE_URL):
        self.key = key
        self.base = base
        self.session = requests.Session()

    def request(self, method, path, json=None, headers=None, data=None, auth=True, **kwargs):
        h = {}
        if auth and self.key:
            h["Authorization"] = f"Bearer {self.key}"
        if json is not None:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        response = self.session.request(
            method, self.base + path, json=json, data=data, headers=h, timeout=TIMEOUT, **kwargs)
        assert response.status_code < 500 or response.status_code == 503, (
            f"{method} {path} -> {response.status_code}: {response.text}")
        assert response.headers.get("X-Request-Id"), "every response carries X-Request-Id"
        if response.status_code >= 400:
            assert response.headers["Content-Type"].startswith("application/problem+json"), response.text
            body = response.json()
            assert body["status"] == response.status_code
            assert body["title"] and body["type"] and "detail" in body
        return response

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, json=None, **kwargs):
        return self.request("POST", path, json=json, **kwargs)

    def patch(self, path, json=None, **kwargs):
        return self.request("PATCH", path, json=json, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)


@pytest.fixture(scope="session")
def api_key():
    return create_api_key()


@pytest.fixture()
def client(api_key):
    return Client(api_key)


def unique(prefix="x"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def new_customer(client, **fields):
    body = {"email": f"{unique('c')}@example.com", "name": "Test Customer"}
    body.update(fields)
    response = client.post("/customers", body)
    assert response.status_code == 201, response.text
    return response.json()


def new_plan(client, **fields):
    body = {"code": unique("plan"), "name": "Pro", "amount_cents": 2500, "currency": "EUR", "interval": "month"}
    body.update(fields)
    response = client.post("/plans", body)
    assert response.status_code == 201, response.text
    return response.json()


def subscribe(client, customer, plan, **fields):
    body = {"customer_id": customer["id"], "plan_id": plan["id"]}
    body.update(fields)
    return client.post("/subscriptions", body)


# Every number series in the database, each gapless and matched by its counter: the global
# ones (INV-…, CN-…) and each customer's (<prefix>-…, <prefix>-CN-…), whose numbers also
# carry their own customer's prefix. Tests share one database, whichever series they use.
NUMBER_SERIES_BROKEN = """
WITH global AS (
    SELECT (SELECT count(*) FROM invoices WHERE number LIKE 'INV-%') AS taken,
           (SELECT coalesce(max(substr(number, 5)::bigint), 0) FROM invoices WHERE number LIKE 'INV-%') AS top,
           (SELECT last_value FROM invoice_number_counter) AS last
    UNION ALL
    SELECT (SELECT count(*) FROM credit_notes WHERE number LIKE 'CN-%'),
           (SELECT coalesce(max(substr(number, 4)::bigint), 0) FROM credit_notes WHERE number LIKE 'CN-%'),
           (SELECT last_value FROM credit_note_number_counter)),
per_customer AS (
    SELECT (SELECT count(*) FROM invoices i WHERE i.customer_id = c.id AND i.number ~ '^[A-Z0-9]{8}-[0-9]') AS taken,
           (SELECT coalesce(max(split_part(i.number, '-', 2)::bigint), 0) FROM invoices i
            WHERE i.customer_id = c.id AND i.number ~ '^[A-Z0-9]{8}-[0-9]') AS top,
           c.invoice_number_last AS last
    FROM customers c
    UNION ALL
    SELECT (SELECT count(*) FROM credit_notes n WHERE n.customer_id = c.id AND n.number ~ '^[A-Z0-9]{8}-CN-'),
           (SELECT coalesce(max(split_part(n.number, '-', 3)::bigint), 0) FROM credit_notes n
            WHERE n.customer_id = c.id AND n.number ~ '^[A-Z0-9]{8}-CN-'),
           c.credit_note_number_last
    FROM customers c)
SELECT (SELECT count(*) FROM (SELECT * FROM global UNION ALL SELECT * FROM per_customer) s
        WHERE taken <> top OR top <> last)
     + (SELECT count(*) FROM invoices i JOIN customers c ON c.id = i.customer_id
        WHERE i.number !~ '^INV-' AND split_part(i.number, '-', 1) <> c.invoice_prefix)
     + (SELECT count(*) FROM credit_notes n JOIN customers c ON c.id = n.customer_id
        WHERE n.number !~ '^CN-' AND split_part(n.number, '-', 1) <> c.invoice_prefix)
"""


def assert_number_series_gapless():
    """No gap, no duplicate, no number taken and not used, in any series."""
    assert sql(NUMBER_SERIES_BROKEN) == [["0"]], "a number series has a gap, a duplicate or an unused number"


def fire(count, call):
    """`call(i)` for i in 0…count-1, all at once on as many threads."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(call, range(count)))
