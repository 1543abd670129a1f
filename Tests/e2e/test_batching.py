"""Requests that wait together for one worker thread are taken together, and the first
statements of the GETs among them go to PostgreSQL in one round trip (API.prefetch).
Every request must still get exactly its own answer, whatever it is mixed with."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import requests

from conftest import Client, create_api_key, new_customer, new_plan, subscribe
from pool import Pool


def test_reads_taken_together_share_a_round_trip_and_each_gets_its_own_answer(api_key):
    setup = Client(api_key)
    plan = new_plan(setup)
    customers = [new_customer(setup, name=f"Batch {i} \u00e9\u6f22 '; DROP TABLE customers; --") for i in range(12)]
    for customer in customers[:4]:
        assert subscribe(setup, customer, plan).status_code == 201
    fresh_key = create_api_key("batching")  # not yet in any worker's cache: its check is batched too
    # One thread for 24 clients: requests queue up and are taken several at a time.
    pool = Pool(workers=1, threads=1)

    def client_loop(index):
        session = requests.Session()
        headers = {"Authorization": f"Bearer {fresh_key if index % 2 else api_key}"}
        wrong = []
        for n in range(30):
            customer = customers[(index + n) % len(customers)]
            kind = (index + n) % 6
            if kind <= 1:
                response = session.get(f"{pool.base}/customers/{customer['id']}", headers=headers, timeout=30)
                body = response.json()
                ok = response.status_code == 200 and body["id"] == customer["id"] and body["name"] == customer["name"]
            elif kind == 2:
                response = session.get(f"{pool.base}/customers/{uuid.uuid4()}", headers=headers, timeout=30)
                ok = response.status_code == 404 and response.json()["status"] == 404
            elif kind == 3:
                response = session.get(f"{pool.base}/invoices?customer_id={customer['id']}", headers=headers,
                                       timeout=30)
                data = response.json()["data"]
                expected = 1 if customers.index(customer) < 4 else 0
                ok = (response.status_code == 200 and len(data) == expected
                      and all(i["customer_id"] == customer["id"] and i["lines"] for i in data))
            elif kind == 4:
                response = session.get(f"{pool.base}/customers/{customer['id']}",
                                       headers={"Authorization": "Bearer wrong"}, timeout=30)
                ok = response.status_code == 401
            else:
                response = session.patch(f"{pool.base}/customers/{customer['id']}", json={"metadata": {"n": str(n)}},
                                         headers=headers, timeout=30)
                ok = response.status_code == 200 and response.json()["id"] == customer["id"]
            if not ok:
                wrong.append((kind, response.status_code, response.text[:200]))
        return wrong

    try:
        with ThreadPoolExecutor(max_workers=24) as executor:
            wrong = [w for result in executor.map(client_loop, range(24)) for w in result]
        assert wrong == []
        metrics = pool.metrics(api_key)
        round_trips = metrics["billing_prefetch_round_trips_total"]
        assert round_trips > 0, "no two reads were ever taken together"
        assert metrics["billing_prefetched_statements_total"] >= 2 * round_trips
    finally:
        pool.stop()
