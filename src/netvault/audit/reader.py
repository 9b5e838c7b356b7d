"""Streaming reader of Vault / OpenBao file audit logs.

Reads plain, rotated and gzip'd files, several nodes' files merged in time
order without duplicates, and pairs each request entry with its response
entry. Memory stays flat whatever the file size: files are read in fixed
chunks, only lines that pass a cheap byte pre-filter are parsed as JSON, and
the only state kept is the set of requests still waiting for their response
and a short de-duplication window.

Nothing here prints; ``progress`` (a callable taking a byte count) lets the
caller draw a progress bar.
"""

from __future__ import annotations

import gzip
import heapq
import json
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from netvault.errors import NotFound, UsageError

CHUNK = 1 << 22  # 4 MiB
#: a request whose response never comes is reported after this many later entries
MAX_PENDING = 20000
#: duplicates (the same entry in two files) are recognised within this many seconds
DEDUP_WINDOW_S = 600

Progress = Callable[[int], None]


@dataclass(slots=True)
class Entry:
    """One audited request: its response entry (or the lone request entry)."""

    time: str  # time of the request entry (when the access happened)
    doc: dict  # parsed response entry, or request entry when unpaired
    paired: bool  # False: no response entry was found (outcome unknown)
    source: str  # file it came from


def open_binary(path: str | os.PathLike):
    """Open an audit file for reading bytes; gzip is detected by content."""
    p = Path(path)
    try:
        fh = open(p, "rb")
    except FileNotFoundError:
        raise NotFound(f"audit file {p} not found") from None
    except IsADirectoryError:
        raise UsageError(f"{p} is a directory, not an audit file") from None
    except PermissionError:
        raise UsageError(f"cannot read audit file {p}: permission denied") from None
    except OSError as exc:
        raise UsageError(f"cannot read audit file {p}: {exc.strerror}") from None
    magic = fh.read(2)
    fh.seek(0)
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=fh, mode="rb")
    return fh


def file_size(path: str | os.PathLike) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _buffers(fh, progress: Progress | None, name: str, limit: int | None) -> Iterator[tuple[int, bytes, int]]:
    """(offset of buf[0], buf, index of its last newline) per chunk read: every
    complete line of the stream lies in exactly one ``buf[:last_nl]``."""
    tail = b""
    base = 0  # offset of buf[0] in the (decompressed) stream
    left = limit
    while True:
        try:
            if left is not None:
                if left <= 0:
                    break
                chunk = fh.read(min(CHUNK, left))
                left -= len(chunk)
            else:
                chunk = fh.read(CHUNK)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise UsageError(f"{name}: cannot read ({type(exc).__name__}: corrupt or truncated file)") from None
        if not chunk:
            break
        if progress is not None:
            progress(len(chunk))
        buf = tail + chunk if tail else chunk
        last_nl = buf.rfind(b"\n")
        if last_nl < 0:
            tail = buf
            continue
        yield base, buf, last_nl
        tail = buf[last_nl + 1:]
        base += last_nl + 1


def _holding(buf: bytes, needle: bytes, last_nl: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each line of ``buf[:last_nl]`` that holds ``needle``."""
    pos = 0
    find = buf.find
    while True:
        i = find(needle, pos, last_nl)
        if i < 0:
            return
        s = buf.rfind(b"\n", 0, i) + 1
        e = find(b"\n", i, last_nl + 1)
        yield s, e
        pos = e + 1


def iter_lines(fh, needle: bytes | None = None, progress: Progress | None = None,
               name: str = "audit file", limit: int | None = None) -> Iterator[tuple[int, bytes]]:
    """(byte offset, line) for every complete line, or only lines holding ``needle``.

    A last line without a newline (an entry being written) is skipped.
    ``limit``: read at most this many bytes (the file's size when reading began,
    so entries Vault appends meanwhile, e.g. for the reader's own look-ups,
    are not read).
    """
    for base, buf, last_nl in _buffers(fh, progress, name, limit):
        if needle is None:
            pos = 0
            for line in buf[:last_nl].split(b"\n"):
                yield base + pos, line
                pos += len(line) + 1
        else:
            for s, e in _holding(buf, needle, last_nl):
                yield base + s, buf[s:e]


def iter_lines_multi(fh, needles: tuple[bytes, ...], progress: Progress | None = None,
                     name: str = "audit file") -> Iterator[tuple[int, bytes]]:
    """(byte offset, line) of every complete line holding any of ``needles``, in file order."""
    for base, buf, last_nl in _buffers(fh, progress, name, None):
        found: dict[int, int] = {}
        for needle in needles:
            for s, e in _holding(buf, needle, last_nl):
                found[s] = e
        for s in sorted(found):
            yield base + s, buf[s:found[s]]


def _line_number(path: str, offset: int) -> int | None:
    try:
        with open_binary(path) as fh:
            data_left = offset
            count = 0
            while data_left > 0:
                chunk = fh.read(min(CHUNK, data_left))
                if not chunk:
                    break
                count += chunk.count(b"\n")
                data_left -= len(chunk)
            return count + 1
    except Exception:  # only used to word an error message
        return None


def _corrupt(path: str, offset: int) -> UsageError:
    n = _line_number(path, offset)
    where = f"line {n}" if n else f"byte {offset}"
    return UsageError(f"{path}: {where} is not a valid audit entry (corrupt file, or not a Vault audit log)")


class UnreadableEntry(UserWarning):
    """An audit line that is not a whole entry, read past (see ``_torn``).

    Domain code does not print: the CLI shows these as ``warning: ...`` lines.
    """


_ENTRY_START = b'{"time":"'
def later_entry(line: bytes) -> int:
    """Where a whole entry starts inside ``line`` after a torn write, or -1.

    Only a line that is not itself one JSON document can be torn, and the
    split must leave a whole request/response entry after it. Checked this
    way, not by the bytes alone: KV request data appears in the trail as JSON
    structure, so anyone may plant ``{"time":"...","type":"request"`` inside a
    real entry, and a byte test would let them cut that entry out of the trail.
    """
    try:
        json.loads(line)
        return -1  # a whole entry (whatever it holds)
    except ValueError:
        pass
    i = line.find(_ENTRY_START, 1)
    while i > 0:
        try:
            doc = json.loads(line[i:])
        except ValueError:
            doc = None
        if isinstance(doc, dict) and doc.get("type") in ("request", "response") and "request" in doc:
            return i
        i = line.find(_ENTRY_START, i + 1)
    return -1


def _torn(path: str, offset: int, recovered: bool) -> None:
    import warnings

    n = _line_number(path, offset)
    where = f"line {n}" if n else f"byte {offset}"
    rest = "; the entry written after it on the same line was read" if recovered else ""
    warnings.warn(
        f"{path}: {where} holds an incomplete audit entry (a write cut short, e.g. by a full disk), "
        f"skipped{rest}", UnreadableEntry, stacklevel=2,
    )


_TYPE_AT = b'","type":"'
_REQ_ID = b'"request":{"id":"'


def _head(line: bytes) -> tuple[str, str, str] | None:
    """(time, type, request id) read straight from the bytes, without JSON parsing.

    Vault writes ``{"time":"…","type":"request|response","auth":…,"request":{"id":"…"``.
    """
    if not line.startswith(b'{"time":"'):
        return None
    t_end = line.find(_TYPE_AT, 9, 64)
    if t_end < 0:
        return None
    kind = line[t_end + 10:t_end + 18]
    if kind == b"request\"":
        typ = "request"
    elif kind == b"response":
        typ = "response"
    else:
        return None
    i = line.find(_REQ_ID)
    if i < 0:
        return None
    rid = line[i + 17:line.find(b'"', i + 17)]
    return line[9:t_end].decode("ascii", "replace"), typ, rid.decode("ascii", "replace")


def time_key(ts: str) -> str:
    """Sortable form of an RFC 3339 UTC time with 0-9 fraction digits."""
    if len(ts) >= 20 and ts[19] == ".":
        frac = ts[20:].rstrip("Z")
        return ts[:19] + "." + frac.ljust(9, "0")[:9]
    return ts[:19] + ".000000000"


def _file_stream(path: str, needle: bytes | None, progress: Progress | None,
                 since: str | None, until: str | None) -> Iterator[tuple[str, str, str, bytes, int, str]]:
    """(time key, type, request id, line, offset, path) for the lines of one file."""
    fh = open_binary(path)
    good = 0  # whole entries read so far: a bad first line means "not an audit log"
    limit = None if isinstance(fh, gzip.GzipFile) else file_size(path)
    try:
        for offset, line in iter_lines(fh, needle, progress, str(path), limit):
            if not line:
                continue
            # A write cut short (full disk) leaves a partial entry with no
            # newline; the next entry Vault writes then follows on that line.
            later = later_entry(line) if line.find(_ENTRY_START, 1) > 0 else -1
            if later > 0:
                _torn(str(path), offset, recovered=True)
                offset, line = offset + later, line[later:]
            head = _head(line)
            if head is None:
                if not line.strip():
                    continue
                if line.lstrip().startswith(b"{"):
                    # Valid JSON of another shape (e.g. a line written by another tool).
                    try:
                        doc = json.loads(line)
                    except ValueError:
                        if not good:
                            raise _corrupt(str(path), offset) from None
                        _torn(str(path), offset, recovered=False)
                        continue
                    if isinstance(doc, dict) and doc.get("type") in ("request", "response"):
                        rid = str((doc.get("request") or {}).get("id") or "")
                        head = (str(doc.get("time") or ""), doc["type"], rid)
                    else:
                        continue
                elif good:
                    _torn(str(path), offset, recovered=False)
                    continue
                else:
                    raise _corrupt(str(path), offset)
            elif not line.endswith(b"}"):
                _torn(str(path), offset, recovered=False)
                continue
            good += 1
            ts, typ, rid = head
            if since is not None and ts[:19] < since:
                continue
            if until is not None and ts[:19] > until:
                continue
            yield ts, typ, rid, line, offset, str(path)
    finally:
        fh.close()


def _merged(paths: list[str], needle, progress, since, until):
    if len(paths) == 1:
        yield from _file_stream(paths[0], needle, progress, since, until)
        return
    streams = [
        ((time_key(t), t, typ, rid, line, off, src) for t, typ, rid, line, off, src in
         _file_stream(p, needle, progress, since, until))
        for p in paths
    ]
    seen: OrderedDict[tuple[str, str], str] = OrderedDict()
    for key, ts, typ, rid, line, off, src in heapq.merge(*streams, key=lambda x: x[0]):
        ident = (typ, rid)
        if ident in seen:
            continue
        seen[ident] = key
        # Drop ids older than the window: duplicates carry the same time.
        while seen:
            old_ident, old_key = next(iter(seen.items()))
            if _seconds_between(old_key, key) <= DEDUP_WINDOW_S:
                break
            seen.popitem(last=False)
        yield ts, typ, rid, line, off, src


def _seconds_between(a: str, b: str) -> float:
    """Seconds from time key a to time key b (keys of time_key)."""
    if a[:13] == b[:13]:  # same hour: compare mm:ss
        return abs((int(b[14:16]) * 60 + int(b[17:19])) - (int(a[14:16]) * 60 + int(a[17:19])))
    from datetime import datetime

    try:
        return abs((datetime.fromisoformat(b[:19]) - datetime.fromisoformat(a[:19])).total_seconds())
    except ValueError:
        return DEDUP_WINDOW_S + 1


def _parse(line: bytes, src: str, offset: int) -> dict | None:
    """The entry of one line; None (with a warning) for a line that is not a whole entry."""
    try:
        doc = json.loads(line)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        _torn(src, offset, recovered=False)
        return None
    return doc


def entries(
    paths: Iterable[str | os.PathLike],
    *,
    needle: bytes | None = None,
    since: str | None = None,
    until: str | None = None,
    progress: Progress | None = None,
) -> Iterator[Entry]:
    """Paired audit entries of all ``paths``, in time order.

    ``needle``: only lines containing these bytes are considered (a request
    and its response share the path and identity, so both pass or neither).
    ``since`` / ``until``: ``YYYY-MM-DDTHH:MM:SS`` bounds (UTC, inclusive).
    """
    paths = [str(p) for p in paths]
    if not paths:
        raise UsageError("no audit file given")
    for p in paths:  # fail early, before any output, on a missing file
        open_binary(p).close()
    pending: OrderedDict[str, tuple[str, bytes, str, int]] = OrderedDict()
    for ts, typ, rid, line, off, src in _merged(paths, needle, progress, since, until):
        if typ == "request":
            pending[rid] = (ts, line, src, off)
            if len(pending) > MAX_PENDING:
                _rid, (pts, pline, psrc, poff) = pending.popitem(last=False)
                doc = _parse(pline, psrc, poff)
                if doc is not None:
                    yield Entry(pts, doc, False, psrc)
            continue
        doc = _parse(line, src, off)
        req = pending.pop(rid, None) if rid else None
        if doc is None:
            continue
        when = req[0] if req else ts
        yield Entry(when, doc, True, src)
    for _rid, (pts, pline, psrc, poff) in pending.items():
        doc = _parse(pline, psrc, poff)
        if doc is not None:
            yield Entry(str(doc.get("time") or pts), doc, False, psrc)

