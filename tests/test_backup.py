"""Backup and restore: a raft snapshot + manifest, the nv-backup role (proved
with a raw hvac client), and a restore that brings back exactly the backed-up
state, every record revealable, visible in the audit trail."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import hvac
import pytest

from netvault.records import lookup
from netvault.audit.reader import entries
from netvault.errors import ExitCode
from netvault.vault.client import Vault
from netvault.records.store import Store
from people import new_user
from test_records_helpers import grant


@pytest.fixture(scope="module")
def own(own_server):
    """A server of its own: a restore replaces everything on it."""
    return own_server


def run(env: dict, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "netvault", *args], env=env, input=input,
                          capture_output=True, text=True, timeout=180)


@pytest.fixture
def env(own, tmp_path):
    e = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    e.update({"NETVAULT_CONFIG_DIR": str(tmp_path / "cfg"), "NETVAULT_DATA_DIR": str(tmp_path / "data"),
              "NETVAULT_KEYRING": "file", "VAULT_ADDR": own.address})
    return e


def kv_state(vault: Vault, prefix: str = "") -> dict:
    """Every live kv path under customers/ (and _load/) -> its current data."""
    out = {}
    for key in vault.list(f"netvault/metadata/{prefix}"):
        path = prefix + key
        if key.endswith("/"):
            out.update(kv_state(vault, path))
        else:
            got = vault.read(f"netvault/data/{path}")
            out[path] = (got or {}).get("data", {}).get("data")
    return out


def test_backup_role_can_snapshot_and_nothing_else(own, env, tmp_path):
    admin = new_user(own, "admin").token()
    made = run({**env, "VAULT_TOKEN": admin}, "server", "backup-token", "--out", str(tmp_path / "tok"), "--json")
    assert made.returncode == 0, made.stderr
    assert oct((tmp_path / "tok").stat().st_mode & 0o777) == "0o600"
    token = (tmp_path / "tok").read_text().strip()
    raw = hvac.Client(url=own.address, token=token)
    info = raw.auth.token.lookup_self()["data"]
    assert sorted(info["policies"]) == ["default", "nv-backup"] and "root" not in info["policies"]
    snap = raw.sys.take_raft_snapshot()
    assert snap.status_code == 200 and len(snap.content) > 1000
    with pytest.raises(hvac.exceptions.Forbidden):
        raw.secrets.kv.v2.read_secret_version(path="_config/settings", mount_point="netvault", raise_on_deleted_version=True)
    with pytest.raises(hvac.exceptions.Forbidden):
        raw.sys.force_restore_raft_snapshot(snap.content)
    with pytest.raises(hvac.exceptions.Forbidden):
        raw.sys.restore_raft_snapshot(snap.content)
    with pytest.raises(hvac.exceptions.Forbidden):
        raw.sys.list_acl_policies()
    with pytest.raises(hvac.exceptions.Forbidden):
        raw.auth.token.create(policies=["nv-admin"])


def test_backup_then_restore_brings_back_exactly_the_backed_up_state(own, env, tmp_path):
    root = own.gateway()
    admin_user = new_user(own, "admin")
    admin = admin_user.token()
    eng = new_user(own, "engineer")
    store = Store(Vault(own.address, admin))
    pw = {}
    for c in ("bk-alpha", "bk-beta"):
        store.add_customer(c, {"company": c.upper()})
        grant(own, c, eng)
        for i in range(3):
            pw[(c, f"cred{i}")] = f"{c}-pw-{i}"
            store.add_credential(c, f"cred{i}", secrets={"password": pw[(c, f'cred{i}')]})
    eng_token = eng.token()  # made before the backup: still valid after the restore

    # back up with the nv-backup role's token, never the root token
    made = run({**env, "VAULT_TOKEN": admin}, "server", "backup-token", "--out", str(tmp_path / "tok"))
    assert made.returncode == 0, made.stderr
    out_dir = tmp_path / "backups"
    out_dir.mkdir()
    took = run(env, "server", "backup", "--out", f"{out_dir}/", "--token-file", str(tmp_path / "tok"), "--json")
    assert took.returncode == 0, took.stderr
    b = json.loads(took.stdout)
    snap = Path(b["file"])
    manifest = json.loads(Path(b["manifest"]).read_text())
    assert manifest["sha256"] == hashlib.sha256(snap.read_bytes()).hexdigest() == b["sha256"]
    assert manifest["server_version"] and manifest["time"].endswith("Z") and manifest["size"] == snap.stat().st_size
    assert oct(snap.stat().st_mode & 0o777) == "0o600" and oct(Path(b["manifest"]).stat().st_mode & 0o777) == "0o600"
    backed_up = kv_state(root)
    assert any(p.startswith("customers/bk-alpha/") for p in backed_up)

    # more after the backup: a new customer, an edit, a new record
    store.add_customer("bk-gamma", {"company": "GAMMA"})
    store.add_credential("bk-gamma", "late", secrets={"password": "late-pw"})
    store.add_credential("bk-alpha", "extra", secrets={"password": "extra-pw"})
    store.edit_customer("bk-beta", {"city": "Changed"})
    assert kv_state(root) != backed_up

    # a wrong confirmation word restores nothing
    no = run({**env, "VAULT_TOKEN": admin}, "server", "restore", str(snap), input="yes\n")
    assert no.returncode == ExitCode.USAGE and "nothing restored" in no.stderr
    assert "customers/bk-gamma/profile" in kv_state(root)

    audit_before = own.audit_file.stat().st_size
    res = run({**env, "VAULT_TOKEN": admin}, "server", "restore", str(snap), "--json", input="restore\n")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["ok"] and report["setup_drift"] == [] and report["missing"] == [] and report["customers"] >= 2
    assert "checked: setup clean" in res.stderr
    # OpenBao's snapshot lacks the identity mount's tuning: setup re-applies it
    assert report["repaired"] in ([], ["identity mount (audit shows group names)"])

    # exactly the backed-up state
    assert kv_state(root) == backed_up
    assert root.read("netvault/data/customers/bk-gamma/profile") is None
    assert root.read("netvault-transit/keys/customer-bk-gamma") is None
    # every record revealable (the engineer's token is from before the backup)
    vault = Vault(own.address, eng_token)
    for (c, name), secret in pw.items():
        assert lookup.reveal(vault, "netvault", "netvault-transit", c, name, reference="INC-77")[1] == secret

    # the restore is in the audit trail, attributed to the admin's entity
    restores = [e for e in entries([own.audit_file])
                if (e.doc.get("request") or {}).get("path") == "sys/storage/raft/snapshot"
                and (e.doc.get("request") or {}).get("operation") == "update"]
    assert restores and restores[-1].paired and not restores[-1].doc.get("error")
    assert restores[-1].doc["auth"]["entity_id"] == admin_user.entity_id
    assert own.audit_file.stat().st_size > audit_before


def test_restore_refuses_a_snapshot_that_does_not_match_its_manifest(own, env, tmp_path):
    admin = new_user(own, "admin").token()
    took = run({**env, "VAULT_TOKEN": admin}, "server", "backup", "--out", str(tmp_path / "one.snap"), "--json")
    assert took.returncode == 0, took.stderr
    snap = tmp_path / "one.snap"
    data = bytearray(snap.read_bytes())
    data[len(data) // 2] ^= 0xFF
    snap.write_bytes(bytes(data))
    res = run({**env, "VAULT_TOKEN": admin}, "server", "restore", str(snap), "--yes")
    assert res.returncode == ExitCode.TAMPERED and res.stderr.count("\n") == 1 and "sha256" in res.stderr


def test_keep_rotates_old_backups(own, env, tmp_path):
    admin = new_user(own, "admin").token()
    d = tmp_path / "rot"
    d.mkdir()
    from datetime import datetime, timedelta, timezone

    from netvault.server import backup

    vault = Vault(own.address, admin)
    start = datetime(2026, 11, 1, 2, 0, tzinfo=timezone.utc)
    for day in range(4):
        backup.take(vault, d, now=start + timedelta(days=day), keep=2)
    kept = sorted(p.name for p in d.iterdir())
    assert kept == ["netvault-20261103T020000Z.snap", "netvault-20261103T020000Z.snap.json",
                    "netvault-20261104T020000Z.snap", "netvault-20261104T020000Z.snap.json"]
    status = run({**env, "VAULT_TOKEN": admin}, "server", "status", "--backup-dir", str(d), "--json")
    assert status.returncode == 0, status.stderr
    s = json.loads(status.stdout)
    assert s["last_backup"]["time"] == "2026-11-04T02:00:00Z" and s["last_backup"]["age_s"] > 0
    assert s["sealed"] is False and s["ha_role"] == "active"
    assert [p["node_id"] for p in s["raft_peers"]] == ["netvault-embedded"] and s["raft_peers"][0]["healthy"]
    assert any(dev["type"] == "file" for dev in s["audit_devices"])
