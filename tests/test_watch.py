"""``netvault audit watch`` (issue 14): one webhook message per break-glass
reveal, across a rotation of the audit file, to a local HTTP receiver.

Runs on a server of its own: the rotation must not move the shared server's
audit file away from other tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from access_helpers import decrypt, provision_customer, raw
from netvault.server import embedded
from netvault.access import people as users
from netvault.audit import rotate as rot
from netvault.audit import watch
from people import new_user


class Receiver:
    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.cond = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer.cond:
                    outer.messages.append({"type": self.headers.get("Content-Type"), "body": json.loads(body)})
                    outer.cond.notify_all()
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/netvault"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait_for(self, needle: str, deadline_s: float = 60) -> None:
        end = time.monotonic() + deadline_s
        with self.cond:
            while not any(needle in m["body"]["text"] for m in self.messages):
                left = end - time.monotonic()
                assert left > 0, f"no message with {needle!r}: {self.messages}"
                self.cond.wait(left)

    def close(self) -> None:
        self.httpd.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_one_message_per_break_glass_reveal_across_rotation(own_server, receiver, tmp_path, unique):
    srv = own_server
    acme = provision_customer(srv.root(), unique("watch"))
    bob = new_user(srv, "engineer")
    users.add_member(srv.gateway(), "nv-role-on-call", bob.entity_id)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update({"VAULT_ADDR": srv.address, "VAULT_TOKEN": srv.root_token, "NETVAULT_KEYRING": "file",
                "NETVAULT_CONFIG_DIR": str(tmp_path / "cfg"), "NETVAULT_DATA_DIR": str(tmp_path / "data")})
    proc = subprocess.Popen(
        [sys.executable, "-m", "netvault", "audit", "watch", "--file", str(srv.audit_file),
         "--webhook", receiver.url, "--on", "break-glass"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "watching" in proc.stderr.readline()
        c = bob.login()
        rec = acme.record()
        decrypt(c, rec, "BG-INC-1")
        decrypt(c, rec, "BG-INC-2")
        raw(c, "GET", f"netvault/data/customers/{acme.name}/credentials/router")  # not break-glass: no message
        receiver.wait_for("BG-INC-2")
        pid = embedded.status(srv.data_dir).pid
        rotated = rot.rotate(srv.audit_file, pid=pid, address=srv.address, now=datetime.now(timezone.utc))
        assert rotated.server_signalled and not os.path.exists(rotated.closed[:-3])
        decrypt(c, rec, "BG-INC-3")
        decrypt(c, rec, "BG-END")  # the last one: when it is in, everything before it is too
        receiver.wait_for("BG-END")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    texts = [m["body"]["text"] for m in receiver.messages]
    assert all(set(m["body"]) == {"text"} and m["type"] == "application/json" for m in receiver.messages)
    for ref in ("BG-INC-1", "BG-INC-2", "BG-INC-3", "BG-END"):
        assert sum(f" with {ref} " in t for t in texts) == 1, texts
    assert len(texts) == 4 and all("BREAK-GLASS" in t and bob.name in t for t in texts)


def test_follower_survives_rotation_and_torn_writes(tmp_path):
    path = tmp_path / "audit.log"
    line = lambda n: json.dumps({"time": f"2026-11-28T00:00:0{n}Z", "type": "response", "request": {"id": str(n)}}, separators=(",", ":"))  # noqa: E731
    path.write_text(line(0) + "\n")
    f = watch.Follower(str(path))
    assert f.poll() == []  # starts at the end
    with open(path, "a") as fh:
        fh.write(line(1) + "\n" + line(2)[:20])  # an entry still being written
    assert [json.loads(x)["request"]["id"] for x in f.poll()] == ["1"]
    with open(path, "a") as fh:
        fh.write(line(2)[20:] + "\n")
    assert [json.loads(x)["request"]["id"] for x in f.poll()] == ["2"]
    # rotation: rename, more lands in the old file, then a new file appears
    os.rename(path, tmp_path / "audit.log.1")
    with open(tmp_path / "audit.log.1", "a") as fh:
        fh.write(line(3) + "\n")
    path.write_text(line(4)[:15] + line(5) + "\n")  # a torn write: the next entry follows on its line
    assert [json.loads(x)["request"]["id"] for x in f.poll()] == ["3", "5"]
    assert f.poll() == []
    f.close()


def test_denied_burst_is_one_message_per_burst_and_requests_are_announced():
    w = watch.Watch(kinds=("denied-burst", "request"))

    def entry(n: int, second: int, path: str, op: str = "read", error: str | None = "permission denied") -> bytes:
        doc = {"time": f"2026-11-28T03:{second // 60:02d}:{second % 60:02d}Z", "type": "response",
               "auth": {"entity_id": "e-1", "display_name": "userpass-mallory"},
               "request": {"id": f"00000000-0000-0000-0000-{n:012d}", "path": path, "operation": op}}
        if error:
            doc["error"] = error
        return json.dumps(doc, separators=(",", ":")).encode()

    got = []
    for i in range(7):  # 7 denied reads within 14 s: one burst
        got += w.feed(entry(i, i * 2, "netvault/data/customers/acme/credentials/fw"))
    assert [m.kind for m in got] == ["denied-burst"]
    later = []
    for i in range(5):  # a new burst minutes later: one more message
        later += w.feed(entry(100 + i, 600 + i, "netvault/data/customers/acme/credentials/fw"))
    assert [m.kind for m in later] == ["denied-burst"]
    # a request filed (allowed write of _requests/<user>/<customer>): one message naming both
    filed = w.feed(entry(200, 700, "netvault/data/_requests/carol/acme", op="create", error=None))
    assert len(filed) == 1 and "carol" in filed[0].text and "acme" in filed[0].text
    # a chat-markup or control character from the trail is neutralised
    odd = w.feed(entry(201, 701, "netvault/data/_requests/carol/<!channel>\x1b", op="create", error=None))
    assert odd and "<!channel>" not in odd[0].text and "\x1b" not in odd[0].text
