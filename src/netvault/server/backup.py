"""Backups: OpenBao raft snapshots with a small manifest, rotation, restore.

A backup is two files, both 0600::

    netvault-20261128T070000Z.snap        the raft snapshot (sys/storage/raft/snapshot)
    netvault-20261128T070000Z.snap.json   manifest: time, server version, sha256, size

A snapshot holds every record, key and policy, sealed with the cluster's
unseal (static seal) key: it is useless without that key, and that key must
never be stored with the backups. ``backup`` needs only the ``nv-backup``
policy (read on the snapshot path); ``restore`` needs an admin. Nothing here
prints; time comes in as ``now``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from netvault.local import config
from netvault.errors import NetvaultError, NotFound, Tampered, UsageError
from netvault.values.results import json_result, to_json
from netvault.vault.kv import CUSTOMERS, LIFECYCLE, kv_folders, kv_metadata
from netvault.vault.mounts import Mounts

SNAPSHOT_PATH = "sys/storage/raft/snapshot"
SUFFIX = ".snap"
MANIFEST_FORMAT = "netvault-backup-1"


@json_result
@dataclass
class Backup:
    file: str
    manifest: str
    time: str
    server_version: str | None
    sha256: str
    size: int
    seconds: float = 0.0
    removed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return to_json(self)


def _stamp(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%SZ")


def _iso(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def manifest_path(snapshot: Path) -> Path:
    return snapshot.with_name(snapshot.name + ".json")


def target(out: Path, now: datetime) -> Path:
    """``out`` itself, or a time-stamped name inside it when it is a directory."""
    out = Path(out).expanduser()
    if out.is_dir() or str(out).endswith(os.sep):
        return out / f"netvault-{_stamp(now)}{SUFFIX}"
    return out


def take(vault, out: Path, *, now: datetime, keep: int | None = None) -> Backup:
    """Save a raft snapshot and its manifest; with ``keep``, remove all but the
    ``keep`` newest netvault backups in the same directory."""
    if keep is not None and keep < 1:
        raise UsageError("--keep must be at least 1")
    path = target(out, now)
    if not path.parent.is_dir():
        raise UsageError(f"backup directory {path.parent} does not exist")
    started = time.monotonic()
    health = vault.health()
    data = vault.download(SNAPSHOT_PATH)
    if not data:
        raise NetvaultError("the server returned an empty snapshot")
    digest = hashlib.sha256(data).hexdigest()
    config.write_private(path, data)
    manifest = {
        "format": MANIFEST_FORMAT, "time": _iso(now), "server_version": health.get("version"),
        "cluster_id": health.get("cluster_id"), "sha256": digest, "size": len(data), "snapshot": path.name,
    }
    config.write_private(manifest_path(path), (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    result = Backup(str(path), str(manifest_path(path)), manifest["time"], manifest["server_version"], digest,
                    len(data), round(time.monotonic() - started, 3))
    if keep:
        result.removed = rotate(path.parent, keep)
    return result


def read_manifest(snapshot: Path) -> dict | None:
    try:
        doc = json.loads(manifest_path(snapshot).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        raise UsageError(f"manifest {manifest_path(snapshot)} is unreadable or corrupt") from None
    if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT:
        raise UsageError(f"{manifest_path(snapshot)} is not a netvault backup manifest")
    return doc


def list_backups(directory: Path) -> list[tuple[str, Path]]:
    """(time, snapshot path) of the netvault backups in ``directory``, oldest first."""
    out = []
    for snap in Path(directory).glob(f"*{SUFFIX}"):
        try:
            doc = read_manifest(snap)
        except UsageError:
            continue
        if doc and doc.get("snapshot") == snap.name:
            out.append((str(doc.get("time")), snap))
    return sorted(out)


def rotate(directory: Path, keep: int) -> list[str]:
    backups = list_backups(directory)
    removed = []
    for _, snap in backups[:-keep] if len(backups) > keep else []:
        snap.unlink(missing_ok=True)
        manifest_path(snap).unlink(missing_ok=True)
        removed.append(str(snap))
    return removed


def last_backup(directory: Path | None) -> dict | None:
    """The newest backup's manifest in ``directory`` (for ``server status``)."""
    if not directory or not Path(directory).is_dir():
        return None
    backups = list_backups(Path(directory))
    if not backups:
        return None
    doc = read_manifest(backups[-1][1]) or {}
    return {**doc, "file": str(backups[-1][1])}


def verify_file(snapshot: Path) -> tuple[bytes, dict | None]:
    """The snapshot's bytes, checked against its manifest when there is one."""
    snapshot = Path(snapshot).expanduser()
    try:
        data = snapshot.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"backup {snapshot} not found") from None
    except OSError as exc:
        raise UsageError(f"cannot read backup {snapshot}: {exc.strerror}") from None
    manifest = read_manifest(snapshot)
    if manifest is not None and hashlib.sha256(data).hexdigest() != manifest.get("sha256"):
        raise Tampered(f"backup {snapshot} does not match its manifest (sha256 differs): not restored")
    if not data:
        raise UsageError(f"backup {snapshot} is empty")
    return data, manifest


@json_result
@dataclass
class Restore:
    file: str
    backup_time: str | None
    seconds: float
    setup_drift: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    customers: int = 0
    missing: list[str] = field(default_factory=list)
    checked: bool = True
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.checked and not self.setup_drift and not self.missing

    JSON_EXTRA = ("ok",)

    def to_dict(self) -> dict:
        return to_json(self)


def restore(vault, snapshot: Path, *, mounts: Mounts, cacert: str | None = None,
            timeout: float = 120.0) -> Restore:
    """Replace the server's whole state with the snapshot (same unseal key
    needed), wait until it serves again, then check the layout and that every
    customer's transit key and policy are there."""
    from netvault.server import setup as layout
    from netvault.errors import NotLoggedIn, PermissionDenied, Unreachable
    data, manifest = verify_file(snapshot)
    started = time.monotonic()
    vault.upload(SNAPSHOT_PATH, data)
    deadline = time.monotonic() + timeout
    while True:  # the server reloads its state: wait until it answers as active
        try:
            h = vault.health()
            if h.get("initialized") and not h.get("sealed") and not h.get("standby"):
                break
        except Unreachable:
            pass
        if time.monotonic() > deadline:
            raise Unreachable("the server did not come back after the restore")
        time.sleep(0.2)
    result = Restore(str(snapshot), (manifest or {}).get("time"), 0.0)
    try:
        vault.request("GET", "auth/token/lookup-self")
    except (NotLoggedIn, PermissionDenied):
        result.checked = False
        result.note = "your token is not in the restored state: log in again and run `netvault setup --check`"
        result.seconds = round(time.monotonic() - started, 3)
        return result
    address = vault.node  # the node that answered (a cluster: the active one)
    client = vault.config.replace(cacert=cacert or vault.config.cacert).admin(vault.token, address=address)
    check = layout.run_setup(client, mounts, check=True)
    if check.drift:
        # OpenBao 2.7 keeps the identity mount's tuning (audit_non_hmac_request_keys)
        # neither across a restart nor a restore: setup re-applies it.
        result.repaired = layout.run_setup(client, mounts).applied
        check = layout.run_setup(client, mounts, check=True)
    result.setup_drift = [i.name for i in check.drift]
    customers = kv_folders(vault, mounts.kv, CUSTOMERS)
    result.customers = len(customers)
    from netvault.vault.policies import customer_policy_name
    from netvault.records.lookup import transit_key

    for c in customers:
        if vault.read(f"{mounts.transit}/keys/{transit_key(c)}") is None \
                and kv_metadata(vault, mounts.kv, f"{LIFECYCLE}/{c}/shred") is None:  # shredded on purpose
            result.missing.append(f"transit key {transit_key(c)}")
        if vault.read(f"sys/policies/acl/{customer_policy_name(c)}") is None:
            result.missing.append(f"policy {customer_policy_name(c)}")
    result.seconds = round(time.monotonic() - started, 3)
    return result


@json_result
@dataclass(frozen=True)
class BackupToken:
    """`server backup-token --json`: the token's facts and the file it went to (never the token)."""
    accessor: str | None
    policies: list[str] | None
    period_s: int | None
    file: str


def create_token(vault) -> dict:
    """A token from the nv-backup role, for a backup timer (admin only)."""
    auth = (vault.write("auth/token/create/nv-backup", {}) or {}).get("auth") or {}
    if not auth.get("client_token"):
        raise NetvaultError("Vault returned no token for the nv-backup role (run `netvault setup`)")
    return {"token": auth["client_token"], "accessor": auth.get("accessor"), "policies": auth.get("policies"),
            "period_s": auth.get("lease_duration")}


def renew_self(vault) -> None:
    """Keep a periodic backup token alive (each timer run renews it)."""
    vault.write("auth/token/renew-self", {})
