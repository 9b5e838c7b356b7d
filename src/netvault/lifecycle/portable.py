"""Portable export of one customer (issue 11): the encrypted file format and
the assembly of its contents. No printing, no typer; time comes in as ``now=``.

File format (docs/EXPORT-FORMAT.md), version 1::

    offset  size  field
    0       8     magic  b"NVEXPORT"
    8       1     format version (1)
    9       2     header length H, big-endian (1..4096)
    11      H     header: UTF-8 JSON object (kdf, n, r, p, salt, cipher, nonce, check)
    11+H    ...   AES-256-GCM ciphertext of the UTF-8 JSON export, 16-byte tag at the end

The key is scrypt(passphrase, salt, n, r, p, length 64): bytes 0-31 are the
AES key, bytes 32-47 are stored as ``check`` (tells a wrong passphrase from a
modified file). Everything before the ciphertext (magic, version, length,
header) is the GCM associated data, so no header byte can change unnoticed.
The plaintext never touches the disk: it is built in memory, encrypted, and
only the ciphertext is written (to a 0600 temp file in the target directory,
fsync'd, then renamed over the target).
"""

from __future__ import annotations

from dataclasses import dataclass

import base64
import json
import os
import struct

from netvault.errors import (
    Conflict, NetvaultError, NotFound, PermissionDenied, Tampered, UsageError,
)
from netvault.values.results import extend, json_result
from netvault.vault.kv import CUSTOMERS, current_version_of, kv_data, kv_metadata, kv_names, kv_read

MAGIC = b"NVEXPORT"
VERSION = 1
MAX_HEADER = 4096
#: scrypt defaults: 2**17 * 8 * 128 bytes = 128 MiB of memory per try
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 17, 8, 1
#: what `export open` accepts from a header (bounds memory and time of a planted file)
N_RANGE, R_RANGE, P_RANGE = (2 ** 14, 2 ** 20), (1, 32), (1, 16)
SALT_LEN, NONCE_LEN, CHECK_LEN, TAG_LEN = 16, 12, 16, 16
MIN_PASSPHRASE = 12
FORMAT_NAME = "netvault-export"


class WrongPassphrase(PermissionDenied):
    """Exit 4: the passphrase does not open this file."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(value, size: int, what: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise Tampered(f"export file header is damaged ({what}); the file was modified or is not a netvault export")
    return raw


def check_passphrase(passphrase: str) -> str:
    if not isinstance(passphrase, str) or len(passphrase) < MIN_PASSPHRASE:
        raise UsageError(f"the export passphrase must be at least {MIN_PASSPHRASE} characters")
    return passphrase


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> tuple[bytes, bytes]:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    out = Scrypt(salt=salt, length=64, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))
    return out[:32], out[32:32 + CHECK_LEN]


def encrypt(plaintext: bytes, passphrase: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> bytes:
    """The whole export file for ``plaintext`` (bytes)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    check_passphrase(passphrase)
    salt, nonce = os.urandom(SALT_LEN), os.urandom(NONCE_LEN)
    key, check = _derive(passphrase, salt, n, r, p)
    header = json.dumps({"kdf": "scrypt", "n": n, "r": r, "p": p, "salt": _b64(salt),
                         "cipher": "aes-256-gcm", "nonce": _b64(nonce), "check": _b64(check)},
                        sort_keys=True, separators=(",", ":")).encode()
    prefix = MAGIC + bytes([VERSION]) + struct.pack(">H", len(header)) + header
    return prefix + AESGCM(key).encrypt(nonce, plaintext, prefix)


def _header(blob: bytes) -> tuple[dict, bytes, bytes]:
    """(header, associated data, ciphertext) of an export file; checks shape only."""
    if len(blob) < len(MAGIC) or blob[:len(MAGIC)] != MAGIC:
        if len(blob) < len(MAGIC) and MAGIC.startswith(blob) and blob:
            raise Tampered("export file is truncated (shorter than its header)")
        raise UsageError("not a netvault export file (no NVEXPORT header)")
    if len(blob) < 11:
        raise Tampered("export file is truncated (shorter than its header)")
    version = blob[8]
    if version != VERSION:
        raise UsageError(f"export file format version {version} is not supported (this netvault reads {VERSION})")
    (length,) = struct.unpack(">H", blob[9:11])
    if not 1 <= length <= MAX_HEADER:
        raise Tampered("export file header is damaged (length); the file was modified")
    if len(blob) < 11 + length:
        raise Tampered("export file is truncated (shorter than its header)")
    try:
        header = json.loads(blob[11:11 + length].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Tampered("export file header is damaged (not JSON); the file was modified") from None
    if not isinstance(header, dict) or header.get("kdf") != "scrypt" or header.get("cipher") != "aes-256-gcm":
        raise Tampered("export file header is damaged (kdf/cipher); the file was modified")
    for name, (low, high) in (("n", N_RANGE), ("r", R_RANGE), ("p", P_RANGE)):
        value = header.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise Tampered(f"export file header is damaged (scrypt {name} out of range); the file was modified")
    if header["n"] & (header["n"] - 1):
        raise Tampered("export file header is damaged (scrypt n not a power of two); the file was modified")
    body = blob[11 + length:]
    if len(body) < TAG_LEN:
        raise Tampered("export file is truncated (no ciphertext)")
    return header, blob[:11 + length], body


def decrypt(blob: bytes, passphrase: str) -> bytes:
    """The plaintext of an export file, or an error: WrongPassphrase (exit 4),
    Tampered (exit 9: modified or truncated), UsageError (exit 2: not an export)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    header, aad, body = _header(blob)
    salt = _unb64(header.get("salt"), SALT_LEN, "salt")
    nonce = _unb64(header.get("nonce"), NONCE_LEN, "nonce")
    check = _unb64(header.get("check"), CHECK_LEN, "check")
    key, got = _derive(passphrase, salt, header["n"], header["r"], header["p"])
    import hmac

    if not hmac.compare_digest(got, check):
        raise WrongPassphrase("wrong passphrase for this export file (or its header was modified)")
    try:
        return AESGCM(key).decrypt(nonce, body, aad)
    except InvalidTag:
        raise Tampered("export file was modified or truncated: its authentication tag does not match; nothing shown") from None


def open_export(blob: bytes, passphrase: str) -> dict:
    plain = decrypt(blob, passphrase)
    try:
        doc = json.loads(plain.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise NetvaultError("the export decrypted but does not hold JSON (written by another tool?)") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise NetvaultError("the export decrypted but is not a netvault export document")
    return doc


def check_target(path: str, *, force: bool = False) -> str:
    """Where the export will go: refused before anything is decrypted when it
    is a directory, exists (without ``force``) or its directory is missing or
    not writable. Returns the absolute path."""
    target = os.path.abspath(path)
    directory = os.path.dirname(target) or "."
    if os.path.isdir(target):
        raise UsageError(f"{path} is a directory")
    if os.path.lexists(target) and not force:
        raise Conflict(f"{path} already exists; give --force to replace it")
    if not os.path.isdir(directory):
        raise NotFound(f"directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write in {directory}: permission denied")
    return target


def write_atomic(path: str, data: bytes, *, force: bool = False) -> None:
    """Write ``data`` to ``path`` as 0600: a temp file in the same directory,
    fsync'd, renamed over the target. On any error no file is left behind."""
    import tempfile

    target = check_target(path, force=force)
    directory = os.path.dirname(target) or "."
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".nv-export-", suffix=".tmp")  # mode 0600
    except OSError as exc:
        raise UsageError(f"cannot write in {directory}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise UsageError(f"cannot write {path}: {exc.strerror}") from None
        raise


# -- assembly -----------------------------------------------------------------
def _iso(now) -> str:
    return now.astimezone(__import__("datetime").timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Decrypter:
    """Decrypts sealed fields for the export: one transit decrypt per distinct
    (ciphertext, record id), each carrying the incident reference exactly like
    ``netvault reveal`` (``lookup.decrypt``), so each is one reveal in the trail."""

    def __init__(self, vault, kv: str, transit: str, customer: str, reference: str) -> None:
        self.vault, self.kv, self.transit = vault, kv, transit
        self.customer, self.reference = customer, reference
        self.done: dict[tuple[str, str], str] = {}

    def wanted(self, versions: list[dict]) -> set[tuple[str, str]]:
        out = set()
        for v in versions:
            data = v.get("data") or {}
            rid = data.get("id")
            for ct in (data.get("secrets") or {}).values():
                if isinstance(ct, str) and isinstance(rid, str):
                    out.add((ct, rid))
        return out

    def run(self, pairs: set[tuple[str, str]], threads: int = 4) -> None:
        from netvault.records import lookup

        todo = sorted(p for p in pairs if p not in self.done)

        def one(client, pair):
            return lookup.decrypt(client, self.transit, self.customer, pair[0], pair[1], self.reference, self.kv)

        for pair, value in zip(todo, lookup.parallel(self.vault, todo, one, threads=threads)):
            self.done[pair] = value


def _versions(vault, kv: str, path: str) -> dict | None:
    """Every version of a KV key with its data (None for deleted/destroyed ones)."""
    from netvault.records.lookup import parallel

    meta = kv_metadata(vault, kv, path)
    if not meta:
        return None
    rows = []
    for number, info in sorted((meta.get("versions") or {}).items(), key=lambda kv_: int(kv_[0])):
        rows.append({"version": int(number), "created_time": info.get("created_time"),
                     "deleted": bool(info.get("deletion_time")), "destroyed": bool(info.get("destroyed"))})

    def one(client, row):
        if row["deleted"] or row["destroyed"]:
            return None
        return kv_data(client, kv, path, row["version"])

    for row, data in zip(rows, parallel(vault, rows, one)):
        row["data"] = data
    return {"current_version": current_version_of(meta), "versions": rows}


def _can_decrypt(vault, transit: str, customer: str) -> bool:
    from netvault.records.lookup import transit_key

    path = f"{transit}/decrypt/{transit_key(customer)}"
    resp = vault.write("sys/capabilities-self", {"paths": [path]}) or {}
    caps = resp.get(path) or (resp.get("data") or {}).get(path) or resp.get("capabilities") or []
    return "root" in caps or "update" in caps


def assemble(vault, *, kv: str, transit: str, customer: str, reference: str, now,
             audit_files=None, mounts=None, progress=None) -> dict:
    """Everything netvault holds about ``customer``, secret fields decrypted.

    Refuses (nothing decrypted) when the customer does not exist or the caller
    holds no reveal right on it; an incident reference Vault refuses stops it
    at the first decrypt. ``audit_files``: also the customer's access events
    from the trail, and the author of each version (``authors``).
    """
    from netvault.records import lookup
    from netvault.values import names
    from netvault.lifecycle import subprocessors

    names.slug(customer, "customer")
    lookup.check_reference(reference)
    if not _can_decrypt(vault, transit, customer):
        try:
            exists = kv_metadata(vault, kv, lookup.profile_path(customer)) is not None
        except PermissionDenied:
            exists = False
        if not exists:
            raise lookup.unknown_customer(vault, kv, customer) or NotFound(f"no customer {customer}")
        raise PermissionDenied(
            f"an export decrypts every secret of {customer}: you hold no reveal right on it (a grant); nothing exported")
    try:
        profile = _versions(vault, kv, lookup.profile_path(customer))
    except PermissionDenied:
        raise lookup.unknown_customer(vault, kv, customer) or PermissionDenied(
            f"Vault refused to read customer {customer}") from None
    if not profile or kv_read(vault, kv, lookup.profile_path(customer)) is None:
        raise lookup.unknown_customer(vault, kv, customer) or NotFound(f"no customer {customer}")
    records: dict[str, dict] = {}
    for kind in lookup.KINDS:
        listed = kv_names(vault, kv, f"{CUSTOMERS}/{customer}/{kind}")
        got = lookup.parallel(vault, listed, lambda client, n, kind=kind: _versions(client, kv, lookup.record_path(customer, kind, n)))
        records[kind] = {n: h for n, h in zip(listed, got) if h is not None}
    dec = _Decrypter(vault, kv, transit, customer, reference)
    pairs = set()
    for kind in lookup.SECRET_KINDS:
        for hist in records[kind].values():
            pairs |= dec.wanted(hist["versions"])
    dec.run(pairs)
    for by_name in records.values():
        for hist in by_name.values():
            for row in hist["versions"]:
                data = row.get("data")
                if not data:
                    continue
                sealed = data.pop("secrets", None) or {}
                data.pop("fingerprints", None)
                if sealed:
                    row["secrets"] = {f: dec.done[(ct, data.get("id"))] for f, ct in sorted(sealed.items())
                                      if (ct, data.get("id")) in dec.done}
    grants, grants_note = None, None
    try:
        from netvault.access import grants as access

        grants = [{k: v for k, v in g.to_dict().items() if k != "accessor"}
                  for g in access.list_grants(vault, now=now, customer=customer, **({"mounts": mounts} if mounts else {}))]
    except PermissionDenied:
        grants_note = "your role may not read grant records (team lead, admin or auditor can)"
    try:
        subs = subprocessors.list_for(vault, kv, customer)
    except PermissionDenied:
        subs = None
    doc = {
        "format": FORMAT_NAME, "format_version": VERSION, "customer": customer,
        "exported_at": _iso(now), "incident": reference, "exported_by": _caller(vault),
        "profile": profile, "records": records, "grants": grants, "subprocessors": subs,
        "decrypted_values": len(dec.done), "access_events": None,
    }
    if grants_note:
        doc["grants_note"] = grants_note
    if audit_files:
        from netvault.records import authors
        from netvault.audit.events import Filters, Resolver, events
        from netvault.vault.mounts import Mounts

        paths = [str(p) for p in audit_files]
        resolver = Resolver(vault, kv_mount=kv, userpass_mount=(mounts or Mounts()).userpass)
        doc["access_events"] = [e.to_dict() for e in events(paths, filters=Filters(customer=customer),
                                                             resolver=resolver, progress=progress,
                                                             **({"mounts": mounts} if mounts else {}))]
        keyed = {lookup.profile_path(customer): profile}
        for kind, by_name in records.items():
            for n, hist in by_name.items():
                keyed[lookup.record_path(customer, kind, n)] = hist
        authors.annotate(paths, kv, keyed, resolver=resolver, mounts=mounts)
    return doc


def _caller(vault) -> dict:
    try:
        data = vault.request("GET", "auth/token/lookup-self")["data"]
    except NetvaultError:
        return {}
    return {"entity_id": data.get("entity_id") or None, "display_name": data.get("display_name") or None}


@json_result
@dataclass(frozen=True)
class ExportSummary:
    """`export open --summary --json`: counts of an opened export (None: not in it)."""
    customer: str | None
    exported_at: str | None
    incident: str | None
    profile_versions: int
    credentials: int
    devices: int
    licences: int
    versions: int
    secret_values: int
    grants: int | None
    subprocessors: int | None
    access_events: int | None


@json_result
@dataclass(frozen=True)
class ExportWritten(ExportSummary):
    """`customer export --json`: the file written, its size, the counts, the values decrypted."""
    file: str = ""
    bytes: int = 0
    decrypted_values: int = 0


def summary(doc: dict) -> ExportSummary:
    """Counts of an opened export (for `export open --summary` and the demo)."""
    records = doc.get("records") or {}
    return ExportSummary(
        customer=doc.get("customer"), exported_at=doc.get("exported_at"), incident=doc.get("incident"),
        profile_versions=len((doc.get("profile") or {}).get("versions") or []),
        **{kind: len(records.get(kind) or {}) for kind in ("credentials", "devices", "licences")},
        versions=sum(len(h.get("versions") or []) for by in records.values() for h in by.values()),
        secret_values=sum(len(v.get("secrets") or {}) for by in records.values() for h in by.values()
                          for v in h.get("versions") or []),
        grants=None if doc.get("grants") is None else len(doc["grants"]),
        subprocessors=None if doc.get("subprocessors") is None else len(doc["subprocessors"]),
        access_events=None if doc.get("access_events") is None else len(doc["access_events"]),
    )


def written(doc: dict, file: str, size: int) -> ExportWritten:
    """What `customer export` wrote: the summary, the file, its size, the values decrypted."""
    return extend(ExportWritten, summary(doc), file=file, bytes=size, decrypted_values=doc["decrypted_values"])
