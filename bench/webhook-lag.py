"""The lag from an event's commit to its delivery's arrival, under a steady rate of events:
a receiver on loopback (HTTP/1.1, kept alive) reads each body's `data.t`, the time the
event's statement ran (clock_timestamp(), just before its commit), and notes the arrival;
events are written by psql, RATE a second in ten batches, for SECONDS.

    python3 bench/webhook-lag.py DATABASE_URL API_BASE KEY [RATE] [SECONDS]
"""

import json
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

database, base, key = sys.argv[1:4]
rate = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
seconds = int(sys.argv[5]) if len(sys.argv) > 5 else 10
lags = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        lags.append(time.time() - json.loads(body)["data"]["t"])
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
request = urllib.request.Request(
    base + "/webhook-endpoints", method="POST",
    data=json.dumps({"url": f"http://127.0.0.1:{server.server_address[1]}/lag",
                     "enabled_events": ["coupon.updated"]}).encode(),
    headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
urllib.request.urlopen(request).read()

batch = rate // 10
script = "".join(
    f"""INSERT INTO events (id, type, created_at, data) SELECT gen_random_uuid(), 'coupon.updated', now(),
        json_build_object('id', gen_random_uuid(), 't', extract(epoch FROM clock_timestamp()))::text
        FROM generate_series(1, {batch}); SELECT pg_sleep(0.1);\n""" for _ in range(seconds * 10))
subprocess.run(["psql", database, "-qAtX", "-o", "/dev/null"], input=script, text=True, check=True)
deadline = time.time() + 30
while len(lags) < batch * seconds * 10 and time.time() < deadline:
    time.sleep(0.2)
ordered = sorted(lags)
print(f"{len(ordered)} of {batch * seconds * 10} delivered; lag p50 {statistics.median(ordered) * 1000:.0f} ms, "
      f"p99 {ordered[int(len(ordered) * 0.99) - 1] * 1000:.0f} ms")
