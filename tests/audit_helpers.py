"""Helpers for the audit tests: a slice of the real server's audit log, a workload."""

from __future__ import annotations

import base64
import time
import uuid
from pathlib import Path

import hvac

from netvault.vault import policies
from netvault.vault.mounts import Mounts


def log_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def wait_for_log(path: Path, marker: str, timeout: float = 5.0) -> None:
    """Wait until ``marker`` is in the audit log (the device writes synchronously, but be safe)."""
    end = time.time() + timeout
    while time.time() < end:
        if marker.encode() in path.read_bytes():
            return
        time.sleep(0.05)
    raise AssertionError(f"{marker} never reached the audit log")


def slice_log(src: Path, start: int, dest: Path) -> Path:
    """Copy src from the first line boundary at/after ``start`` (unique content per test)."""
    data = src.read_bytes()
    if start > 0 and data[start - 1:start] != b"\n":
        start = data.index(b"\n", start) + 1
    end = data.rindex(b"\n") + 1
    dest.write_bytes(data[start:end])
    return dest


def noise(client: hvac.Client, n: int, tag: str) -> None:
    """Some audited requests (each with a unique request id)."""
    for i in range(n):
        client.write("sys/audit-hash/netvault", input=f"{tag}-{i}")


class Customer:
    """A customer provisioned the way DESIGN.md says (root as the admin)."""

    def __init__(self, root: hvac.Client, slug: str, kv: str = "netvault", transit: str = "netvault-transit") -> None:
        self.root, self.slug, self.kv, self.transit = root, slug, kv, transit
        root.secrets.transit.create_key(f"customer-{slug}", derived=True, mount_point=transit)
        root.sys.create_or_update_acl_policy(
            policies.customer_policy_name(slug), policies.render_customer(slug, ["INC-*", "CHG-*"], mounts=Mounts(kv, transit))
        )
        root.secrets.kv.v2.create_or_update_secret(f"customers/{slug}/profile", {"id": uuid.uuid4().hex, "name": slug}, cas=0, mount_point=kv)
        self.records: dict[str, dict] = {}

    def add_credential(self, name: str, password: str) -> dict:
        rid = uuid.uuid4().hex
        ctx = base64.b64encode(rid.encode()).decode()
        ct = self.root.secrets.transit.encrypt_data(
            f"customer-{self.slug}", base64.b64encode(password.encode()).decode(), context=ctx, mount_point=self.transit
        )["data"]["ciphertext"]
        self.root.secrets.kv.v2.create_or_update_secret(
            f"customers/{self.slug}/credentials/{name}", {"id": rid, "username": "admin", "secrets": {"password": ct}},
            cas=0, mount_point=self.kv,
        )
        self.root.secrets.kv.v2.create_or_update_secret(
            f"customers/{self.slug}/_ids/{rid}", {"kind": "credentials", "name": name}, cas=0, mount_point=self.kv
        )
        rec = {"id": rid, "context": ctx, "ciphertext": ct, "name": name}
        self.records[name] = rec
        return rec

    def update_credential(self, name: str, password: str, version: int) -> None:
        rec = self.records[name]
        ct = self.root.secrets.transit.encrypt_data(
            f"customer-{self.slug}", base64.b64encode(password.encode()).decode(), context=rec["context"], mount_point=self.transit
        )["data"]["ciphertext"]
        rec["ciphertext"] = ct
        self.root.secrets.kv.v2.create_or_update_secret(
            f"customers/{self.slug}/credentials/{name}", {"id": rec["id"], "username": "admin", "secrets": {"password": ct}},
            cas=version, mount_point=self.kv,
        )

    def rename(self, old: str, new: str) -> None:
        """Rename a record: new path, same stable id, _ids updated (as records.py does)."""
        rec = self.records.pop(old)
        body = self.root.secrets.kv.v2.read_secret_version(
            f"customers/{self.slug}/credentials/{old}", mount_point=self.kv, raise_on_deleted_version=True
        )["data"]["data"]
        self.root.secrets.kv.v2.create_or_update_secret(f"customers/{self.slug}/credentials/{new}", body, cas=0, mount_point=self.kv)
        self.root.secrets.kv.v2.create_or_update_secret(
            f"customers/{self.slug}/_ids/{rec['id']}", {"kind": "credentials", "name": new}, cas=1, mount_point=self.kv
        )
        self.root.secrets.kv.v2.delete_metadata_and_all_versions(f"customers/{self.slug}/credentials/{old}", mount_point=self.kv)
        rec["name"] = new
        self.records[new] = rec

    def grant(self, user: str, entity_id: str, by: hvac.Client | None = None) -> None:
        """A standing grant as DESIGN.md: POST identity/group (one group per grant) + grant record."""
        c = by or self.root
        c.adapter.post("/v1/identity/group", json={
            "name": f"nv-grant:{self.slug}:{user}", "policies": policies.customer_policy_name(self.slug),
            "member_entity_ids": [entity_id],
        })
        c.secrets.kv.v2.create_or_update_secret(
            f"_grants/{self.slug}/{user}", {"user": user, "customer": self.slug, "kind": "standing", "granted_by": "lead"},
            cas=0, mount_point=self.kv,
        )

    def revoke(self, user: str, by: hvac.Client | None = None) -> None:
        c = by or self.root
        c.adapter.delete(f"/v1/identity/group/name/nv-grant:{self.slug}:{user}")
        c.secrets.kv.v2.delete_metadata_and_all_versions(f"_grants/{self.slug}/{user}", mount_point=self.kv)

    def reveal(self, client: hvac.Client, name: str, reference: str | None) -> bool:
        """Transit decrypt as the given client; True when Vault allowed it."""
        rec = self.records[name]
        data = {"ciphertext": rec["ciphertext"], "context": rec["context"]}
        if reference is not None:
            data["reference"] = reference
        try:
            client.write(f"{self.transit}/decrypt/customer-{self.slug}", **data)
            return True
        except hvac.exceptions.Forbidden:
            return False
