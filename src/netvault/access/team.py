"""People as team leads and admins manage them: add a login with a role,
list and show people with their roles and grants; initial passwords.

The logins, entities and role groups themselves are netvault.access.people;
cutting a person off is netvault.access.offboard.

Domain code: no printing, no typer; time comes in as ``now``.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from netvault.access import grants, results
from netvault.access import people as users
from netvault.errors import PermissionDenied, UsageError
from netvault.vault.mounts import Mounts
from netvault.values import names
from netvault.vault.client import Vault

MIN_PASSWORD = 12


def generate_password() -> str:
    return secrets.token_urlsafe(18)


def check_password(password: str, what: str = "the initial password") -> str:
    if not password or len(password) < MIN_PASSWORD:
        raise UsageError(f"{what} must have at least {MIN_PASSWORD} characters")
    if any(ch in password for ch in "\r\n\x00"):
        raise UsageError(f"{what} must be one line")
    return password


def refresh_team_lead_engineers(vault: Vault, mounts: Mounts = Mounts()) -> bool:
    """Re-render nv-team-lead-engineers (the logins team leads may reset)
    when the caller may write it (an admin); True when written."""
    from netvault.vault import policies as pol

    path = f"sys/policies/acl/{pol.TEAM_LEAD_ENGINEERS}"
    caps = vault.write("sys/capabilities-self", {"paths": [path]}) or {}
    have = set(caps.get("capabilities") or (caps.get("data") or {}).get("capabilities") or [])
    if not have & {"update", "root"}:
        return False
    logins, _bad = users.engineer_logins(vault, mounts.userpass)
    vault.write(path, {"policy": pol.render_team_lead_engineers(logins, mounts=mounts)})
    return True


def add_user(vault: Vault, user: str, role: str, password: str, *, mounts: Mounts = Mounts()) -> results.PersonAdded:
    """Create a login with a role. Checks the caller may put people into that
    role's group before creating anything (Vault enforces it either way)."""
    names.username(user)
    group = users.role_group(role)
    check_password(password)
    caps = vault.write("sys/capabilities-self", {"paths": [f"identity/group/name/{group}"]}) or {}
    have = set(caps.get("capabilities") or (caps.get("data") or {}).get("capabilities") or [])
    if not have & {"update", "root", "sudo"}:
        raise PermissionDenied(f"you may not add people with role {role!r} (Vault policy)")
    # an existing login is a Conflict, unless it is an interrupted add of the
    # same person with the same password: then create_user completes it
    entity_id = users.create_user(vault, mounts.userpass, user, password, role, kv=mounts.kv)
    refresh_team_lead_engineers(vault, mounts)  # an admin: the reset list follows at once
    return results.PersonAdded(user, role, entity_id)


def list_users(vault: Vault, *, now: datetime, mounts: Mounts = Mounts()) -> list[results.PersonRow]:
    members = grants.role_members(vault)
    held = grants.list_grants(vault, now=now, mounts=mounts)
    rows = []
    accessor = users.mount_accessor(vault, mounts.userpass)
    for entry in sorted(vault.list(f"auth/{mounts.userpass}/users")):
        u = entry.rstrip("/")
        resp = vault.write("identity/lookup/entity", {"alias_name": u, "alias_mount_accessor": accessor})
        entity = (resp or {}).get("data") or {}
        mine = [g for g in held if g.user == u and g.state == "active"]
        rows.append(results.PersonRow(
            user=u,
            roles=grants.roles_of(entity.get("id"), members),
            disabled=bool(entity.get("disabled")),
            entity_id=entity.get("id"),
            customers=sorted({g.customer for g in mine}),
        ))
    return rows


def show_user(vault: Vault, user: str, *, now: datetime, mounts: Mounts = Mounts()) -> results.PersonShown:
    entity = grants.entity_of(vault, user, mounts)
    members = grants.role_members(vault)
    held = grants.list_grants(vault, now=now, user=user, mounts=mounts)
    jit_entity = None
    try:
        jit_entity = grants.jit_entity_of(vault, user)
    except PermissionDenied:
        pass
    return results.PersonShown(
        user=user,
        entity_id=entity["id"],
        disabled=bool(entity.get("disabled")),
        roles=grants.roles_of(entity["id"], members),
        jit_entity_id=(jit_entity or {}).get("id"),
        grants=list(held),
    )
