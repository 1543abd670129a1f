"""A webhook receiver on loopback for the webhook tests, and endpoints registered to it."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import sql


class Receiver:
    """An HTTP server on 127.0.0.1 recording every request; `answers` is a list of statuses
    to give in turn (then 200), `delay` seconds before answering."""

    def __init__(self, answers=(), delay=0.0, port=0):
        self.requests, self.answers, self.delay = [], list(answers), delay
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests.append({"headers": dict(self.headers), "body": body, "at": time.time()})
                    status = receiver.answers.pop(0) if receiver.answers else 200
                time.sleep(receiver.delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # a sender that was killed, or that gave up at 10 s

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of_type(self, event_type):
        with self.lock:
            return [r for r in self.requests if json.loads(r["body"])["type"] == event_type]

    def wait_for(self, event_type, count=1, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if len(self.of_type(event_type)) >= count:
                return self.of_type(event_type)
            time.sleep(0.05)
        raise AssertionError(f"{count} × {event_type} not received: {[json.loads(r['body'])['type'] for r in self.requests]}")

    def close(self):
        self.server.shutdown()


def endpoint(client, url, types=("*",)):
    response = client.post("/webhook-endpoints", {"url": url, "enabled_events": list(types)})
    assert response.status_code == 201, response.text
    return response.json()


def forget_endpoints():
    """Deletes every endpoint, as DELETE does (their pending deliveries fail): the endpoints
    other tests registered (the fuzzer's among them) must not keep a test's sender busy."""
    sql("""WITH gone AS (UPDATE webhook_endpoints SET deleted_at = now() WHERE deleted_at IS NULL RETURNING id)
           UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, leased_until = NULL,
           last_error = 'endpoint deleted' WHERE status = 'pending'""")
