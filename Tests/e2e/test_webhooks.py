"""webhooks.md with a real receiver on loopback: a pool that accepts http:// and private
addresses (WEBHOOK_ALLOW_HTTP=1, WEBHOOK_ALLOW_PRIVATE=1, short retry schedule) and its own
supervised sender; signatures checked by Python's own HMAC; the SSRF rule through the main
stack, which allows neither."""

import hashlib
import hmac
import json
import subprocess
import threading
import time

import pytest

from conftest import DATABASE_URL, Client, fire, new_customer, new_plan, sql
from pool import Pool
from webhook_receiver import Receiver, endpoint, forget_endpoints

SCHEDULE = "1,1,2"


@pytest.fixture(scope="module")
def hooks_pool():
    forget_endpoints()
    pool = Pool(workers=1, threads=4, webhook_sender=True,
                env={"WEBHOOK_ALLOW_HTTP": "1", "WEBHOOK_ALLOW_PRIVATE": "1", "WEBHOOK_RETRY_SCHEDULE": SCHEDULE,
                     "WEBHOOK_DISABLE_AFTER": "3"})
    yield pool
    pool.stop()
    # The endpoints' receivers are gone: later tests' events go nowhere.
    forget_endpoints()


@pytest.fixture()
def hooks(api_key, hooks_pool):
    # Each test's endpoints only: the earlier tests' receivers are gone.
    forget_endpoints()
    return Client(api_key, base=hooks_pool.base)


@pytest.fixture()
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


def signatures(header):
    parts = [p.split("=", 1) for p in header.split(",")]
    return next(v for k, v in parts if k == "t"), [v for k, v in parts if k == "v1"]


def verify(request, secret):
    """The receiver's side, as the README shows it: Stripe's scheme with Python's hmac."""
    t, v1s = signatures(request["headers"]["Billing-Signature"])
    expected = hmac.new(secret.encode(), f"{t}.".encode() + request["body"], hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v) for v in v1s)


def delivery_of(client, endpoint_id, event_type, timeout=20, status=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        data = client.get(f"/webhook-endpoints/{endpoint_id}/deliveries").json()["data"]
        found = [d for d in data if d["event_type"] == event_type and (status is None or d["status"] == status)]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no {status or ''} delivery of {event_type}")


def test_a_signed_delivery_is_the_event_byte_for_byte(hooks, receiver):
    hook = endpoint(hooks, receiver.url)
    assert hook["secret"].startswith("whsec_") and len(hook["secret"]) == 6 + 43
    customer = new_customer(hooks)
    request = [r for r in receiver.wait_for("customer.created", timeout=15)
               if json.loads(r["body"])["data"]["id"] == customer["id"]][0]
    event = json.loads(request["body"])
    shown = hooks.get(f"/events/{event['id']}")
    assert shown.status_code == 200 and shown.content == request["body"]
    assert verify(request, hook["secret"])
    headers = request["headers"]
    assert headers["Content-Type"] == "application/json" and headers["Billing-Event-Id"] == event["id"]
    assert headers["User-Agent"].startswith("billing-webhooks/")
    delivery = hooks.get(f"/webhook-deliveries/{headers['Billing-Delivery-Id']}").json()
    deadline = time.time() + 10
    while delivery["status"] == "pending" and time.time() < deadline:
        time.sleep(0.1)
        delivery = hooks.get(f"/webhook-deliveries/{headers['Billing-Delivery-Id']}").json()
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("succeeded", 1, 200)
    assert delivery["next_attempt_at"] is None and delivery["last_response_excerpt"] == "ok"
    # The secret is in no read, list or event.
    for text in (hooks.get(f"/webhook-endpoints/{hook['id']}").text, hooks.get("/webhook-endpoints").text,
                 hooks.get("/events?type=webhook_endpoint.created").text):
        assert hook["secret"] not in text and "secret" not in json.loads(text).get("data", [json.loads(text)])[0]


def test_only_the_types_an_endpoint_asked_for(hooks, receiver):
    hook = endpoint(hooks, receiver.url, types=["plan.created"])
    new_customer(hooks)
    plan = new_plan(hooks)
    received = receiver.wait_for("plan.created")
    assert json.loads(received[0]["body"])["data"]["id"] == plan["id"]
    time.sleep(0.5)
    assert {json.loads(r["body"])["type"] for r in receiver.requests} == {"plan.created"}
    assert hooks.delete(f"/webhook-endpoints/{hook['id']}").json() == {"id": hook["id"], "deleted": True}


def test_a_receiver_that_fails_twice_gets_three_attempts_on_the_schedule(hooks):
    """Failing for about a second, less than WEBHOOK_DISABLE_AFTER: the endpoint stays."""
    receiver = Receiver(answers=[500, 503])
    try:
        hook = endpoint(hooks, receiver.url, types=["plan.created"])
        new_plan(hooks)
        received = receiver.wait_for("plan.created", count=3, timeout=20)
        gaps = [b["at"] - a["at"] for a, b in zip(received, received[1:])]
        assert all(0.85 <= gap <= 2.5 for gap in gaps), gaps  # 1 s ± 10%, plus the sender's polling
        assert len({r["headers"]["Billing-Delivery-Id"] for r in received}) == 1
        delivery = delivery_of(hooks, hook["id"], "plan.created", status="succeeded")
        assert delivery["attempts"] == 3 and delivery["last_status_code"] == 200
    finally:
        receiver.close()


def test_an_endpoint_that_always_fails_is_retried_then_failed_and_disabled(hooks):
    """Four attempts 1, 1 and 2 s apart: failing for longer than WEBHOOK_DISABLE_AFTER (3 s)
    by the last one only."""
    receiver = Receiver(answers=[500] * 10)
    try:
        hook = endpoint(hooks, receiver.url, types=["plan.created"])
        new_plan(hooks)
        delivery = delivery_of(hooks, hook["id"], "plan.created", status="failed", timeout=20)
        assert delivery["attempts"] == 4 and delivery["last_status_code"] == 500 and delivery["next_attempt_at"] is None
        shown = hooks.get(f"/webhook-endpoints/{hook['id']}").json()
        assert shown["disabled"] is True and shown["disabled_reason"] == "failing"
        disabled = hooks.get("/events?type=webhook_endpoint.disabled").json()["data"]
        assert any(e["data"]["id"] == hook["id"] for e in disabled)
        # A manual retry makes one more attempt now and answers once it is over.
        receiver.answers.clear()
        retried = hooks.post(f"/webhook-deliveries/{delivery['id']}/retry")
        assert retried.status_code == 200, retried.text
        assert (retried.json()["status"], retried.json()["attempts"]) == ("succeeded", 5)
    finally:
        receiver.close()


def test_a_rotated_secret_signs_beside_the_old_one_until_it_expires(hooks, receiver):
    hook = endpoint(hooks, receiver.url, types=["plan.created"])
    rotated = hooks.post(f"/webhook-endpoints/{hook['id']}/rotate-secret", {"expire_old_after_seconds": 3600}).json()
    assert rotated["secret"] != hook["secret"]
    new_plan(hooks)
    request = receiver.wait_for("plan.created")[0]
    assert len(signatures(request["headers"]["Billing-Signature"])[1]) == 2
    assert verify(request, hook["secret"]) and verify(request, rotated["secret"])
    # A second rotation drops the oldest at once: never more than two.
    third = hooks.post(f"/webhook-endpoints/{hook['id']}/rotate-secret", {"expire_old_after_seconds": 0}).json()
    new_plan(hooks)
    request = receiver.wait_for("plan.created", count=2)[1]
    assert len(signatures(request["headers"]["Billing-Signature"])[1]) == 1 and verify(request, third["secret"])


def test_a_deleted_or_disabled_endpoint_gets_nothing_more(hooks, receiver):
    gone = endpoint(hooks, receiver.url, types=["plan.created"])
    paused = endpoint(hooks, receiver.url, types=["plan.updated"])
    assert hooks.delete(f"/webhook-endpoints/{gone['id']}").status_code == 200
    assert hooks.get(f"/webhook-endpoints/{gone['id']}").status_code == 404
    assert hooks.patch(f"/webhook-endpoints/{paused['id']}", {"disabled": True}).json()["disabled_reason"] == "requested"
    plan = new_plan(hooks)
    hooks.patch(f"/plans/{plan['id']}", {"name": "Renamed"})
    time.sleep(1.5)
    assert receiver.requests == []
    assert sql(f"SELECT count(*) FROM webhook_deliveries WHERE endpoint_id IN ('{gone['id']}', '{paused['id']}')") == [["0"]]


def test_an_endpoint_row_is_never_deleted_so_every_delivery_keeps_its_endpoint(hooks, receiver):
    # Deliveries name their endpoint without a foreign key (sql/0025): the row must stay.
    hook = endpoint(hooks, receiver.url, types=["plan.created"])
    new_plan(hooks)
    receiver.wait_for("plan.created")
    assert hooks.delete(f"/webhook-endpoints/{hook['id']}").status_code == 200
    assert sql(f"SELECT deleted_at IS NOT NULL FROM webhook_endpoints WHERE id = '{hook['id']}'") == [["t"]]
    for statement in [f"DELETE FROM webhook_endpoints WHERE id = '{hook['id']}'", "TRUNCATE webhook_endpoints CASCADE"]:
        out = subprocess.run(["psql", DATABASE_URL, "-AtX", "-c", statement], capture_output=True, text=True)
        assert out.returncode != 0 and "webhook endpoints are never deleted" in out.stderr, out.stderr
    assert sql(f"""SELECT count(*) FROM webhook_deliveries d LEFT JOIN webhook_endpoints w ON w.id = d.endpoint_id
                   WHERE w.id IS NULL""") == [["0"]]


def test_a_slow_endpoint_does_not_hold_up_a_fast_one(hooks):
    slow, fast = Receiver(delay=8), Receiver()
    try:
        endpoint(hooks, slow.url, types=["plan.created"])
        endpoint(hooks, fast.url, types=["plan.created"])
        started = time.time()
        for _ in range(5):
            new_plan(hooks)
        fast.wait_for("plan.created", count=5, timeout=6)
        assert time.time() - started < 5, "the fast endpoint got its five while the slow one was still answering"
    finally:
        slow.close()
        fast.close()


@pytest.mark.parametrize("url", ["http://127.0.0.1/hook", "https://[::1]/hook", "https://[::ffff:127.0.0.1]/hook",
                                 "https://10.0.0.1/hook", "https://169.254.169.254/latest/meta-data",
                                 "https://localhost/hook"])
def test_private_addresses_are_refused_at_registration(client, url):
    response = client.post("/webhook-endpoints", {"url": url, "enabled_events": ["*"]})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "url", response.text


@pytest.mark.parametrize("body, field", [
    ({"url": "http://example.com/hook", "enabled_events": ["*"]}, "url"),
    ({"url": "https://user:pw@example.com/hook", "enabled_events": ["*"]}, "url"),
    ({"url": "ftp://example.com/hook", "enabled_events": ["*"]}, "url"),
    ({"url": "https://example.com/" + "a" * 2048, "enabled_events": ["*"]}, "url"),
    ({"url": "https://example.com/hook", "enabled_events": []}, "enabled_events"),
    ({"url": "https://example.com/hook", "enabled_events": ["*", "plan.created"]}, "enabled_events"),
    ({"url": "https://example.com/hook", "enabled_events": ["plan.exploded"]}, "enabled_events"),
    ({"url": "https://example.com/hook", "enabled_events": "plan.created"}, "enabled_events"),
])
def test_bad_endpoints_are_422(client, body, field):
    response = client.post("/webhook-endpoints", body)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == field, response.text


def test_status_and_metrics_show_the_deliveries_and_the_attempts_by_result(hooks, hooks_pool, api_key):
    before = hooks_pool.metrics(api_key)
    receiver = Receiver(answers=[503])
    try:
        hook = endpoint(hooks, receiver.url, types=["plan.created"])
        new_plan(hooks)
        delivery = delivery_of(hooks, hook["id"], "plan.created", status="succeeded", timeout=20)
        assert delivery["attempts"] == 2
    finally:
        receiver.close()
    status = hooks_pool.status(api_key)["webhook_deliveries"]
    assert status["succeeded"] >= 1 and status["pending"] >= 0 and status["oldest_pending_seconds"] >= 0
    assert status["attempts"]["succeeded"] >= 1 and status["attempts"]["http_5xx"] >= 1
    metrics = hooks_pool.metrics(api_key)
    assert metrics['billing_webhook_deliveries{status="succeeded"}'] >= 1
    assert "billing_webhook_oldest_pending_seconds" in metrics
    for result in ("succeeded", "http_5xx"):
        counter = f'billing_webhook_attempts_total{{result="{result}"}}'
        assert metrics[counter] >= before.get(counter, 0) + 1, result


class RawReceiver:
    """A TCP server on loopback whose every connection gets `answer(socket)` after the
    request's headers and body have been read (optionally inside TLS)."""

    def __init__(self, answer, tls=None):
        import socket
        import ssl
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.stopped = threading.Event()

        def serve():
            while not self.stopped.is_set():
                try:
                    connection, _ = self.listener.accept()
                except OSError:
                    return
                self.connections += 1

                def handle(connection=connection):
                    try:
                        if tls:
                            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                            context.load_cert_chain(*tls)
                            connection = context.wrap_socket(connection, server_side=True)
                        data = b""
                        while b"\r\n\r\n" not in data:
                            data += connection.recv(65536)
                        head, body = data.split(b"\r\n\r\n", 1)
                        length = int([line.split(b":")[1] for line in head.split(b"\r\n")
                                      if line.lower().startswith(b"content-length")][0])
                        while len(body) < length:
                            body += connection.recv(65536)
                        answer(connection, self.stopped)
                    except (OSError, ValueError, IndexError):
                        pass
                    finally:
                        connection.close()
                threading.Thread(target=handle, daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()

    def close(self):
        self.stopped.set()
        self.listener.close()


def huge_body(connection, stopped):
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n")
    chunk = b"x" * 65536
    for _ in range(1600):  # 100 MiB, unless the sender hangs up first
        if stopped.is_set():
            return
        connection.sendall(chunk)


def endless_body(connection, stopped):
    connection.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    while not stopped.is_set():
        connection.sendall(b"10000\r\n" + b"y" * 65536 + b"\r\n")


def slowloris(connection, stopped):
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
        if stopped.wait(1.0):
            return
        connection.sendall(bytes([byte]))


@pytest.mark.parametrize("answer, status, error, excerpt", [
    (huge_body, "succeeded", None, "x" * 1024),
    (endless_body, "succeeded", None, "y" * 1024),
    (slowloris, "pending", "timeout", None),
])
def test_hostile_answers_are_bounded(hooks, answer, status, error, excerpt):
    raw = RawReceiver(answer)
    try:
        hook = endpoint(hooks, f"http://127.0.0.1:{raw.port}/hook", types=["plan.created"])
        started = time.time()
        new_plan(hooks)
        delivery = delivery_of(hooks, hook["id"], "plan.created", timeout=20)
        while delivery["attempts"] == 0 and time.time() - started < 20:
            time.sleep(0.2)
            delivery = hooks.get(f"/webhook-deliveries/{delivery['id']}").json()
        assert delivery["status"] == status and delivery["last_error"] == error, delivery
        assert delivery["last_response_excerpt"] == excerpt
        # The sender moved on within its 10 s, whatever the receiver did.
        assert delivery["attempts"] >= 1 and time.time() - started < 14
    finally:
        raw.close()


def test_a_receiver_with_an_invalid_certificate_is_a_failed_attempt(hooks, tmp_path):
    import subprocess
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-days", "1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    raw = RawReceiver(lambda connection, stopped: connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
                      tls=(str(cert), str(key)))
    try:
        hook = endpoint(hooks, f"https://127.0.0.1:{raw.port}/hook", types=["plan.created"])
        new_plan(hooks)
        delivery = delivery_of(hooks, hook["id"], "plan.created", timeout=20)
        deadline = time.time() + 15
        while delivery["attempts"] == 0 and time.time() < deadline:
            time.sleep(0.2)
            delivery = hooks.get(f"/webhook-deliveries/{delivery['id']}").json()
        assert delivery["status"] == "pending" and delivery["last_status_code"] is None
        assert "certificate" in delivery["last_error"].lower() or "ssl" in delivery["last_error"].lower(), delivery
    finally:
        raw.close()


def test_concurrent_rotations_leave_two_secrets_at_most(api_key, hooks, receiver):
    """20 rotations at once, each keeping the old secret an hour: the endpoint's row lock
    orders them, and deliveries carry two signatures, the last two secrets answered."""
    hook = endpoint(hooks, receiver.url, types=["plan.created"])
    base = hooks.base
    responses = fire(20, lambda i: Client(api_key, base=base).post(
        f"/webhook-endpoints/{hook['id']}/rotate-secret", {"expire_old_after_seconds": 3600}))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses if r.status_code != 200]
    answered = {r.json()["secret"] for r in responses}
    assert len(answered) == 20
    new_plan(hooks)
    request = receiver.wait_for("plan.created")[0]
    assert len(signatures(request["headers"]["Billing-Signature"])[1]) == 2
    verified = [secret for secret in answered | {hook["secret"]} if verify(request, secret)]
    assert len(verified) == 2 and set(verified) <= answered, verified
