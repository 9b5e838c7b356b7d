"""Shared helpers for the records/reveal/find tests (imported, not collected as tests)."""

from __future__ import annotations

import hvac


def grant(server, customer: str, user) -> None:
    """A standing grant, made the way docs/DESIGN.md says (root client):
    identity group nv-grant:<c>:<user> carrying policy nv-customer-<c>."""
    server.root().secrets.identity.create_or_update_group_by_name(
        name=f"nv-grant:{customer}:{user.name}", policies=f"nv-customer-{customer}",
        member_entity_ids=[user.entity_id],
    )


def kv_get(server, path: str) -> dict | None:
    """Raw read with root: the record's data, or None."""
    client: hvac.Client = server.root()
    try:
        resp = client.secrets.kv.v2.read_secret_version(path=path, mount_point="netvault", raise_on_deleted_version=False)
    except hvac.exceptions.InvalidPath:
        return None
    return (resp.get("data") or {}).get("data")


def kv_exists(server, path: str) -> bool:
    try:
        server.root().secrets.kv.v2.read_secret_metadata(path=path, mount_point="netvault")
        return True
    except hvac.exceptions.InvalidPath:
        return False


def index_holders(server, what: str, key: str) -> list[tuple[str, str]]:
    """(customer, device) pairs of the global MAC/IP index for one key, read
    raw with root and decoded here (docs/DESIGN.md: bucket = low byte of the
    key's CRC-32, data {"z": base64(zlib(JSON {key: [[customer, device]]}))})."""
    import base64
    import json
    import zlib

    got = kv_get(server, f"_index/buckets/{what}/{zlib.crc32(key.encode()) & 0xFF:02x}")
    if not got:
        return []
    doc = json.loads(zlib.decompress(base64.b64decode(got["z"])))
    return [tuple(p) for p in doc.get(key, [])]
