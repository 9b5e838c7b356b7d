"""What ``netvault server status`` reports about any server (embedded, a
cluster, or a team server): sealed, HA role, raft peers and their health,
audit devices, and the last backup with its age. No printing; ``now`` given."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from netvault.errors import NetvaultError, NotLoggedIn, PermissionDenied


def _age_seconds(stamp: str | None, now: datetime) -> int | None:
    if not stamp:
        return None
    try:
        when = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return max(0, int((now - when).total_seconds()))


def overview(vault, *, now: datetime, backup_dir: str | None = None) -> dict:
    from netvault.server import backup
    from netvault.server import cluster

    h = vault.health()
    out: dict = {
        "address": getattr(vault, "node", vault.address),
        "initialized": bool(h.get("initialized")), "sealed": bool(h.get("sealed")),
        "version": h.get("version"), "ha_role": None, "leader": None,
        "raft_peers": None, "audit_devices": None, "notes": [],
    }
    if out["initialized"] and not out["sealed"]:
        try:
            leader = (vault.request("GET", "sys/leader") or {})
            if leader.get("ha_enabled"):
                out["ha_role"] = "active" if leader.get("is_self") else "standby"
                out["leader"] = leader.get("leader_address") or None
        except NetvaultError:
            pass
        if vault.token:
            try:
                out["raft_peers"] = cluster.peers_of(vault)
            except (PermissionDenied, NotLoggedIn):
                out["notes"].append("raft peers: your token may not read them (admin)")
            except NetvaultError as exc:
                out["notes"].append(f"raft peers: {exc.message}")
            try:
                devices = ((vault.request("GET", "sys/audit") or {}).get("data") or {})
                out["audit_devices"] = [
                    {"path": name.rstrip("/"), "type": d.get("type"),
                     "file_path": (d.get("options") or {}).get("file_path")}
                    for name, d in sorted(devices.items()) if isinstance(d, dict)
                ]
            except (PermissionDenied, NotLoggedIn):
                out["notes"].append("audit devices: your token may not list them (admin)")
            except NetvaultError as exc:
                out["notes"].append(f"audit devices: {exc.message}")
        else:
            out["notes"].append("not logged in: raft peers and audit devices need an admin login")
    last = backup.last_backup(Path(backup_dir)) if backup_dir else None
    out["last_backup"] = None if last is None else {
        "file": last.get("file"), "time": last.get("time"), "age_s": _age_seconds(last.get("time"), now),
        "sha256": last.get("sha256"), "size": last.get("size"),
    }
    if backup_dir and last is None:
        out["notes"].append(f"no backup found in {backup_dir}")
    return out
