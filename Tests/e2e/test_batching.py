"""Requests that wait together for one worker thread are taken together, and the first
statements of the GETs among them go to PostgreSQL in one round trip (API.prefetch).
Every request must still get exactly its own answer, whatever it is mixed with."""

import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests

from conftest import DATABASE_URL, Client, create_api_key, new_customer, new_plan, subscribe
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


def test_reads_taken_together_that_the_database_never_answers_trip_the_request_timeout(api_key):
    """The shared round trip counts as a busy thread: a database that stops answering it
    gets the worker replaced after --request-timeout, as for a single request."""
    setup = Client(api_key)
    customer = new_customer(setup)
    plan = new_plan(setup)
    pool = Pool(workers=1, threads=1, extra=("--request-timeout", "2"))
    headers = {"Authorization": f"Bearer {api_key}"}
    lockers = []
    try:
        # Warm nginx's cache of kept connections, so that the reads below arrive on open
        # connections at once (a new connection is accepted one at a time).
        with ThreadPoolExecutor(max_workers=8) as executor:
            warm = [executor.submit(requests.get, f"{pool.base}/customers/{customer['id']}", headers=headers,
                                    timeout=10) for _ in range(64)]
            assert all(w.result().status_code == 200 for w in warm)
        # The one thread is held by a PATCH waiting 1.5 s on the plan's row lock, while the
        # reads queue up behind it; then it takes them together, and their statements wait
        # on a lock that outlives the timeout.
        lockers.append(subprocess.Popen(
            ["psql", DATABASE_URL, "-qX", "-c",
             f"BEGIN; SELECT 1 FROM plans WHERE id = '{plan['id']}' FOR UPDATE; SELECT pg_sleep(1.5); COMMIT;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        lockers.append(subprocess.Popen(
            ["psql", DATABASE_URL, "-qX", "-c",
             "BEGIN; LOCK TABLE customers IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(8); COMMIT;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(0.3)
        with ThreadPoolExecutor(max_workers=7) as executor:
            patch = executor.submit(requests.patch, f"{pool.base}/plans/{plan['id']}", json={"name": "Held"},
                                    headers=headers, timeout=30)
            time.sleep(0.3)
            reads = [executor.submit(requests.get, f"{pool.base}/customers/{customer['id']}", headers=headers,
                                     timeout=30) for _ in range(6)]
            statuses = [read.result().status_code for read in reads]
        assert patch.result().status_code == 200
        # The reads taken together failed with their worker (502, a GET nginx may retry);
        # any that reached the replacement worker later were answered once the lock went.
        assert statuses.count(502) >= 2 and set(statuses) <= {200, 502}, statuses
        assert pool.status(api_key)["pool"]["restarts"]["timeout"] >= 1
        log = pool.read_log()
        assert "request timed out" in log and "requests taken together" in log
    finally:
        for locker in lockers:
            locker.wait(timeout=30)
        pool.stop()
