"""Tamper evidence for audit files, after AWS CloudTrail log file integrity validation.

``seal`` writes one *digest* per audit file for the part not sealed yet:

    file identity (SHA-256 of the file's first line: not its path, so a
    rotated, renamed, copied or gzip'd file keeps it), byte range
    [start, end) ending at a line end, SHA-256 of that range, number of
    entries, first and last event time, and the previous digest's hash and
    signature (one chain over all files), signed with the Ed25519 transit
    key ``audit-seal`` (Vault signs; the private key is not exportable).

Digests are stored create-only under KV ``_audit/digests/<seq>``.

``verify`` needs only the digests and the public key (``cryptography``,
offline): it checks every signature and the chain, then re-hashes each
sealed range of the files it is given and names each edited, truncated or
removed range, each missing digest or file with the time span it leaves
uncovered, and reports bytes written after the last seal as *unsealed*.
A digest whose file is not given is tampering unless the caller scoped it
out (``since``, ``only_given``) and its time does not overlap a given file.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

from netvault.audit.reader import CHUNK, Progress, open_binary, time_key
from netvault.errors import Conflict, NetvaultError, NotFound, UsageError
from netvault.local.config import Mounts

KEY_NAME = "audit-seal"
DIGEST_DIR = "_audit/digests"
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


def _time_of(line: bytes) -> str | None:
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


def scan_from(path: str, start: int, progress: Progress | None = None) -> RangeScan:
    """Hash from ``start`` up to the end of the last complete line."""
    h = hashlib.sha256()
    with open_binary(path) as fh:
        _skip(fh, start, path)
        pos = start
        held = b""  # bytes after the last newline seen (not hashed yet)
        entries = 0
        first_line = b""
        last_line = b""
        while True:
            chunk = fh.read(CHUNK)
            if not chunk:
                break
            if progress is not None:
                progress(len(chunk))
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
    return RangeScan(start, pos, h.hexdigest(), entries, _time_of(first_line) if first_line else None,
                     _time_of(last_line) if last_line else None, size,
                     hashlib.sha256(last_line + b"\n").hexdigest() if entries else None)


def _skip(fh, n: int, path: str) -> None:
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
    keys = sorted((k for k in vault.list(f"{kv}/metadata/{DIGEST_DIR}") if not k.endswith("/")), reverse=True)
    out = []
    for key in keys:
        resp = vault.read(f"{kv}/data/{DIGEST_DIR}/{key}")
        body = ((resp or {}).get("data") or {}).get("data")
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
    out = {str(v): k.get("public_key") for v, k in keys.items() if isinstance(k, dict) and k.get("public_key")}
    if not out:
        raise NetvaultError(f"transit key {KEY_NAME} has no public key (is it ed25519?)")
    return out


def export_bundle(digests: list[dict], keys: dict[str, str], *, now: str) -> dict:
    return {"format": FORMAT, "key": KEY_NAME, "exported_at": now, "public_keys": keys, "digests": digests}


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
    import json

    from netvault.local.config import write_private

    digests = load_digests(vault, kv_mount)
    keys = public_keys(vault, transit_mount)
    write_private(Path(out), (json.dumps(export_bundle(digests, keys, now=now), indent=1, sort_keys=True) + "\n").encode())
    return ExportResult(path=str(out), digests=len(digests),
                        fingerprints={str(v): fingerprint(k) for v, k in keys.items()}, exported_at=now)


def read_bundle(path: str) -> tuple[list[dict], dict[str, str]]:
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise NotFound(f"digest file {path} not found") from None
    except OSError as exc:
        raise UsageError(f"cannot read digest file {path}: {exc.strerror}") from None
    try:
        data = json.loads(raw)
    except ValueError:
        raise UsageError(f"digest file {path} is not valid JSON") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UsageError(f"{path} is not a netvault digest export ({FORMAT})")
    digests = [d for d in data.get("digests") or [] if isinstance(d, dict)]
    return digests, dict(data.get("public_keys") or {})


def parse_public_key(text: str) -> dict[str, str]:
    """``--public-key``: a base64 key (version 1), ``N:base64``, or a file holding either."""
    value = text.strip()
    p = Path(value)
    if len(value) < 200 and p.is_file():
        value = p.read_text().strip()
    version = "1"
    if ":" in value and value.split(":", 1)[0].isdigit():
        version, value = value.split(":", 1)
    try:
        if len(base64.b64decode(value, validate=True)) != 32:
            raise ValueError
    except ValueError:
        raise UsageError("--public-key must be a base64 Ed25519 public key (32 bytes), N:KEY, or a file with it") from None
    return {version: value}


def fingerprint(key_b64: str) -> str:
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
        t0 = _time_of(first.rstrip(b"\n")) if first else None
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
                vault.write(
                    f"{kv}/data/{DIGEST_DIR}/{digest['seq']:08d}",
                    {"data": digest, "options": {"cas": 0}},
                )
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


# -- verify -------------------------------------------------------------------

@dataclass
class Finding:
    kind: str  # ok | unsealed | edited | truncated | gap | digest-missing | chain-broken | bad-signature | file-missing | file-replaced
    tampered: bool
    detail: str
    file: str | None = None
    start: int | None = None
    end: int | None = None
    first_time: str | None = None
    last_time: str | None = None
    digests: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class VerifyResult:
    findings: list[Finding]
    digests: int
    key_fingerprints: dict[str, str]

    @property
    def tampered(self) -> bool:
        return any(f.tampered for f in self.findings)


def _verify_signature(d: dict, keys: dict[str, str]) -> str | None:
    """None when valid, else why not."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    sig = d.get("signature")
    if not isinstance(sig, str) or not sig.startswith("vault:v"):
        return "no signature"
    try:
        _, ver, b64 = sig.split(":", 2)
        version = ver[1:]
        raw = base64.b64decode(b64, validate=True)
    except ValueError:
        return "malformed signature"
    key = keys.get(version)
    if not key:
        return f"no public key version {version}"
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(key)).verify(raw, canonical(d))
    except (InvalidSignature, ValueError):
        return "signature does not match"
    return None


def _span(a: str | None, b: str | None) -> str:
    return f"{(a or '?')[:19]} .. {(b or '?')[:19]}"


def verify(
    digests: list[dict],
    keys: dict[str, str],
    paths: Iterable[str],
    *,
    since: str | None = None,
    only_given: bool = False,
    progress: Progress | None = None,
) -> VerifyResult:
    """Check signatures, the chain, and every sealed range of ``paths``.

    ``since`` (``YYYY-MM-DDTHH:MM:SS``): digests that end before it are not
    expected among ``paths`` (older rotated files need not be handed over).
    ``only_given``: digests of files not in ``paths`` are not expected
    (the chain and signatures are still checked in full).
    Neither excuses a digest whose time span overlaps a given file's: its
    file was left out, or a given file is a rewritten copy of it
    (``file-missing`` / ``file-replaced``, tampered).
    """
    findings: list[Finding] = []
    chain = sorted(digests, key=lambda d: int(d.get("seq") or 0))
    by_seq: dict[int, dict] = {}
    for d in chain:
        seq = int(d.get("seq") or 0)
        if seq in by_seq:
            findings.append(Finding("chain-broken", True, f"two digests claim number {seq}", digests=[seq]))
        by_seq[seq] = d
    # 1. signatures
    for d in chain:
        why = _verify_signature(d, keys)
        if why:
            findings.append(Finding(
                "bad-signature", True, f"digest #{d.get('seq')}: {why} (digest edited or forged)",
                file=d.get("file_name"), start=d.get("start"), end=d.get("end"),
                first_time=d.get("first_time"), last_time=d.get("last_time"), digests=[int(d.get("seq") or 0)],
            ))
    # 2. chain: contiguous numbers, each linked to the one before
    if by_seq:
        top = max(by_seq)
        missing = [n for n in range(1, top + 1) if n not in by_seq]
        for n in missing:
            before = by_seq.get(n - 1)
            after = by_seq.get(n + 1)
            findings.append(Finding(
                "digest-missing", True,
                f"digest #{n} is missing from the chain (removed); what it sealed is unverified, "
                f"roughly {_span((before or {}).get('last_time'), (after or {}).get('first_time'))}",
                first_time=(before or {}).get("last_time"), last_time=(after or {}).get("first_time"), digests=[n],
            ))
        for n, d in by_seq.items():
            prev = by_seq.get(n - 1)
            link = d.get("previous")
            if n == 1:
                if link:
                    findings.append(Finding("chain-broken", True, "digest #1 points to an earlier digest: the start of the chain was removed", digests=[1]))
                continue
            if prev is None:
                continue  # reported as missing
            if not isinstance(link, dict) or link.get("hash") != digest_hash(prev) or link.get("signature") != prev.get("signature"):
                findings.append(Finding(
                    "chain-broken", True, f"digest #{n} does not chain to digest #{n - 1} (one of them replaced)",
                    digests=[n - 1, n],
                ))
    # 3. files
    seen_ids: set[str] = set()
    spans: list[_Span] = []  # time span each given file covers (by its entries and its digests)
    for path in paths:
        path = str(path)
        fid, first = file_identity(path)
        if fid and not any(d.get("file_id") == fid for d in chain):
            # Unknown identity: a new file, or one whose first line was edited.
            # Match it to a sealed file by the time of its first entry.
            t0 = _time_of(first.rstrip(b"\n")) if first else None
            for d in chain:
                if int(d.get("start") or 0) == 0 and t0 and d.get("first_time") == t0 and d.get("file_id") not in seen_ids:
                    findings.append(Finding(
                        "edited", True,
                        f"first line changed: the file's identity no longer matches digest #{d.get('seq')} "
                        f"(sealed as {d.get('file_name')})",
                        file=path, start=0, end=len(first), first_time=t0, digests=[int(d.get("seq") or 0)],
                    ))
                    fid = d.get("file_id")
                    break
        mine = sorted((d for d in chain if d.get("file_id") == fid), key=lambda d: (int(d.get("start") or 0), int(d.get("seq") or 0)))
        if fid:
            seen_ids.add(fid)
        found = _verify_file(path, mine, progress)
        findings.extend(found)
        times = [t for f in found for t in (f.first_time, f.last_time) if t]
        t_first = _time_of(first.rstrip(b"\n")) if first else None
        if t_first:
            times.append(t_first)
        if times:
            spans.append(_Span(path, min(times, key=time_key), max(times, key=time_key), not mine))
    # 4. digests for files nobody handed over. Each is a gap in time, unless
    # ``since``/``only_given`` say that time is out of scope; but a digest whose
    # time span overlaps a given file's is always in scope: the file it sealed
    # was left out, or a given file is a rewritten copy of it (a file rewritten
    # from its first line on has a new identity and matches no digest).
    groups: dict[str, list[dict]] = {}
    for d in chain:
        if d.get("file_id") not in seen_ids:
            groups.setdefault(str(d.get("file_id")), []).append(d)
    for fid, ds in groups.items():
        last = max((d.get("last_time") or "") for d in ds)
        overlapping = [(d, s) for d in ds for s in spans if s.overlaps(d.get("first_time"), d.get("last_time"))]
        out_of_scope = only_given or (since and last[:19] < since)
        if out_of_scope and not overlapping:
            continue
        if out_of_scope:
            ds = sorted({int(d.get("seq") or 0): d for d, _ in overlapping}.values(), key=lambda d: int(d.get("seq") or 0))
            last = max((d.get("last_time") or "") for d in ds)
        first = min((d.get("first_time") or "~") for d in ds)
        name = ds[0].get("file_name")
        seqs = [int(d.get("seq") or 0) for d in ds]
        if overlapping:
            given = sorted({s.path for _, s in overlapping})
            unsealed = sorted({s.path for _, s in overlapping if s.unsealed})
            shown = ", ".join(Path(p).name for p in given)
            if unsealed:
                kind = "file-replaced"
                why = (f"given file {', '.join(Path(p).name for p in unsealed)} covers that time but matches no "
                       "digest: a rewritten or substituted copy (or the sealed file was left out)")
            else:
                kind = "file-missing"
                why = f"it overlaps the given file(s) {shown}: that file was left out (or removed)"
            detail = (f"{len(ds)} digest(s) of {name} (identity {fid[:19]}…) seal {_span(first, last)} but no given "
                      f"file matches them; {why}")
        else:
            kind = "file-missing"
            detail = (f"no file given for {len(ds)} digest(s) of {name} "
                      f"(identity {fid[:19]}…): {_span(first, last)} not verifiable (file removed, or its first line edited)")
        findings.append(Finding(kind, True, detail, file=name, first_time=first, last_time=last, digests=seqs))
    fps = {v: fingerprint(k) for v, k in keys.items()}
    return VerifyResult(findings, len(chain), fps)


@dataclass
class _Span:
    """The time a given file covers: its entries' times and its digests' spans."""

    path: str
    first: str
    last: str
    unsealed: bool  # no digest has this file's identity

    def overlaps(self, first: str | None, last: str | None) -> bool:
        if not first or not last:
            return False
        return time_key(first) <= time_key(self.last) and time_key(last) >= time_key(self.first)


def _verify_file(path: str, mine: list[dict], progress: Progress | None) -> list[Finding]:
    out: list[Finding] = []
    if not mine:
        scan = scan_from(path, 0, progress)
        if scan.entries:
            out.append(Finding("unsealed", False, f"{scan.entries} entries never sealed (no digest has this file)",
                               file=path, start=0, end=scan.end, first_time=scan.first_time, last_time=scan.last_time))
        return out
    with open_binary(path) as fh:
        pos = 0  # where the next sealed range should start in this file
        shift = 0  # actual offset - sealed offset, after lines were removed/added
        prev: dict | None = None
        truncated = False
        for d in mine:
            seq = int(d.get("seq") or 0)
            start, end = int(d.get("start") or 0) + shift, int(d.get("end") or 0) + shift
            span = _span(d.get("first_time"), d.get("last_time"))
            if start > pos:
                out.append(Finding(
                    "gap", True,
                    f"bytes {pos}-{start} have no digest (digest removed): "
                    f"{_span((prev or {}).get('last_time'), d.get('first_time'))} unverified",
                    file=path, start=pos, end=start, first_time=(prev or {}).get("last_time"),
                    last_time=d.get("first_time"), digests=[seq],
                ))
            elif start < pos:
                out.append(Finding("chain-broken", True, f"digest #{seq} overlaps an earlier digest of this file",
                                   file=path, start=start, end=end, digests=[seq]))
                continue
            if truncated:
                out.append(Finding("truncated", True, f"digest #{seq}: sealed bytes gone (file truncated), {span}",
                                   file=path, start=start, end=end, first_time=d.get("first_time"),
                                   last_time=d.get("last_time"), digests=[seq]))
                prev = d
                continue
            _seek(fh, start)
            h = hashlib.sha256()
            got, lines = _read_exact(fh, end - start, h, progress)
            if got == end - start and h.hexdigest() == d.get("sha256"):
                out.append(Finding("ok", False, f"bytes {start}-{end} intact (digest #{seq})", file=path, start=start,
                                   end=end, first_time=d.get("first_time"), last_time=d.get("last_time"), digests=[seq]))
                pos = end
                prev = d
                continue
            # Mismatch: find where this range really ends (its last line), to
            # name what changed and to carry on with the next range.
            real_end, real_lines = _find_anchor(fh, start, d.get("last_line"))
            sealed_n = int(d.get("entries") or 0)
            if real_end is None:
                if got < end - start:
                    truncated = True
                    out.append(Finding(
                        "truncated", True,
                        f"file ends at byte {start + got}, but digest #{seq} sealed up to {end}: "
                        f"{end - start - got} bytes cut off ({span})",
                        file=path, start=start + got, end=end, first_time=d.get("first_time"),
                        last_time=d.get("last_time"), digests=[seq],
                    ))
                    prev = d
                    continue
                how = "edited (its last line is gone or changed too)" if d.get("last_line") else "edited"
                real_end = end
            else:
                if real_lines < sealed_n:
                    how = f"{sealed_n - real_lines} line(s) removed"
                elif real_lines > sealed_n:
                    how = f"{real_lines - sealed_n} line(s) added"
                elif (real_end - start) <= (64 << 20) and check_order(path, start, real_end):
                    how = "lines reordered (entries out of time order) or edited"
                else:
                    how = "edited (same number of lines)"
            out.append(Finding(
                "edited", True, f"bytes {start}-{real_end} do not match digest #{seq}: {how} ({span})",
                file=path, start=start, end=real_end, first_time=d.get("first_time"), last_time=d.get("last_time"),
                digests=[seq],
            ))
            shift += real_end - end
            pos = real_end
            prev = d
        if not truncated:
            # What follows the last seal: unsealed, not tampering.
            _seek(fh, pos)
            rest = 0
            lines = 0
            last_byte = b""
            first_line = b""
            tail = _LastLine()
            while True:
                chunk = fh.read(CHUNK)
                if not chunk:
                    break
                if progress is not None:
                    progress(len(chunk))
                if not first_line and b"\n" in chunk:
                    first_line = chunk[: chunk.index(b"\n")]
                tail.feed(chunk)
                rest += len(chunk)
                lines += chunk.count(b"\n")
                last_byte = chunk[-1:]
            if rest:
                out.append(Finding(
                    "unsealed", False, f"{lines} entries ({rest} bytes) written after the last seal",
                    file=path, start=pos, end=pos + rest,
                    first_time=_time_of(first_line) if first_line else None,
                    last_time=_time_of(tail.head) if tail.head else None,
                ))
            # A file ending mid-entry: a write being made, or cut short (full
            # disk). An incomplete final write, not an edit (sealed bytes are
            # checked above; torn lines inside the file are named by the reader).
            if rest > 0 and last_byte != b"\n":
                out.append(Finding(
                    "incomplete-write", False,
                    "the file ends in the middle of an entry (being written, or cut short); not tampering",
                    file=path, start=pos + rest, end=pos + rest))
    return out


class _LastLine:
    """The first bytes of the last complete line of a stream fed in chunks
    (enough for its ``time``), without keeping the stream."""

    KEEP = 256

    def __init__(self) -> None:
        self.head = b""  # head of the last complete line
        self._cur = b""  # head of the line being read

    def feed(self, chunk: bytes) -> None:
        nl = chunk.rfind(b"\n")
        if nl < 0:
            if len(self._cur) < self.KEEP:
                self._cur += chunk[: self.KEEP - len(self._cur)]
            return
        prev = chunk.rfind(b"\n", 0, nl)
        if prev < 0:
            self.head = (self._cur + chunk[: self.KEEP])[: self.KEEP] if len(self._cur) < self.KEEP else self._cur
            self.head = self.head.split(b"\n", 1)[0]
        else:
            self.head = chunk[prev + 1: min(nl, prev + 1 + self.KEEP)]
        self._cur = chunk[nl + 1: nl + 1 + self.KEEP]


def _seek(fh, offset: int) -> None:
    if fh.tell() != offset:
        fh.seek(offset)


def _find_anchor(fh, start: int, anchor: str | None) -> tuple[int | None, int]:
    """(end offset of the line hashing to ``anchor`` at/after ``start``, lines up to it)."""
    if not anchor:
        return None, 0
    _seek(fh, start)
    pos = start
    lines = 0
    for line in fh:  # line iteration; only on the (rare) mismatch path
        pos += len(line)
        if not line.endswith(b"\n"):
            break
        lines += 1
        if hashlib.sha256(line).hexdigest() == anchor:
            return pos, lines
    return None, lines


def _read_exact(fh, n: int, h, progress: Progress | None) -> tuple[int, int]:
    """Read n bytes into hash h (if any); (bytes read, newlines)."""
    got = 0
    lines = 0
    while got < n:
        chunk = fh.read(min(CHUNK, n - got))
        if not chunk:
            break
        if progress is not None:
            progress(len(chunk))
        if h is not None:
            h.update(chunk)
        lines += chunk.count(b"\n")
        got += len(chunk)
    return got, lines


def check_order(path: str, start: int, end: int) -> bool:
    """True when the entries in [start, end) are out of time order (diagnostics only)."""
    from netvault.audit.reader import time_key

    with open_binary(path) as fh:
        _skip(fh, start, path)
        data = fh.read(end - start)
    last = ""
    for line in data.split(b"\n"):
        t = _time_of(line) if line else None
        if t:
            k = time_key(t)
            if k < last:
                return True
            last = k
    return False
