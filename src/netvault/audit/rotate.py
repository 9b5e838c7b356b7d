"""Rotate the embedded server's audit file: close it, seal it, compress it.

The file audit device keeps its file open and reopens it on SIGHUP, so a
rotation is: rename ``audit.log`` to ``audit.log.<UTC time>``, SIGHUP the
server (it opens a new ``audit.log``), make one audited request so the switch
is done before the closed file is read, seal what of it is not sealed yet
(digests identify a file by its first line, so the compressed file keeps its
seals), then gzip it (0600, written beside and renamed: never half a file)
and remove the plain copy. Readers and ``seal``/``verify`` find rotated files
by themselves (``netvault.audit.default_audit_files``).

Domain code: no printing; time comes in as ``now``.
"""

from __future__ import annotations

import gzip
import os
import signal
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from netvault.audit.reader import CHUNK, Progress
from netvault.errors import Conflict, NetvaultError, NotFound
from netvault.values.results import json_result, to_json


@json_result
@dataclass
class Rotated:
    closed: str  # the compressed, sealed file
    plain_bytes: int
    compressed_bytes: int
    digests: list[int]  # seq of the digests written for it (empty: not sealed)
    server_signalled: bool

    def to_dict(self) -> dict:
        return to_json(self)


#: seal(paths) -> digests written (each a dict with "seq")
Sealer = Callable[[list[str]], list[dict]]


def rotate(audit_file: Path, *, pid: int | None, address: str | None, now: datetime,
           seal: Sealer | None = None, progress: Progress | None = None) -> Rotated:
    """Close ``audit_file`` and keep it as ``<name>.<UTC time>.gz``.

    ``pid``: the running server to SIGHUP (None: the server is stopped, so
    nothing writes the file). ``seal``: seals the closed file before it is
    compressed (None: left for a later ``audit seal``, which finds it).
    """
    audit_file = Path(audit_file)
    if not audit_file.is_file():
        raise NotFound(f"no audit file at {audit_file}")
    stamp = now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    closed = audit_file.with_name(f"{audit_file.name}.{stamp}")
    final = closed.with_name(closed.name + ".gz")
    if closed.exists() or final.exists():
        raise Conflict(f"{final.name} exists already; rotate again in a second")
    if audit_file.stat().st_size == 0:
        raise NetvaultError(f"{audit_file} is empty; nothing to rotate")
    os.rename(audit_file, closed)
    signalled = False
    if pid is not None:
        try:
            os.kill(pid, signal.SIGHUP)
            signalled = True
        except ProcessLookupError:
            pass
        if signalled and address:
            _wait_switched(audit_file, address)
    written = seal([str(closed)]) if seal is not None else []
    plain = closed.stat().st_size
    _compress(closed, final, progress)
    return Rotated(str(final), plain, final.stat().st_size, [int(d.get("seq", 0)) for d in written], signalled)


def _wait_switched(audit_file: Path, address: str, timeout: float = 10.0) -> None:
    """One audited request after the SIGHUP lands in the new file: then the
    server writes the closed file no more."""
    from netvault.vault.client import ClientConfig

    probe = ClientConfig.local(address).probe()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            probe._send("GET", "auth/token/lookup-self", None, {"Accept": "application/json"})
        except NetvaultError:
            pass
        if audit_file.exists() and audit_file.stat().st_size > 0:
            return
        time.sleep(0.05)
    raise NetvaultError(f"the server did not reopen {audit_file} after SIGHUP within {timeout:.0f}s; "
                        "the closed file was kept as it is")


def _compress(src: Path, dst: Path, progress: Progress | None) -> None:
    tmp = dst.with_name(dst.name + ".partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with open(src, "rb") as fin, os.fdopen(fd, "wb") as raw, gzip.GzipFile(
                filename=src.name, mode="wb", fileobj=raw, compresslevel=6) as fout:
            while True:
                chunk = fin.read(CHUNK)
                if not chunk:
                    break
                fout.write(chunk)
                if progress is not None:
                    progress(len(chunk))
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    src.unlink()
