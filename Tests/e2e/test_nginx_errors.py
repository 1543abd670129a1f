"""Every error nginx answers by itself is problem+json, with the same status in the status
line and in the body: requests sent as raw bytes, as a broken or hostile client would."""

import json
import socket

import pytest

from conftest import BASE_URL

HOST, PORT = BASE_URL.rsplit("/", 1)[1].split(":")


def raw(data):
    with socket.create_connection((HOST, int(PORT)), timeout=10) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(": ")
        headers.setdefault(name.lower(), value)
    return int(lines[0].split()[1]), headers, body


CLOSE = b"Host: a\r\nConnection: close\r\n"

CASES = {
    400: b"GARBAGE\r\n\r\n",
    404: b"GET /docs/no-such-file.js HTTP/1.1\r\n" + CLOSE + b"\r\n",
    405: b"POST /openapi.yaml HTTP/1.1\r\n" + CLOSE + b"Content-Length: 0\r\n\r\n",
    413: b"POST /customers HTTP/1.1\r\n" + CLOSE + b"Content-Type: application/json\r\nContent-Length: 70000\r\n\r\n"
         + b"x" * 70000,
    414: b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n" + CLOSE + b"\r\n",
    416: b"GET /openapi.yaml HTTP/1.1\r\n" + CLOSE + b"Range: bytes=99999999-\r\n\r\n",
    431: b"GET /health HTTP/1.1\r\n" + CLOSE + b"X-Big: " + b"x" * 10000 + b"\r\n\r\n",
    501: b"POST /customers HTTP/1.1\r\n" + CLOSE + b"Transfer-Encoding: gzip\r\n\r\n",
    505: b"GET /health HTTP/2.0\r\n" + CLOSE + b"\r\n",
}


@pytest.mark.parametrize("status", sorted(CASES))
def test_nginx_answers_problem_json_with_one_status(status):
    got, headers, body = raw(CASES[status])
    assert got == status, (got, body[:200])
    assert headers["content-type"] == "application/problem+json", headers
    problem = json.loads(body)
    assert problem["status"] == status and problem["title"] and problem["type"].startswith("https://")
    assert problem["request_id"] == headers["x-request-id"]


def test_a_static_405_names_the_methods_it_allows():
    _, headers, _ = raw(CASES[405])
    assert headers["allow"] == "GET, HEAD"
