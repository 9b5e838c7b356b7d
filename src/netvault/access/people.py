"""Vault logins for people: a userpass user, its identity entity, its role group."""

from __future__ import annotations

import random
import secrets
import time
from contextlib import contextmanager
from dataclasses import dataclass

from netvault.values import names
from netvault.errors import Conflict, NetvaultError, NotFound, UsageError
from netvault.vault.mounts import Mounts
from netvault.vault.client import Vault
from netvault.vault.kv import GROUP_LOCKS, kv_write, read_for_update
from netvault.vault.policies import NO_JIT_ROLES, ROLES
from netvault.values.results import json_result

JIT_ALIAS_PREFIX = "jit:"


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


def engineer_logins(vault: Vault, mount: str) -> tuple[list[str], list[str]]:
    """(logins, bad names) of the people a team lead may reset: members of
    nv-role-engineer that are in no other role group, by the name of their
    alias on the userpass mount (what Vault binds, not metadata). Names that
    are not valid user names are returned apart, never rendered."""
    accessor = mount_accessor(vault, mount)
    members: dict[str, set[str]] = {}
    for role, (group, _policies) in ROLES.items():
        g = vault.read(f"identity/group/name/{group}")
        members[role] = set((((g or {}).get("data") or {}).get("member_entity_ids")) or [])
    others = set().union(*(ids for role, ids in members.items() if role != "engineer"))
    good, bad = set(), set()
    for entity_id in sorted(members["engineer"] - others):
        entity = ((vault.read(f"identity/entity/id/{entity_id}") or {}).get("data")) or {}
        for alias in entity.get("aliases") or []:
            if alias.get("mount_accessor") != accessor:
                continue
            name = str(alias.get("name") or "")
            try:
                good.add(names.username(name))
            except UsageError:
                bad.add(name)
    return sorted(good), sorted(bad)


def entity_for(vault: Vault, mount: str, username: str) -> dict | None:
    """The identity entity behind a userpass login, or None."""
    resp = vault.write(
        "identity/lookup/entity",
        {"alias_name": username, "alias_mount_accessor": mount_accessor(vault, mount)},
    )
    return (resp or {}).get("data")


def jit_alias(username: str) -> str:
    """The entity alias (token mount) of a person's just-in-time tokens."""
    return f"{JIT_ALIAS_PREFIX}{username}"


def jit_entity(vault: Vault, username: str) -> dict | None:
    """The entity behind the ``jit:<user>`` alias on the token mount, if any."""
    try:
        accessor = mount_accessor(vault, "token")
    except NotFound:
        return None
    resp = vault.write("identity/lookup/entity", {"alias_name": jit_alias(username), "alias_mount_accessor": accessor})
    return (resp or {}).get("data")


def lock_jit_identity(vault: Vault, username: str) -> str:
    """Make ``jit:<user>`` belong to a DISABLED entity; returns its id.

    For auditors and admins (``policies.NO_JIT_ROLES``): Vault then refuses
    to mint a token with ``entity_alias=jit:<user>`` ("entity from given
    entity alias is disabled") and refuses any such token minted before, so
    nobody can hand them a just-in-time grant. A team lead may set
    ``disabled`` only to true, never back to false. Needs an admin token
    (creating entities and aliases)."""
    names.username(username)
    existing = jit_entity(vault, username)
    if existing is None:
        accessor = mount_accessor(vault, "token")
        # No name: Vault generates one (a POST naming an existing entity would update it).
        created = vault.write("identity/entity", {"disabled": True, "metadata": {"netvault_jit_of": username}})
        entity_id = ((created or {}).get("data") or {}).get("id")
        if not entity_id:
            raise NetvaultError(f"Vault did not create the just-in-time identity of {names.shown(username)}")
        try:
            vault.write("identity/entity-alias", {
                "name": jit_alias(username), "canonical_id": entity_id, "mount_accessor": accessor})
            return entity_id
        except NetvaultError:
            # someone minted a JIT token for them meanwhile: that alias exists now
            vault.delete(f"identity/entity/id/{entity_id}")
            existing = jit_entity(vault, username)
            if existing is None:
                raise
    if not existing.get("disabled"):
        vault.write(f"identity/entity/id/{existing['id']}", {"disabled": True})
    return existing["id"]


LOCK_TTL = 15.0  # seconds a crashed holder can block a role group's membership


@contextmanager
def group_lock(vault: Vault, group: str, kv: str = Mounts.kv, timeout: float = 30.0):
    """Serialise read-modify-write of one group's member list among netvault clients.

    Vault has no check-and-set on identity groups, so two team leads adding
    engineers at once could each write back the list they read, dropping the
    other's member (a test showed it). The lock is a KV v2 key written with
    check-and-set (the mount requires it): ``_locks/groups/<group>``
    ``{owner, expires}``; a lock past ``expires`` is taken over; release
    writes ``released`` with the holder's version (a no-op if taken over).
    """
    path = f"{GROUP_LOCKS}/{group}"
    owner = secrets.token_hex(8)
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        current, version = read_for_update(vault, kv, path)
        if not current or current.get("released") or float(current.get("expires") or 0) < time.time():
            try:
                kv_write(vault, kv, path, {"owner": owner, "expires": time.time() + LOCK_TTL}, cas=version)
                break
            except Conflict:
                pass
        if time.monotonic() > deadline:
            raise Conflict(f"the member list of {group} is being changed by someone else; try again")
        time.sleep(delay + random.uniform(0, delay))
        delay = min(delay * 2, 0.3)
    try:
        yield
    finally:
        try:
            kv_write(vault, kv, path, {"owner": owner, "released": True}, cas=version + 1)
        except NetvaultError:
            pass


def _members(vault: Vault, group: str) -> list[str]:
    g = vault.read(f"identity/group/name/{group}")
    if g is None:
        raise NotFound(f"group {group} not found; run `netvault setup`")
    return list(g["data"].get("member_entity_ids") or [])


def add_member(vault: Vault, group: str, entity_id: str, *, kv: str = Mounts.kv) -> None:
    """Add an entity to a group: under ``group_lock``, then re-read to verify."""
    for _ in range(10):
        with group_lock(vault, group, kv):
            members = _members(vault, group)
            if entity_id in members:
                return
            vault.write(f"identity/group/name/{group}", {"member_entity_ids": members + [entity_id]})
            if entity_id in _members(vault, group):
                return
    raise Conflict(f"could not add the member to {group}: it kept changing; try again")


def remove_member(vault: Vault, group: str, entity_id: str, *, kv: str = Mounts.kv) -> bool:
    """Remove an entity from a group (under ``group_lock``); True when it is out."""
    for _ in range(10):
        with group_lock(vault, group, kv):
            members = _members(vault, group)
            if entity_id not in members:
                return True
            vault.write(f"identity/group/name/{group}", {"member_entity_ids": [m for m in members if m != entity_id]})
            if entity_id not in _members(vault, group):
                return True
    return False


@json_result
@dataclass(frozen=True)
class PasswordChanged:
    """`passwd --json`."""
    user: str
    changed: bool


def change_own_password(anon: Vault, mount: str, username: str, current: str, new: str) -> None:
    """Change one's own userpass password: log in with the current one (the
    check), set the new one with THAT token (Vault's nv-self-password allows
    only the caller's own login), revoke the token. ``anon`` carries no token."""
    from netvault.errors import PermissionDenied

    names.username(username)
    if current == new:
        raise UsageError("the new password is the same as the current one")
    client = anon.clone()
    client.token = None
    try:
        auth = client.write(f"auth/{mount}/login/{username}", {"password": current})["auth"]
    except (PermissionDenied, UsageError):
        raise PermissionDenied(f"current password for {username!r} is wrong (or the login is disabled); nothing changed") from None
    client.token = auth["client_token"]
    try:
        client.write(f"auth/{mount}/users/{username}/password", {"password": new})
    except PermissionDenied:
        raise PermissionDenied("Vault refused the change: your role lacks nv-self-password; an admin runs `netvault setup`") from None
    finally:
        try:
            client.write("auth/token/revoke-self")
        except NetvaultError:
            pass


def reset_password(vault: Vault, mount: str, username: str, new: str) -> None:
    """A team lead (or admin) sets an engineer's password. Vault allows a
    team lead only the logins in nv-team-lead-engineers."""
    from netvault.errors import PermissionDenied

    names.username(username)
    if vault.read(f"auth/{mount}/users/{username}") is None:
        raise NotFound(f"no login {username!r}")
    try:
        vault.write(f"auth/{mount}/users/{username}", {"password": new})
    except PermissionDenied:
        raise PermissionDenied(
            f"you may not reset the password of {username!r}: team leads reset engineers' passwords only "
            "(not team leads', auditors', admins' or their own: `netvault passwd`); an engineer added by a "
            "team lead can be reset after an admin's next `netvault setup`"
        ) from None


def _login_once(vault: Vault, mount: str, username: str, password: str) -> str:
    """Log in as the user and revoke that token at once; returns the entity id.
    Vault itself creates the entity and its alias on a first login: creating
    aliases by hand would need a capability that lets a team lead attach any
    login to any entity (an escalation path)."""
    anon = vault.clone()  # same address(es), namespace and CA; no token
    anon.token = None
    auth = anon.write(f"auth/{mount}/login/{username}", {"password": password})["auth"]
    anon.token = auth["client_token"]
    try:
        anon.write("auth/token/revoke-self")
    except NetvaultError:
        pass
    return auth["entity_id"]


def _give_role(vault: Vault, username: str, entity_id: str, role: str, group: str, kv: str) -> str:
    if role in NO_JIT_ROLES:  # before the role: never an auditor with a usable jit:<user>
        lock_jit_identity(vault, username)
    add_member(vault, group, entity_id, kv=kv)
    return entity_id


def _finish_interrupted_add(vault: Vault, mount: str, username: str, password: str, role: str,
                            group: str, kv: str) -> str:
    """An add that died after the login was written leaves a login with no
    role. Run again with the same password, it completes: the login proves the
    caller set that password, and the person must hold no role and not be
    disabled (so no one is moved between roles, nor an offboarding undone)."""
    try:
        entity_id = _login_once(vault, mount, username, password)
    except NetvaultError:
        raise Conflict(f"user {username!r} already exists") from None
    for _role, (role_group_name, _policies) in ROLES.items():
        g = vault.read(f"identity/group/name/{role_group_name}")
        if entity_id in (((g or {}).get("data") or {}).get("member_entity_ids") or []):
            raise Conflict(f"user {username!r} already exists (with a role)")
    return _give_role(vault, username, entity_id, role, group, kv)


def create_user(vault: Vault, mount: str, username: str, password: str, role: str, *, kv: str = Mounts.kv) -> str:
    """Create a login with a role; returns the entity id. An existing login is a
    conflict, unless it is an interrupted add finished by the same password."""
    names.username(username)
    group = role_group(role)
    if vault.read(f"auth/{mount}/users/{username}") is not None:
        return _finish_interrupted_add(vault, mount, username, password, role, group, kv)
    vault.write(f"auth/{mount}/users/{username}", {"password": password})
    try:
        entity_id = _login_once(vault, mount, username, password)
    except NetvaultError as exc:
        raise NetvaultError(f"user {username!r} was created but its first login failed: {exc}") from None
    return _give_role(vault, username, entity_id, role, group, kv)
