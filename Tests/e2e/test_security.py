"""Issue "What an attacker and a new user found", security: operations paths are loopback
only in every spelling and in the routes themselves; no other local user reaches
PostgreSQL or the pool; an idempotency key is sent once, as printable ASCII."""

import json
import os
import socket
import subprocess

import pytest

from conftest import BASE_URL, REPO_ROOT, new_customer, sql, unique
import fcgi

STACK_HOME = subprocess.run([os.path.join(REPO_ROOT, "scripts/stack.sh"), "home", os.environ["STACK_DIR"]],
                            check=True, capture_output=True, text=True).stdout.strip()
POOL_SOCKET = os.path.join(STACK_HOME, "billing.sock")
PG_SOCKET_DIR = os.path.join(STACK_HOME, "pg-socket")


def curl_from(source, path, key):
    """GET through nginx from another loopback address (curl sends the path unnormalised)."""
    out = subprocess.run(["curl", "-s", "--path-as-is", "--interface", source, "-H", f"Authorization: Bearer {key}",
                          "-w", "\n%{http_code} %{content_type}", BASE_URL + path],
                         capture_output=True, text=True, timeout=10).stdout
    body, _, status = out.rpartition("\n")
    return int(status.split()[0]), status.split()[1], body


SPELLINGS = ["/status", "/status/", "/status//", "/status%2f", "/status%2F", "//status", "/STATUS", "/status/x",
             "/metrics", "/metrics/", "/metrics%2f", "//metrics//", "/./status", "/docs/../status"]


@pytest.mark.parametrize("path", SPELLINGS)
def test_operations_paths_are_refused_to_other_addresses_in_every_spelling(api_key, path):
    status, content_type, body = curl_from("127.0.0.2", path, api_key)
    assert status == 403 and content_type.startswith("application/problem+json"), (path, status, body)
    assert json.loads(body)["status"] == 403


def test_operations_paths_still_answer_loopback(api_key):
    for path in ("/status", "/metrics"):
        status, _, _ = curl_from("127.0.0.1", path, api_key)
        assert status == 200, path


@pytest.mark.parametrize("address", ["10.1.2.3", "127.0.0.2", "::ffff:127.0.0.1", ""])
def test_the_routes_check_the_client_address_themselves(api_key, address):
    # As the pool's owner, who can reach its socket: a forged REMOTE_ADDR is still refused.
    for path in ("/status", "/metrics"):
        status, _, body = fcgi.request(POOL_SOCKET, {
            "REQUEST_METHOD": "GET", "DOCUMENT_URI": path, "REMOTE_ADDR": address,
            "HTTP_AUTHORIZATION": f"Bearer {api_key}"})
        assert status == 403, (path, address, body)


def run_as(user, code):
    return subprocess.run(["runuser", "-u", user, "--", "python3", "-c", code], capture_output=True, text=True,
                          timeout=20)


@pytest.mark.parametrize("user", ["nobody", "www-data"])
def test_other_local_users_cannot_reach_postgresql(user):
    probe = subprocess.run(
        ["runuser", "-u", user, "--", "psql", f"host={PG_SOCKET_DIR} dbname=billing user=postgres", "-Atc", "SELECT 1"],
        capture_output=True, text=True, timeout=20)
    assert probe.returncode != 0 and "1" not in probe.stdout.split(), probe
    assert oct(os.stat(PG_SOCKET_DIR).st_mode & 0o777) == "0o700"


def test_other_local_users_cannot_reach_the_pool_but_nginx_can():
    code = f"import socket; s = socket.socket(socket.AF_UNIX); s.connect({POOL_SOCKET!r}); print('connected')"
    refused = run_as("nobody", code)
    assert "PermissionError" in refused.stderr and "connected" not in refused.stdout, refused
    assert run_as("www-data", code).stdout.strip() == "connected"
    assert oct(os.stat(POOL_SOCKET).st_mode & 0o777) == "0o660"


def raw_post(path, key, headers, body):
    """A POST with header bytes exactly as given (requests would refuse or re-encode them)."""
    payload = json.dumps(body).encode()
    lines = [f"POST {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", f"Authorization: Bearer {key}".encode(),
             b"Content-Type: application/json", f"Content-Length: {len(payload)}".encode(), b"Connection: close",
             *headers]
    host, port = BASE_URL.rsplit("/", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + payload)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), rest


@pytest.mark.parametrize("headers", [
    [b"Idempotency-Key: same\xff"],
    [b"Idempotency-Key: same\xfe"],
    [b"Idempotency-Key: caf\xc3\xa9"],
    [b"Idempotency-Key: tab\there"],
    [b"Idempotency-Key: one", b"Idempotency-Key: two"],
    [b"Idempotency-Key: one", b"Idempotency-Key: one"],
])
def test_an_unreadable_or_repeated_idempotency_key_is_400_and_stores_nothing(api_key, headers):
    email = f"{unique('k')}@example.com"
    status, body = raw_post("/customers", api_key, headers, {"email": email, "name": "Keyed"})
    assert status == 400, body
    assert b"Idempotency-Key" in body
    assert sql(f"SELECT count(*) FROM customers WHERE email = '{email}'") == [["0"]]


def test_keys_differing_in_invalid_bytes_are_never_one_key(api_key, client):
    """The attack: key "k\\xff" stored an answer that key "k\\xfe" (another request) got back."""
    key = unique("key").encode()
    first = raw_post("/customers", api_key, [b"Idempotency-Key: " + key + b"\xff"],
                     {"email": f"{unique('a')}@example.com", "name": "A"})
    second = raw_post("/customers", api_key, [b"Idempotency-Key: " + key + b"\xfe"],
                      {"email": f"{unique('b')}@example.com", "name": "B"})
    assert first[0] == second[0] == 400
    # A printable key still works as before.
    ok = client.post("/customers", {"email": f"{unique('c')}@example.com", "name": "C"},
                     headers={"Idempotency-Key": key.decode()})
    assert ok.status_code == 201
    new_customer(client)
