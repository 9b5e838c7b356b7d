"""Check audit files against their sealed digests, offline.

Needs only the digests and the public key (``cryptography``; no Vault, no
writes): it checks every signature and the chain, then re-hashes each
sealed range of the files it is given and names each edited, truncated or
removed range, each missing digest or file with the time span it leaves
uncovered, and reports bytes written after the last seal as *unsealed*.
A digest whose file is not given is tampering unless the caller scoped it
out (``since``, ``only_given``) and its time does not overlap a given file.
The digests come from Vault (``seal.load_digests``) or from a file written
by ``audit export-digests`` (``read_bundle``).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

from netvault.audit.reader import CHUNK, Progress, open_binary, time_key
from netvault.audit.seal import (
    FORMAT, canonical, digest_hash, file_identity, fingerprint, line_time, read_chunks, scan_from, skip_to,
)
from netvault.values.results import json_result
from netvault.errors import NotFound, UsageError


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

# -- verify -------------------------------------------------------------------

@json_result
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

    JSON_EXTRA = ("status",)  # `audit verify --json`

    @property
    def status(self) -> str:
        return "TAMPERED" if self.tampered else self.kind

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
            t0 = line_time(first.rstrip(b"\n")) if first else None
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
        t_first = line_time(first.rstrip(b"\n")) if first else None
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
        begins = min((d.get("first_time") or "~") for d in ds)
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
            detail = (f"{len(ds)} digest(s) of {name} (identity {fid[:19]}…) seal {_span(begins, last)} but no given "
                      f"file matches them; {why}")
        else:
            kind = "file-missing"
            detail = (f"no file given for {len(ds)} digest(s) of {name} "
                      f"(identity {fid[:19]}…): {_span(begins, last)} not verifiable (file removed, or its first line edited)")
        findings.append(Finding(kind, True, detail, file=name, first_time=begins, last_time=last, digests=seqs))
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
            for chunk in read_chunks(fh, progress):
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
                    first_time=line_time(first_line) if first_line else None,
                    last_time=line_time(tail.head) if tail.head else None,
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
    with open_binary(path) as fh:
        skip_to(fh, start, path)
        data = fh.read(end - start)
    last = ""
    for line in data.split(b"\n"):
        t = line_time(line) if line else None
        if t:
            k = time_key(t)
            if k < last:
                return True
            last = k
    return False
