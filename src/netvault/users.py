"""Vault logins for people: a userpass user, its identity entity, its role group."""

from __future__ import annotations

import time

from netvault import names
from netvault.errors import Conflict, NetvaultError, NotFound, UsageError
from netvault.gateway import Vault
from netvault.policies import ROLES


def role_group(role: str) -> str:
    try:
        return ROLES[role][0]
    except KeyError:
        raise UsageError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}") from None


def mount_accessor(vault: Vault, mount: str) -> str:
    auths = vault.request("GET", "sys/auth")
    data = auths.get("data") or auths
    entry = data.get(f"{mount}/")
    if not entry:
        raise NotFound(f"auth mount {mount}/ not found; run `netvault setup`")
    return entry["accessor"]


def entity_for(vault: Vault, mount: str, username: str) -> dict | None:
    """The identity entity behind a userpass login, or None."""
    resp = vault.write(
        "identity/lookup/entity",
        {"alias_name": username, "alias_mount_accessor": mount_accessor(vault, mount)},
    )
    return (resp or {}).get("data")


def add_member(vault: Vault, group: str, entity_id: str) -> None:
    """Add an entity to a group. Vault has no check-and-set on groups, so
    re-read after writing and retry if a concurrent writer dropped ours."""
    for _ in range(10):
        g = vault.read(f"identity/group/name/{group}")
        if g is None:
            raise NotFound(f"group {group} not found; run `netvault setup`")
        members = list(g["data"].get("member_entity_ids") or [])
        if entity_id in members:
            return
        vault.write(f"identity/group/name/{group}", {"member_entity_ids": members + [entity_id]})
        time.sleep(0.02)
        again = vault.read(f"identity/group/name/{group}")
        if entity_id in ((again or {}).get("data", {}).get("member_entity_ids") or []):
            return
    raise Conflict(f"could not add the member to {group}: it kept changing; try again")


def create_user(vault: Vault, mount: str, username: str, password: str, role: str) -> str:
    """Create a login with a role; returns the entity id. Nothing is left half-made
    that a retry would trip over: an existing user is a conflict up front."""
    names.username(username)
    group = role_group(role)
    if vault.read(f"auth/{mount}/users/{username}") is not None:
        raise Conflict(f"user {username!r} already exists")
    vault.write(f"auth/{mount}/users/{username}", {"password": password})
    # Log in once as the new user: Vault itself creates the entity and its
    # alias. Creating aliases by hand would need a capability that lets a
    # team lead attach any login to any entity (an escalation path).
    anon = Vault(vault.address, None, namespace=vault.namespace)
    try:
        auth = anon.write(f"auth/{mount}/login/{username}", {"password": password})["auth"]
    except NetvaultError as exc:
        raise NetvaultError(f"user {username!r} was created but its first login failed: {exc}") from None
    entity_id = auth["entity_id"]
    anon.token = auth["client_token"]
    try:
        anon.write("auth/token/revoke-self")
    except NetvaultError:
        pass
    add_member(vault, group, entity_id)
    return entity_id
