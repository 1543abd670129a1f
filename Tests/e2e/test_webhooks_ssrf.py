"""The SSRF rule at the moment of sending (webhooks.md): an endpoint registered where
loopback was allowed, delivered by a sender where it is not, is refused on the address the
connection would be opened to: a failed attempt, and no packet to the receiver."""

import subprocess
import time
import uuid

from conftest import APP_DATABASE_URL, BILLING_BIN, Client, sql
from pool import Pool
from webhook_receiver import Receiver, endpoint, forget_endpoints


def test_a_sender_that_allows_no_private_address_refuses_to_connect_to_one(api_key):
    forget_endpoints()
    receiver = Receiver()
    pool = Pool(workers=1, threads=2, env={"WEBHOOK_ALLOW_HTTP": "1", "WEBHOOK_ALLOW_PRIVATE": "1"})
    sender = None
    try:
        client = Client(api_key, base=pool.base)
        hook = endpoint(client, receiver.url, types=["coupon.created"])
        client.post("/coupons", {"code": f"C{uuid.uuid4().hex[:8]}", "name": "Ten", "percent_off": "10",
                                 "duration": "once"})
        sender = subprocess.Popen([BILLING_BIN, "webhook-sender", "--database-url", APP_DATABASE_URL],
                                  env={"WEBHOOK_RETRY_SCHEDULE": "60", "PATH": "/usr/bin:/bin"},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rows = []
        deadline = time.time() + 15
        while time.time() < deadline:
            rows = sql(f"""SELECT attempts, last_error, coalesce(last_status_code::text, 'none'), status
                           FROM webhook_deliveries WHERE endpoint_id = '{hook['id']}'""")
            if rows and rows[0][0] != "0":
                break
            time.sleep(0.1)
        assert rows and rows[0] == ["1", "address refused", "none", "pending"], rows
        assert receiver.requests == []
    finally:
        if sender:
            sender.terminate()
            sender.wait(timeout=20)
        pool.stop()
        receiver.close()
        forget_endpoints()
