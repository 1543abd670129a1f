"""A minimal FastCGI client (the responder role, one request per connection), for tests
that reach the pool's socket without nginx: what a local user could try."""

import socket
import struct

BEGIN_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT = 1, 3, 4, 5, 6


def _record(kind, content, request_id=1):
    return struct.pack(">BBHHBx", 1, kind, request_id, len(content), 0) + content


def _pair(name, value):
    def length(n):
        return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)
    return length(len(name)) + length(len(value)) + name + value


def request(socket_path, params, body=b""):
    """Sends one request; returns (status, headers, body) as the responder wrote them."""
    encoded = b"".join(_pair(k.encode(), v.encode()) for k, v in params.items())
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(socket_path)
        s.sendall(_record(BEGIN_REQUEST, struct.pack(">HB5x", 1, 0)) + _record(PARAMS, encoded)
                  + _record(PARAMS, b"") + (_record(STDIN, body) if body else b"") + _record(STDIN, b""))
        output, data = b"", b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        while len(data) >= 8:
            _, kind, _, length, padding = struct.unpack(">BBHHBx", data[:8])
            if kind == STDOUT:
                output += data[8:8 + length]
            data = data[8 + length + padding:]
    head, _, payload = output.partition(b"\r\n\r\n")
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
    return int(headers["Status"].split()[0]), headers, payload
