"""Usage events under crashes (usage.md): workers killed and PostgreSQL crashed during a
sustained ingestion lose no acknowledged event, store none twice, never half a batch, and
leave running totals equal to a fresh aggregation of the events. Loopback only, bounded."""

import random
import time
import uuid

import requests

from conftest import sql
from pool import Background, Pool, crash_under_load
from test_usage import assert_totals_match_events, new_meter, usage_plan


class Ingesters(Background):
    """Threads that send batches of 200 events with ids of their own, each batch retried
    as it stands until it is answered: a retry after a crash counts what the first try
    stored as duplicates. Every batch sent is recorded with its ids and its total value."""

    def __init__(self, base, key, meter, customers, threads=4):
        self.base, self.key, self.meter, self.customers = base, key, meter, customers
        self.batches, self.accepted, self.retried = [], 0, 0
        super().__init__(threads)

    def loop(self, index):
        session = requests.Session()
        headers = {"Authorization": f"Bearer {self.key}"}
        while not self.stop_event.is_set():
            tag = uuid.uuid4().hex[:12]
            customer = random.choice(self.customers)
            events = [{"id": f"{tag}-{i}", "meter": self.meter["code"], "customer_id": customer,
                       "properties": {"amount": i % 7}} for i in range(200)]
            with self.lock:
                self.batches.append((customer, tag, sum(i % 7 for i in range(200))))
            for attempt in range(600):
                try:
                    response = session.post(f"{self.base}/usage-events", json={"events": events}, headers=headers,
                                            timeout=30)
                    if response.status_code == 200:
                        with self.lock:
                            self.accepted += response.json()["accepted"]
                            self.retried += attempt > 0
                        break
                    assert response.status_code in (502, 503, 504), response.text
                except requests.RequestException:
                    pass
                time.sleep(0.1)
            else:
                raise AssertionError("a batch was never answered")


def test_killed_workers_and_a_crashed_postgres_lose_and_double_no_usage_event(client, api_key):
    meter = new_meter(client, "sum")
    plan = usage_plan(client, {"meter_id": meter["id"], "model": "per_unit", "unit_amount": "1"})
    customers = []
    for _ in range(8):
        customer = client.post("/customers", {"email": f"{uuid.uuid4().hex}@example.com", "name": "Metered"}).json()
        assert client.post("/subscriptions", {"customer_id": customer["id"], "plan_id": plan["id"]}).status_code == 201
        customers.append(customer["id"])
    pool = Pool(workers=2, threads=2)
    try:
        with Ingesters(pool.base, api_key, meter, customers) as ingesters:
            crash_under_load(pool, api_key)
    finally:
        pool.stop()
    batches = ingesters.batches
    assert len(batches) >= 10, "the ingesters got something done"
    # Every batch sent was answered, and is stored whole, each event once.
    stored = sql(f"""SELECT split_part(id, '-', 1), count(*), sum(value) FROM usage_events
                     WHERE meter_id = '{meter['id']}' GROUP BY 1""")
    by_tag = {tag: (int(count), int(total)) for tag, count, total in stored}
    assert {tag: by_tag.get(tag) for _, tag, _ in batches} == {tag: (200, total) for _, tag, total in batches}
    assert sum(count for count, _ in by_tag.values()) == 200 * len(batches)
    # A try stored and answered too late counts its events as duplicates on the retry: the
    # answers never count an event twice, and the crashes did cut tries short.
    assert ingesters.accepted <= 200 * len(batches) and ingesters.retried > 0
    assert_totals_match_events()
    quantities = sql(f"""SELECT sum(t.value_sum) FROM usage_totals t WHERE t.meter_id = '{meter['id']}'""")
    assert quantities == [[str(sum(total for _, _, total in batches))]]
