"""nginx protects the pool from floods, slow clients and big inputs, answering problem+json."""

import socket
import time

import requests

from conftest import BASE_URL
from pool import Pool


def test_a_flooding_client_gets_429_problem_json(api_key):
    pool = Pool(workers=1, threads=2, rate_limit="5r/s", rate_burst=5)
    try:
        session = requests.Session()
        statuses = [session.get(pool.base + "/health", timeout=10) for _ in range(30)]
        limited = [r for r in statuses if r.status_code == 429]
        assert limited and all(r.headers["Content-Type"] == "application/problem+json" for r in limited)
        assert limited[0].json()["status"] == 429 and limited[0].json()["request_id"] == limited[0].headers["X-Request-Id"]
        assert statuses[0].status_code == 200, "requests within the rate are served"
    finally:
        pool.stop()


def test_oversized_bodies_get_413_before_reaching_a_worker():
    response = requests.post(BASE_URL + "/customers", data=b"x" * 70_000,
                             headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 413 and response.json()["status"] == 413


def test_a_slow_client_is_cut_off_by_nginx():
    """A client that sends half its headers and stalls is cut off by nginx after
    client_header_timeout (10 s) and never reaches a worker: the connection is closed."""
    host, port = BASE_URL.rsplit("/", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: a\r\nX-Slow: ")
        started = time.monotonic()
        data = b""
        while chunk := s.recv(4096):
            data += chunk
        waited = time.monotonic() - started
    assert 9 <= waited <= 20, waited
    assert b"200 OK" not in data, data[:200]
