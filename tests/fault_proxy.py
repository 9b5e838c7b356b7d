"""A real TCP proxy on 127.0.0.1 in front of the test OpenBao, for network faults
that cannot be caused otherwise: the request reaches Vault and is carried
out, but the answer never reaches the client.

Each client request is forwarded to Vault on its own upstream connection and
Vault's whole answer is read; then, per request in order, the proxy

- ``relay``s it (the default once the plan is used up),
- ``drop``s it: closes the client connection without a byte of the answer,
- ``relay-close``s it: relays it, then closes the client connection as an
  idle keep-alive timeout would (``closed`` is set once it has).

The client side keeps its connection alive between requests, like Vault.
"""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit


def _read_request(conn: socket.socket) -> bytes | None:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head + b"\r\n\r\n" + body


def _set_header(head: bytes, name: bytes, value: bytes | None) -> bytes:
    lines = [x for x in head.split(b"\r\n") if x.partition(b":")[0].strip().lower() != name.lower()]
    if value is not None:
        lines.append(name + b": " + value)
    return b"\r\n".join(lines)


class FaultProxy:
    def __init__(self, upstream: str, plan: list[str] | None = None) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port)
        self.plan = list(plan or [])
        self.seen: list[bytes] = []  # request lines, in order
        self.closed = threading.Event()
        self._srv = socket.create_server(("127.0.0.1", 0))
        self.address = f"http://127.0.0.1:{self._srv.getsockname()[1]}"
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._srv.accept()
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        with conn:
            while True:
                req = _read_request(conn)
                if req is None:
                    return
                head, _, body = req.partition(b"\r\n\r\n")
                self.seen.append(head.split(b"\r\n", 1)[0])
                action = self.plan.pop(0) if self.plan else "relay"
                with socket.create_connection(self.upstream) as up:
                    up.sendall(_set_header(head, b"Connection", b"close") + b"\r\n\r\n" + body)
                    answer = b""
                    while True:
                        chunk = up.recv(65536)
                        if not chunk:
                            break
                        answer += chunk
                if action == "drop":
                    return  # Vault acted on it; the client never hears back
                rhead, _, rbody = answer.partition(b"\r\n\r\n")
                conn.sendall(_set_header(rhead, b"Connection", None) + b"\r\n\r\n" + rbody)
                if action == "relay-close":
                    conn.shutdown(socket.SHUT_RDWR)
                    conn.close()
                    self.closed.set()
                    return

    def close(self) -> None:
        self._stop = True
        self._srv.close()
