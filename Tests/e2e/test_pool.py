"""The pool as operators use it, under load: reload, crash, bad deploy, drain, recycling,
request timeout, a PostgreSQL restart, status and metrics. Loopback only, bounded in time."""

import http.client
import os
import signal
import socket
import subprocess
import threading
import time
import uuid

import pytest
import requests

from conftest import DATABASE_URL, Client, new_customer, sql
from pool import Background, Pool

PGBIN = sorted(d for d in os.listdir("/usr/lib/postgresql"))[-1]


class Load(Background):
    """Clients keeping `threads` concurrent requests busy: reads and idempotent-keyed
    writes, each result recorded."""

    def __init__(self, base, key, customer_id, threads=6, writes=True):
        self.base, self.key, self.customer_id, self.writes = base, key, customer_id, writes
        self.statuses = {}
        self.errors = []
        self.acknowledged = []
        super().__init__(threads)

    def loop(self, index):
        session = requests.Session()
        headers = {"Authorization": f"Bearer {self.key}"}
        n = 0
        while not self.stop_event.is_set():
            n += 1
            try:
                if self.writes and n % 2 == 0:
                    email = f"load-{uuid.uuid4().hex}@example.com"
                    response = session.post(self.base + "/customers", json={"email": email, "name": "Load"},
                                            headers={**headers, "Idempotency-Key": email}, timeout=30)
                    if response.status_code == 201:
                        with self.lock:
                            self.acknowledged.append(response.json()["id"])
                else:
                    response = session.get(f"{self.base}/customers/{self.customer_id}", headers=headers, timeout=30)
                with self.lock:
                    self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
            except requests.RequestException as error:
                with self.lock:
                    self.errors.append(repr(error))

    @property
    def total(self):
        return sum(self.statuses.values())

    def non_2xx(self):
        return {code: count for code, count in self.statuses.items() if code >= 300}


def assert_all_in_database(ids):
    if not ids:
        return
    found = sql("SELECT count(*) FROM customers WHERE id IN (" + ",".join(f"'{i}'" for i in ids) + ")")
    assert found == [[str(len(ids))]], "an acknowledged write is missing"


@pytest.fixture()
def customer(client):
    return new_customer(client)


def test_reload_five_times_under_load_fails_nothing(api_key, customer):
    pool = Pool(workers=2, threads=3)
    try:
        with Load(pool.base, api_key, customer["id"]) as load:
            time.sleep(0.5)
            for _ in range(5):
                result = pool.reload()
                assert result.returncode == 0, result.stdout + result.stderr + pool.read_log()
                time.sleep(0.3)
        assert load.errors == [], load.errors[:5]
        assert load.non_2xx() == {}, load.statuses
        assert load.total > 100
        assert_all_in_database(load.acknowledged)
        status = pool.status(api_key)
        assert status["pool"]["generation"] == 6 and status["pool"]["reloads"] == 5
        assert {w["generation"] for w in status["workers"] if w["state"] == "ready"} == {6}
    finally:
        pool.stop()


def test_kept_alive_connections_never_starve_a_pool(api_key, customer):
    """nginx keeps up to 64 idle connections to the pool open, far more than the pool has
    threads. Each thread watches all of its connections instead of blocking on one, so 32
    concurrent clients over two pools of 2 threads behind one upstream are all answered,
    by both pools."""
    second = Pool(workers=1, threads=2)
    first = Pool(workers=1, threads=2, also_upstream=[second.socket])
    try:
        before = second.status(api_key)["pool"]["accepted_requests"]
        with Load(first.base, api_key, customer["id"], threads=32, writes=False) as load:
            time.sleep(3)
        assert load.errors == [], load.errors[:5]
        assert load.non_2xx() == {} and load.total > 100, load.statuses
        assert second.status(api_key)["pool"]["accepted_requests"] - before > 10, "the second pool served requests"
    finally:
        first.stop()
        second.stop()


def test_a_peer_stalling_mid_request_does_not_hold_the_thread(api_key):
    """A local process that connects to the pool's socket and stops halfway through a
    FastCGI record has its connection closed after a few seconds, and the one thread it
    held serves nginx again."""
    pool = Pool(workers=1, threads=1)
    stalled = socket.socket(socket.AF_UNIX)
    try:
        stalled.settimeout(30)
        stalled.connect(pool.socket)
        stalled.sendall(b"\x01\x01\x00\x01")  # half of a record header
        time.sleep(0.2)
        assert requests.get(pool.base + "/health", timeout=30).status_code == 200
        assert stalled.recv(1) == b"", "the worker closed the stalled connection"
    finally:
        stalled.close()
        pool.stop()


def test_a_killed_worker_is_replaced_within_a_second(api_key, customer):
    pool = Pool(workers=3, threads=2)
    try:
        with Load(pool.base, api_key, customer["id"], threads=4, writes=False) as load:
            time.sleep(0.3)
            victim = pool.status(api_key)["workers"][0]["pid"]
            os.kill(victim, signal.SIGKILL)
            killed_at = time.time()
            replaced = None
            while time.time() - killed_at < 5:
                workers = pool.status(api_key)["workers"]
                ready = [w for w in workers if w["state"] == "ready"]
                if victim not in [w["pid"] for w in workers] and len(ready) == 3:
                    replaced = time.time() - killed_at
                    break
                time.sleep(0.02)
            time.sleep(0.3)
        assert replaced is not None and replaced < 1.0, replaced
        # Only requests the dead worker held can fail (two threads: at most two).
        failed = len(load.errors) + sum(load.non_2xx().values())
        assert failed <= 2, (load.errors, load.statuses)
        status = pool.status(api_key)["pool"]
        assert status["restarts"]["crash"] == 1
        # Requests the dead worker held are not counted as busy for ever.
        assert status["active_threads"] <= 1 and status["active_threads"] + status["idle_threads"] == 6
    finally:
        pool.stop()


def test_a_bad_deploy_is_abandoned_and_the_old_generation_serves(api_key, customer, tmp_path):
    pool = Pool(workers=2, threads=2)
    try:
        broken = tmp_path / "broken"
        broken.write_text("#!/bin/sh\nexit 1\n")
        pool.replace_binary(str(broken))
        with Load(pool.base, api_key, customer["id"], threads=3, writes=False) as load:
            result = pool.reload()
            time.sleep(0.3)
        assert result.returncode == 1 and "reload failed" in result.stdout
        assert load.errors == [] and load.non_2xx() == {}
        status = pool.status(api_key)["pool"]
        assert status["generation"] == 1 and status["reloads_failed"] == 1 and status["last_reload"] == "failed"
        assert "reload failed" in pool.read_log()
        pool.replace_binary(os.environ["BILLING_BIN"])
        assert pool.reload().returncode == 0
        assert pool.status(api_key)["pool"]["generation"] == 3
    finally:
        pool.stop()


def hold_row_lock(customer_id, seconds):
    """A transaction holding the customer's row lock: a PATCH on it runs that long."""
    return subprocess.Popen(
        ["psql", DATABASE_URL, "-qX", "-c",
         f"BEGIN; SELECT 1 FROM customers WHERE id = '{customer_id}' FOR UPDATE; SELECT pg_sleep({seconds}); COMMIT;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_a_slow_request_holds_up_no_other_connection(api_key, customer):
    """With nginx keeping several connections to a worker, a request stuck on a row lock
    occupies one thread, and every request nginx sends meanwhile, on whichever kept
    connection, is served by the other thread before the slow one ends."""
    pool = Pool(workers=1, threads=2)
    try:
        # Warm nginx's cache of kept connections to the worker.
        with Load(pool.base, api_key, customer["id"], threads=8, writes=False):
            time.sleep(0.5)
        locker = hold_row_lock(customer["id"], 4)
        time.sleep(0.3)
        finished = threading.Event()

        def patch():
            requests.patch(f"{pool.base}/customers/{customer['id']}", json={"name": "Slow"},
                           headers={"Authorization": f"Bearer {api_key}"}, timeout=30)
            finished.set()

        slow = threading.Thread(target=patch)
        slow.start()
        time.sleep(0.3)
        # Concurrent reads, so that nginx sends them on several kept connections at once.
        with Load(pool.base, api_key, customer["id"], threads=8, writes=False) as reads:
            time.sleep(1)
        assert reads.errors == [] and reads.non_2xx() == {} and reads.total > 50, reads.statuses
        assert not finished.is_set(), "the reads were served while the slow request was still running"
        slow.join(timeout=30)
        locker.wait(timeout=30)
        assert finished.is_set()
    finally:
        pool.stop()


def test_sigterm_lets_the_request_in_flight_finish(api_key, customer):
    pool = Pool(workers=1, threads=2)
    try:
        locker = hold_row_lock(customer["id"], 2)
        time.sleep(0.3)
        result = {}

        def patch():
            result["response"] = requests.patch(
                f"{pool.base}/customers/{customer['id']}", json={"name": "Drained"},
                headers={"Authorization": f"Bearer {api_key}"}, timeout=30)

        request = threading.Thread(target=patch)
        request.start()
        time.sleep(0.5)
        pool.process.send_signal(signal.SIGTERM)
        request.join(timeout=30)
        locker.wait(timeout=30)
        assert result["response"].status_code == 200 and result["response"].json()["name"] == "Drained"
        assert pool.process.wait(timeout=30) == 0
    finally:
        pool.stop()


def test_max_requests_recycles_workers_without_failures(api_key, customer):
    pool = Pool(workers=1, threads=2, extra=("--max-requests", "20"))
    try:
        # A worker past its limit stops accepting at once but serves the connections nginx
        # keeps open to it until nginx retires them (upstream keepalive_time, 5 s): closing
        # one itself could meet a request in flight. So recycling takes seconds, not requests.
        session = requests.Session()
        statuses, status = [], {}
        deadline = time.time() + 40
        while time.time() < deadline:
            statuses += [session.get(pool.base + "/health", timeout=30).status_code for _ in range(10)]
            status = pool.status(api_key)["pool"]
            if status["restarts"]["recycle"] >= 2:
                break
            time.sleep(0.2)
        assert set(statuses) == {200}
        assert status["restarts"]["recycle"] >= 2 and status["restarts"]["crash"] == 0
    finally:
        pool.stop()


def test_a_request_past_the_timeout_is_logged_and_its_worker_replaced(api_key, customer):
    pool = Pool(workers=1, threads=2, extra=("--request-timeout", "1"))
    try:
        locker = hold_row_lock(customer["id"], 4)
        time.sleep(0.3)
        request_id = None
        response = requests.patch(f"{pool.base}/customers/{customer['id']}", json={"name": "Slow"},
                                  headers={"Authorization": f"Bearer {api_key}"}, timeout=30)
        request_id = response.headers["X-Request-Id"]
        assert response.status_code == 502, "the worker holding it was replaced"
        assert response.headers["Content-Type"] == "application/problem+json"
        locker.wait(timeout=30)
        pool.wait_healthy()
        log = pool.read_log()
        assert "request timed out" in log and request_id in log and f"/customers/{customer['id']}" in log
        assert pool.status(api_key)["pool"]["restarts"]["timeout"] == 1
        assert Client(api_key).get(f"/customers/{customer['id']}").json()["name"] != "Slow"
    finally:
        pool.stop()


def test_postgres_restart_under_load_recovers_and_loses_no_write(api_key, customer):
    pool = Pool(workers=2, threads=2)
    home = subprocess.run(["scripts/stack.sh", "home", os.environ["STACK_DIR"]], capture_output=True, text=True,
                          cwd=os.environ["REPO_ROOT"]).stdout.strip()
    pg_ctl = [f"/usr/lib/postgresql/{PGBIN}/bin/pg_ctl", "-D", f"{home}/pg", "-w", "-t", "60"]
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    try:
        with Load(pool.base, api_key, customer["id"], threads=4) as load:
            time.sleep(0.5)
            subprocess.run(as_postgres + pg_ctl + ["-m", "fast", "stop"], check=True, capture_output=True)
            time.sleep(1.0)
            options = f"-c listen_addresses='' -k {home}/pg-socket"
            subprocess.run(as_postgres + pg_ctl + ["-l", f"{home}/pg/server.log", "-o", options, "start"],
                           check=True, capture_output=True)
            time.sleep(1.5)
            recovered_from = load.total
        assert load.errors == [], load.errors[:3]
        assert set(load.statuses) <= {200, 201, 503}, load.statuses
        assert load.statuses.get(503, 0) > 0, "requests during the outage get 503"
        # After the restart everything succeeds again.
        session = requests.Session()
        for _ in range(20):
            assert session.get(f"{pool.base}/customers/{customer['id']}",
                               headers={"Authorization": f"Bearer {api_key}"}, timeout=10).status_code == 200
        assert_all_in_database(load.acknowledged)
        assert pool.status(api_key)["pool"]["database_errors"] > 0
        assert recovered_from > 0
    finally:
        pool.stop()


def test_status_and_metrics_count_what_was_sent(api_key):
    pool = Pool(workers=2, threads=2)
    try:
        route = 'billing_requests_total{route="GET /plans/{id}",status="4xx"}'
        before = pool.metrics(api_key).get(route, 0)
        accepted = pool.status(api_key)["pool"]["accepted_requests"]
        session = requests.Session()
        for _ in range(25):
            session.get(f"{pool.base}/plans/{uuid.uuid4()}", headers={"Authorization": f"Bearer {api_key}"}, timeout=10)
        after = pool.metrics(api_key)
        assert after[route] - before == 25
        assert pool.status(api_key)["pool"]["accepted_requests"] - accepted == 25 + 2  # + the /metrics and /status reads
        assert after['billing_request_duration_seconds_bucket{le="+Inf"}'] == after["billing_request_duration_seconds_count"]
        assert after["billing_workers"] == 2 and after['billing_threads{state="idle"}'] + after['billing_threads{state="busy"}'] == 4
        assert requests.get(pool.base + "/status", timeout=10).status_code == 401
    finally:
        pool.stop()


def test_status_and_metrics_are_refused_to_non_loopback_clients(api_key):
    pool = Pool(workers=1, threads=1, listen_also="127.0.0.2")
    try:
        for path in ("/status", "/metrics"):
            connection = http.client.HTTPConnection("127.0.0.2", pool.port, source_address=("127.0.0.2", 0), timeout=10)
            connection.request("GET", path, headers={"Authorization": f"Bearer {api_key}"})
            response = connection.getresponse()
            assert response.status == 403 and response.getheader("Content-Type") == "application/problem+json"
            connection.close()
        config = open(pool.nginx_conf).read()
        assert "allow 127.0.0.1;" in config and "deny all;" in config
    finally:
        pool.stop()
