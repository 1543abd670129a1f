"""The lag from an event's commit to its delivery's arrival, under a steady rate of events:
a receiver on loopback (asyncio, HTTP/1.1 kept alive: it answers far faster than the rate,
so its own queue adds nothing) reads each body's `data.t`, the time the event's statement
ran (clock_timestamp(), just before its commit), and notes the arrival; events are written
by psql, RATE a second in ten batches, for SECONDS.

    python3 bench/webhook-lag.py DATABASE_URL API_BASE KEY [RATE] [SECONDS]
"""

import asyncio
import json
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

database, base, key = sys.argv[1:4]
rate = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
seconds = int(sys.argv[5]) if len(sys.argv) > 5 else 10
lags = []
T = re.compile(rb'"t"\s*:\s*([0-9.]+)')
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
            body = await reader.readexactly(length)
            lags.append(time.time() - float(T.search(body).group(1)))
            writer.write(OK)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()  # the sender closed a kept-alive connection


def receive(ready):
    async def main():
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        ready.append(server.sockets[0].getsockname()[1])
        await server.serve_forever()
    asyncio.run(main())


port = []
threading.Thread(target=receive, args=(port,), daemon=True).start()
while not port:
    time.sleep(0.01)
request = urllib.request.Request(
    base + "/webhook-endpoints", method="POST",
    data=json.dumps({"url": f"http://127.0.0.1:{port[0]}/lag", "enabled_events": ["coupon.updated"]}).encode(),
    headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
endpoint = json.loads(urllib.request.urlopen(request).read())["id"]

batch = rate // 10
total = batch * seconds * 10
script = "".join(
    f"""INSERT INTO events (id, type, created_at, data) SELECT gen_random_uuid(), 'coupon.updated', now(),
        json_build_object('id', gen_random_uuid(), 't', extract(epoch FROM clock_timestamp()))::text
        FROM generate_series(1, {batch}); SELECT pg_sleep(0.1);\n""" for _ in range(seconds * 10))
subprocess.run(["psql", database, "-qAtX", "-o", "/dev/null"], input=script, text=True, check=True)
deadline = time.time() + 30
while len(lags) < total and time.time() < deadline:
    time.sleep(0.2)
urllib.request.urlopen(urllib.request.Request(
    f"{base}/webhook-endpoints/{endpoint}", method="DELETE", headers={"Authorization": f"Bearer {key}"})).read()
ordered = sorted(lags)
print(f"{len(ordered)} of {total} delivered; lag p50 {statistics.median(ordered) * 1000:.0f} ms, "
      f"p99 {ordered[int(len(ordered) * 0.99) - 1] * 1000:.0f} ms")
