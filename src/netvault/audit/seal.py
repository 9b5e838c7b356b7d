"""Tamper evidence for audit files, after AWS CloudTrail log file integrity validation.

``seal`` writes one *digest* per audit file for the part not sealed yet:

    file identity (SHA-256 of the file's first line: not its path, so a
    rotated, renamed, copied or gzip'd file keeps it), byte range
    [start, end) ending at a line end, SHA-256 of that range, number of
    entries, first and last event time, and the previous digest's hash and
    signature (one chain over all files), signed with the Ed25519 transit
    key ``audit-seal`` (Vault signs; the private key is not exportable).

Digests are stored create-only under KV ``_audit/digests/<seq>``.

This module writes to Vault (and reads digests and public keys back for
``audit export-digests``); checking files against digests, offline and
with no Vault, is ``netvault.audit.verify``. The digest format and the
file scanning both need live here.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from netvault.audit.reader import CHUNK, Progress, open_binary
from netvault.errors import Conflict, NetvaultError, NotFound, UsageError
from netvault.values.results import json_result
from netvault.vault.kv import AUDIT_DIGESTS, kv_create, kv_data, kv_names
from netvault.vault.mounts import Mounts

KEY_NAME = "audit-seal"
DIGEST_DIR = AUDIT_DIGESTS
FORMAT = "netvault-audit-digests/1"
VERSION = 1


# -- canonical forms ----------------------------------------------------------

def canonical(digest: dict) -> bytes:
    """The signed bytes: the digest without its signature, sorted compact JSON."""
    body = {k: v for k, v in digest.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def digest_hash(digest: dict) -> str:
    """Hash of a whole digest (with its signature): what the next digest chains to."""
    return hashlib.sha256(
        json.dumps(digest, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    ).hexdigest()


def line_time(line: bytes) -> str | None:
    """The ``time`` of one audit entry (fast path: Vault writes it first)."""
    if line.startswith(b'{"time":"'):
        end = line.find(b'"', 9)
        if end > 0:
            return line[9:end].decode("ascii", "replace")
    try:
        return str(json.loads(line).get("time"))
    except (ValueError, AttributeError):
        return None


def file_identity(path: str) -> tuple[str | None, bytes]:
    """(identity, first line) of an audit file; identity None while it has no complete line."""
    with open_binary(path) as fh:
        head = b""
        while b"\n" not in head:
            chunk = fh.read(65536)
            if not chunk:
                return None, b""
            head += chunk
            if len(head) > (64 << 20):
                raise UsageError(f"{path}: first line longer than 64 MiB; not an audit log")
    first = head[: head.index(b"\n") + 1]
    return "sha256:" + hashlib.sha256(first).hexdigest(), first


@dataclass
class RangeScan:
    start: int
    end: int  # exclusive, just after the last complete line
    sha256: str
    entries: int
    first_time: str | None
    last_time: str | None
    size: int  # bytes in the stream (incl. a partial last line)
    last_line: str | None = None  # SHA-256 of the range's last line (with its newline)


def read_chunks(fh, progress: Progress | None = None):
    """The rest of an open audit file in CHUNK-sized pieces, reporting each to ``progress``."""
    while True:
        chunk = fh.read(CHUNK)
        if not chunk:
            return
        if progress is not None:
            progress(len(chunk))
        yield chunk


def scan_from(path: str, start: int, progress: Progress | None = None) -> RangeScan:
    """Hash from ``start`` up to the end of the last complete line."""
    h = hashlib.sha256()
    with open_binary(path) as fh:
        skip_to(fh, start, path)
        pos = start
        held = b""  # bytes after the last newline seen (not hashed yet)
        entries = 0
        first_line = b""
        last_line = b""
        for chunk in read_chunks(fh, progress):
            buf = held + chunk if held else chunk
            nl = buf.rfind(b"\n")
            if nl < 0:
                held = buf
                continue
            if not first_line:
                first_line = buf[: buf.index(b"\n")]
            h.update(memoryview(buf)[: nl + 1])
            entries += buf.count(b"\n", 0, nl + 1)
            prev_nl = buf.rfind(b"\n", 0, nl)
            last_line = buf[prev_nl + 1: nl] if prev_nl >= 0 else buf[:nl]
            pos += nl + 1
            held = buf[nl + 1:]
        size = pos + len(held)
    return RangeScan(start, pos, h.hexdigest(), entries, line_time(first_line) if first_line else None,
                     line_time(last_line) if last_line else None, size,
                     hashlib.sha256(last_line + b"\n").hexdigest() if entries else None)


def skip_to(fh, n: int, path: str) -> None:
    """Move to byte ``n``; a gzip'd or piped stream that cannot seek is read through."""
    if n <= 0:
        return
    try:
        fh.seek(n)
        return
    except (OSError, ValueError):
        pass
    left = n
    while left > 0:
        chunk = fh.read(min(CHUNK, left))
        if not chunk:
            break
        left -= len(chunk)


# -- storage ------------------------------------------------------------------

def load_digests(vault, kv_mount: str = Mounts.kv, *, older_than_needed=None) -> list[dict]:
    """Digests stored in Vault, by sequence number.

    ``older_than_needed(digest) -> bool``: read newest first and stop at the
    first digest for which it is true (sealing needs only the recent ones).
    """
    kv = kv_mount.strip("/")
    out = []
    for key in reversed(kv_names(vault, kv, DIGEST_DIR)):
        body = kv_data(vault, kv, f"{DIGEST_DIR}/{key}")
        if isinstance(body, dict):
            out.append(body)
            if older_than_needed is not None and older_than_needed(body):
                break
    out.sort(key=lambda d: int(d.get("seq") or 0))
    return out


def public_keys(vault, transit_mount: str = Mounts.transit) -> dict[str, str]:
    """Version -> base64 Ed25519 public key of the sealing key."""
    resp = vault.read(f"{transit_mount.strip('/')}/keys/{KEY_NAME}")
    if resp is None:
        raise NotFound(f"transit key {KEY_NAME} not found; run `netvault setup`")
    keys = (resp.get("data") or {}).get("keys") or {}
    out: dict[str, str] = {str(v): k["public_key"] for v, k in keys.items() if isinstance(k, dict) and k.get("public_key")}
    if not out:
        raise NetvaultError(f"transit key {KEY_NAME} has no public key (is it ed25519?)")
    return out


def export_bundle(digests: list[dict], keys: dict[str, str], *, now: str) -> dict:
    return {"format": FORMAT, "key": KEY_NAME, "exported_at": now, "public_keys": keys, "digests": digests}


@json_result
@dataclass
class ExportResult:
    """What `audit export-digests` wrote."""
    path: str
    digests: int
    fingerprints: dict  # key version -> fingerprint of its public key
    exported_at: str

    def to_dict(self) -> dict:
        return asdict(self)


def export_digests(vault, out, *, kv_mount: str = Mounts.kv, transit_mount: str = Mounts.transit,
                   now: str) -> ExportResult:
    """Write every digest and the sealing key's public keys to ``out`` (0600, atomically)."""
    from netvault.local.config import write_private

    digests = load_digests(vault, kv_mount)
    keys = public_keys(vault, transit_mount)
    write_private(Path(out), (json.dumps(export_bundle(digests, keys, now=now), indent=1, sort_keys=True) + "\n").encode())
    return ExportResult(path=str(out), digests=len(digests),
                        fingerprints={str(v): fingerprint(k) for v, k in keys.items()}, exported_at=now)


def fingerprint(key_b64: str) -> str:
    """Short form of a public key, to compare out of band."""
    return "SHA256:" + hashlib.sha256(base64.b64decode(key_b64)).hexdigest()[:32]


# -- seal ---------------------------------------------------------------------

def seal(
    vault,
    paths: Iterable[str],
    *,
    now: str,
    kv_mount: str = Mounts.kv,
    transit_mount: str = Mounts.transit,
    progress: Progress | None = None,
) -> list[dict]:
    """Seal the unsealed part of each file; returns the digests written."""
    kv = kv_mount.strip("/")
    transit = transit_mount.strip("/")
    written: list[dict] = []
    paths = [str(p) for p in paths]
    # A file's digests cannot be older than its first entry: read back only that far.
    starts = []
    for p in paths:
        _fid, first = file_identity(p)
        t0 = line_time(first.rstrip(b"\n")) if first else None
        if t0:
            starts.append(t0[:19])
    oldest = min(starts) if starts else None

    def enough(d: dict) -> bool:
        return oldest is not None and (d.get("last_time") or "")[:19] < oldest

    digests = load_digests(vault, kv, older_than_needed=enough)
    for path in paths:
        fid, _first = file_identity(str(path))
        if fid is None:
            continue
        sealed_to = max((int(d.get("end") or 0) for d in digests if d.get("file_id") == fid), default=0)
        scan = scan_from(str(path), sealed_to, progress)
        if scan.size < sealed_to:
            from netvault.errors import Tampered

            raise Tampered(
                f"{path} is shorter ({scan.size} bytes) than already sealed ({sealed_to}); "
                "run `netvault audit verify`"
            )
        if scan.end <= sealed_to:
            continue
        for _attempt in range(10):
            head = digests[-1] if digests else None
            digest = {
                "version": VERSION,
                "seq": int(head["seq"]) + 1 if head else 1,
                "file_id": fid,
                "file_name": Path(str(path)).name,
                "start": sealed_to,
                "end": scan.end,
                "sha256": scan.sha256,
                "entries": scan.entries,
                "first_time": scan.first_time,
                "last_time": scan.last_time,
                "last_line": scan.last_line,
                "sealed_at": now,
                "previous": {"seq": int(head["seq"]), "hash": digest_hash(head), "signature": head.get("signature")} if head else None,
            }
            signed = vault.write(
                f"{transit}/sign/{KEY_NAME}",
                {"input": base64.b64encode(canonical(digest)).decode()},
                idempotent=True,
            )
            digest["signature"] = signed["data"]["signature"]
            try:
                kv_create(vault, kv, f"{DIGEST_DIR}/{digest['seq']:08d}", digest)
            except Conflict:  # another sealer took this number: re-read the chain
                digests = load_digests(vault, kv, older_than_needed=enough)
                sealed_to_now = max((int(d.get("end") or 0) for d in digests if d.get("file_id") == fid), default=0)
                if sealed_to_now != sealed_to:
                    break  # the other sealer covered this file; leave the rest to the next run
                continue
            digests.append(digest)
            written.append(digest)
            break
        else:
            raise Conflict("could not append a digest: the chain kept changing; try again")
    return written
