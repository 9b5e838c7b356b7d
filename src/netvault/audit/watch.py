"""``audit watch``: follow audit files like ``tail -F`` and notify (issue 14).

A ``Follower`` keeps its file open and reads what is appended. When the path
names another file (rotation: ``audit rotate`` renames it and the server
opens a new one on SIGHUP) it first reads the old file to its end through the
descriptor it holds (the renamed or even deleted file), then opens the new
one from its start: no entry is lost or read twice. A last line without its
newline waits for the rest; a torn line (a write cut short) is recovered as
the reader does (``reader.later_entry``).

Each response entry (one per audited request) becomes an ``Event`` through
the same classifier as ``audit log``; ``Watch.feed`` turns the interesting
ones into messages: ``break-glass`` (every break-glass reveal, allowed or
refused), ``request`` (access requests filed or decided), ``denied-burst``
(``BURST`` denied requests by one person within ``BURST_WINDOW_S`` seconds,
one message per burst). Domain code: no printing; the sink is the caller's.
"""

from __future__ import annotations

import fnmatch
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, Callable

from netvault.audit.reader import Entry, later_entry
from netvault.local.config import DEFAULT_BREAK_GLASS_PATTERNS
from netvault.vault.mounts import Mounts
from netvault.errors import UsageError
from netvault.values.results import json_result

KINDS = ("break-glass", "request", "denied-burst")
BURST = 5
BURST_WINDOW_S = 60.0
_START = b'{"time":"'


class Follower:
    def __init__(self, path: str, *, from_start: bool = False) -> None:
        self.path = str(path)
        self.fh: BinaryIO | None = None
        self.ino: int | None = None
        self.tail = b""
        self._open(from_start)

    def _open(self, from_start: bool) -> bool:
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            self.fh, self.ino = None, None
            return False
        except OSError as exc:
            raise UsageError(f"cannot read {self.path}: {exc.strerror}") from None
        self.fh, self.ino = fh, os.fstat(fh.fileno()).st_ino
        if not from_start:
            fh.seek(0, os.SEEK_END)
        self.tail = b""
        return True

    def _drain(self) -> list[bytes]:
        if self.fh is None:
            return []
        data = self.fh.read()
        if not data:
            return []
        buf = self.tail + data
        lines = buf.split(b"\n")
        self.tail = lines.pop()
        out = []
        for line in lines:
            if not line.strip():
                continue
            later = later_entry(line) if line.find(_START, 1) > 0 else -1
            out.append(line[later:] if later > 0 else line)
        return out

    def poll(self) -> list[bytes]:
        """Complete lines appended since the last poll (across a rotation)."""
        if self.fh is None:
            return self._drain() if self._open(True) else []
        lines = self._drain()
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return lines  # renamed, the new one not there yet: keep reading the old
        if st.st_ino != self.ino:
            lines += self._drain()  # the rest of the rotated file
            self.fh.close()
            if self._open(True):
                lines += self._drain()
        elif st.st_size < self.fh.tell():  # truncated in place
            self.fh.seek(0)
            self.tail = b""
            lines += self._drain()
        return lines

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


@json_result
@dataclass
class Message:
    kind: str
    text: str
    event: dict = field(default_factory=dict)

    def payload(self) -> dict:
        """The incoming-webhook shape of Slack, Mattermost, Rocket.Chat: {"text": ...}."""
        return {"text": self.text}


def _chat(value) -> str:
    """A value from the trail inside a chat message: visible escapes for
    controls, and the chat markup characters & < > neutralised."""
    from netvault.values.text import printable

    text = printable(str(value if value is not None else "?"))[:120]
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def parse_kinds(text: str | None) -> tuple[str, ...]:
    if not text:
        return KINDS
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise UsageError(f"--on: choose from {', '.join(KINDS)} (comma-separated)")
    return kinds


class Watch:
    def __init__(self, *, kinds=KINDS, mounts: Mounts | None = None, break_glass=None,
                 burst: int = BURST, window_s: float = BURST_WINDOW_S) -> None:
        from netvault.audit.events import Classifier

        self.kinds = tuple(kinds)
        self.classify = Classifier(mounts or Mounts())
        self.break_glass = tuple(break_glass or DEFAULT_BREAK_GLASS_PATTERNS)
        self.burst, self.window_s = burst, window_s
        self._denied: dict[str, list[float]] = {}
        self._in_burst: dict[str, float] = {}

    def feed(self, line: bytes, source: str = "") -> list[Message]:
        try:
            doc = json.loads(line)
        except ValueError:
            return []
        if not isinstance(doc, dict) or doc.get("type") != "response":
            return []  # one message per request: its response entry
        ev = self.classify(Entry(str(doc.get("time") or ""), doc, True, source))
        if ev is None:
            return []
        out: list[Message] = []
        who = _chat(ev.engineer or "an untraced token")
        if ev.action == "reveal" and ev.incident and any(fnmatch.fnmatchcase(ev.incident, p) for p in self.break_glass):
            if "break-glass" in self.kinds:
                what = "revealed" if ev.outcome == "allowed" else "was REFUSED a reveal of"
                rec = ev.record or (f"record #{ev.record_id[:12]}" if ev.record_id else "a record")
                out.append(Message("break-glass", f":rotating_light: BREAK-GLASS: {who} {what} {_chat(ev.customer)}/"
                                   f"{_chat(rec)} with {_chat(ev.incident)} at {_chat(ev.time[:19])}Z "
                                   f"(event {_chat(ev.request_id)}; review: netvault audit review)", ev.to_dict()))
        elif ev.action == "request" and ev.outcome == "allowed" and "request" in self.kinds:
            if ev.kind == "request":
                text = f":raising_hand: access request: {_chat(ev.subject)} asks for {_chat(ev.customer)} (netvault requests)"
            else:
                text = f":white_check_mark: access request of {_chat(ev.subject)} for {_chat(ev.customer)} decided by {who}"
            out.append(Message("request", text, ev.to_dict()))
        if ev.outcome == "denied" and "denied-burst" in self.kinds:
            out += self._burst(ev, who)
        return out

    def _burst(self, ev, who: str) -> list[Message]:
        key = ev.entity_id or ev.engineer or "?"
        try:
            t = datetime.fromisoformat(ev.time[:19]).timestamp()
        except ValueError:
            return []
        times = [x for x in self._denied.get(key, []) if t - x <= self.window_s] + [t]
        self._denied[key] = times
        if len(times) < self.burst:
            return []
        last = self._in_burst.get(key)
        if last is not None and t - last <= self.window_s:
            self._in_burst[key] = t  # the same burst goes on: one message
            return []
        self._in_burst[key] = t
        return [Message("denied-burst", f":warning: {len(times)} denied requests by {who} within "
                        f"{int(self.window_s)} s (last: {_chat(ev.path)})", ev.to_dict())]


def run(paths: list[str], sink: Callable[[Message], None], *, watch: Watch, stop: Callable[[], bool],
        sleep: Callable[[float], None], interval: float = 0.5, from_start: bool = False,
        on_ready: Callable[[], None] | None = None) -> None:
    """Follow ``paths`` until ``stop()``; every message goes to ``sink``.
    ``on_ready`` is called once every file is open (positioned)."""
    followers = [Follower(p, from_start=from_start) for p in paths]
    if on_ready is not None:
        on_ready()
    try:
        while not stop():
            for f in followers:
                for line in f.poll():
                    for msg in watch.feed(line, f.path):
                        sink(msg)
            sleep(interval)
    finally:
        for f in followers:
            f.close()


def post(url: str, msg: Message, *, timeout: float = 5.0, tries: int = 3, sleep=None) -> None:
    """POST the message to an incoming webhook; raises Unreachable after ``tries``."""
    import time
    import urllib.error
    import urllib.request

    from netvault.errors import Unreachable

    body = json.dumps(msg.payload()).encode()
    last = None
    for attempt in range(tries):
        req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (http/https checked)
                resp.read()
            return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
            (sleep or time.sleep)(0.5 * (attempt + 1))
    raise Unreachable(f"the webhook did not take the message ({type(last).__name__})")


def check_webhook(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError("--webhook must be an http:// or https:// URL")
    return url
