"""Small real network parts for connection-layer tests, each in a thread:

- ``ConnectProxy``: an HTTP proxy that only tunnels (``CONNECT host:port``),
  as a corporate HTTPS proxy does; it records every tunnel it opened.
- ``Redirector``: a node that answers every request with ``307`` and the
  address of the real server, as a Vault standby that does not forward.
- ``Silent``: accepts connections and never answers (a hung server).
"""

from __future__ import annotations

import select
import socket
import threading


class _Server:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._stop = False
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn: socket.socket) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def close(self) -> None:
        self._stop = True
        self.sock.close()
        for c in self._conns:
            try:
                c.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _head(conn: socket.socket) -> bytes:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        buf += chunk
    return buf


class ConnectProxy(_Server):
    def __init__(self) -> None:
        self.tunnels: list[str] = []
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        head = _head(conn)
        line = head.split(b"\r\n", 1)[0].decode()
        method, target, _ = (line.split(" ") + ["", ""])[:3]
        if method != "CONNECT":
            conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            conn.close()
            return
        self.tunnels.append(target)
        host, _, port = target.rpartition(":")
        try:
            up = socket.create_connection((host, int(port)))
        except OSError:
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            conn.close()
            return
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        pair = {conn: up, up: conn}
        try:
            while True:
                ready, _, _ = select.select(list(pair), [], [], 30)
                if not ready:
                    return
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    pair[s].sendall(data)
        except OSError:
            return
        finally:
            up.close()
            conn.close()


class Redirector(_Server):
    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.redirected = 0
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        try:
            while True:
                head = _head(conn)
                if not head:
                    return
                first, _, rest = head.partition(b"\r\n")
                length = 0
                for line in rest.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                body = head.partition(b"\r\n\r\n")[2]
                while len(body) < length:
                    body += conn.recv(65536)
                path = first.split(b" ")[1].decode()
                self.redirected += 1
                conn.sendall(f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {self.target}{path}\r\n"
                             "Content-Length: 0\r\n\r\n".encode())
        except OSError:
            return


class Silent(_Server):
    def handle(self, conn: socket.socket) -> None:
        try:
            while conn.recv(65536):
                pass
        except OSError:
            return
