"""Who may see which customer: people, roles, grants, just-in-time access, offboarding.

Every rule here is enforced by Vault, not by this module (see docs/DESIGN.md,
"Grants", and policies/*.hcl):

* A **standing grant** of customer ``c`` to user ``u`` is the identity group
  ``nv-grant:<c>:<u>`` carrying the one policy ``nv-customer-<c>`` with the
  user's entity as its only member. Vault evaluates group policies on every
  request, so a grant or revoke reaches tokens already issued at once. One
  group per grant: two team leads granting at the same moment never
  read-modify-write a shared member list.
* A **time-limited grant** (``--for 4h``) is a token from the token role
  ``nv-jit`` (only ``nv-customer-*`` policies, entity alias ``jit:<u>``, TTL =
  the grant, not renewable). Vault expires it by itself; nothing has to run
  at the expiry. It is delivered response-wrapped into the engineer's inbox
  ``_inbox/<entity id>/<c>``; the engineer's netvault unwraps it
  (``customer_token``). A wrap token can be unwrapped once: if anyone else
  did, the engineer's unwrap fails and netvault says so.
* Both kinds leave a grant record ``_grants/<c>/<u>`` (who, why, until when),
  written with check-and-set ``cas=0``: of two simultaneous grants of the
  same pair exactly one wins, the other is a Conflict.

Domain code: no printing, no typer; time comes in as ``now``.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable

from netvault.values import names
from netvault.access import people as users
from netvault.local.config import Mounts
from netvault.errors import (
    Conflict,
    NetvaultError,
    NotFound,
    PermissionDenied,
    UsageError,
)
from netvault.vault.client import Vault
from netvault.vault.policies import ROLES, customer_policy_name

JIT_ROLE = "nv-jit"
JIT_CREATE_PATH = f"auth/token/create/{JIT_ROLE}"
MAX_GRANT = timedelta(hours=168)  # = layout.JIT_MAX_TTL, the token role's cap
GRANT_GROUP_PREFIX = "nv-grant:"
#: a grant record older than this without its group or token is an unfinished
#: grant (a crash between its writes) that a retry may take over; younger, it
#: may be a grant still in progress
UNFINISHED_AFTER = timedelta(seconds=30)
MIN_PASSWORD = 12


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------
def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def grant_group(customer: str, user: str) -> str:
    return f"{GRANT_GROUP_PREFIX}{customer}:{user}"


def parse_grant_group(name: str) -> tuple[str, str] | None:
    if not name.startswith(GRANT_GROUP_PREFIX):
        return None
    rest = name[len(GRANT_GROUP_PREFIX):]
    customer, sep, user = rest.partition(":")
    if not sep or not customer or not user:
        return None
    return customer, user


def jit_alias(user: str) -> str:
    return users.jit_alias(user)


def grant_duration(text: str) -> timedelta:
    """Parse ``--for``: more than 0, at most 168h. Bad input is a UsageError (exit 2)."""
    from netvault.values import durations

    return durations.parse(text, minimum=1, maximum=int(MAX_GRANT.total_seconds()), what="grant duration")


def _check_duration(duration: timedelta | None) -> None:
    if duration is None:
        return
    if duration <= timedelta(0):
        raise UsageError("grant duration must be more than 0")
    if duration > MAX_GRANT:
        raise UsageError("grant duration is too long (at most 7d = 168h)")


def caller_name(vault: Vault) -> str:
    data = vault.request("GET", "auth/token/lookup-self")["data"]
    meta = data.get("meta") or {}
    return meta.get("username") or data.get("display_name") or "unknown"


def _caller_entity(vault: Vault) -> str | None:
    data = vault.request("GET", "auth/token/lookup-self")["data"]
    return data.get("entity_id") or None


class _Paths:
    def __init__(self, mounts: Mounts) -> None:
        self.kv = mounts.kv
        self.userpass = mounts.userpass

    def grant_data(self, c: str, u: str) -> str:
        return f"{self.kv}/data/_grants/{c}/{u}"

    def grant_meta(self, c: str, u: str) -> str:
        return f"{self.kv}/metadata/_grants/{c}/{u}"

    def inbox_data(self, entity: str, c: str) -> str:
        return f"{self.kv}/data/_inbox/{entity}/{c}"

    def inbox_meta(self, entity: str, c: str | None = None) -> str:
        return f"{self.kv}/metadata/_inbox/{entity}" + (f"/{c}" if c else "")

    def profile_meta(self, c: str) -> str:
        return f"{self.kv}/metadata/customers/{c}/profile"


def _kv_version(vault: Vault, meta_path: str) -> int:
    """Current version of a KV v2 key (0 = absent): the cas a write needs."""
    meta = vault.read(meta_path)
    if not meta:
        return 0
    return int((meta.get("data") or {}).get("current_version") or 0)


def _kv_data(vault: Vault, data_path: str) -> dict | None:
    resp = vault.read(data_path)
    if not resp:
        return None
    return (resp.get("data") or {}).get("data")


def _delete_quietly(vault: Vault, path: str) -> bool:
    try:
        vault.delete(path)
        return True
    except NotFound:
        return False


def require_customer(vault: Vault, customer: str, mounts: Mounts) -> None:
    names.slug(customer, "customer")
    if vault.read(_Paths(mounts).profile_meta(customer)) is None:
        raise NotFound(f"unknown customer {names.shown(customer)}")


def entity_of(vault: Vault, user: str, mounts: Mounts) -> dict:
    """The identity entity of a login (NotFound for an unknown user)."""
    names.username(user)
    entity = users.entity_for(vault, mounts.userpass, user)
    if not entity:
        if vault.read(f"auth/{mounts.userpass}/users/{user}") is None:
            raise NotFound(f"unknown user {names.shown(user)}")
        raise NotFound(f"user {names.shown(user)} has no identity entity yet (never logged in)")
    return entity


def jit_entity_of(vault: Vault, user: str) -> dict | None:
    """The entity behind the ``jit:<user>`` alias on the token mount, if any."""
    return users.jit_entity(vault, user)


# --------------------------------------------------------------------------
# grants
# --------------------------------------------------------------------------
@dataclass
class Grant:
    user: str
    customer: str
    kind: str  # standing | jit
    state: str  # active | expired | group-without-record | record-without-group
    granted_by: str | None = None
    granted_at: str | None = None
    expires_at: str | None = None
    reason: str | None = None
    accessor: str | None = None
    incident: str | None = None  # an approved access request's incident (issue 14)
    request: str | None = None  # ... and its id

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("incident", "request"):  # only on grants from an approved request
            if d[k] is None:
                del d[k]
        return d


def _state(kind: str, expires_at: str | None, now: datetime) -> str:
    if kind == "jit":
        end = _parse_iso(expires_at)
        if end is not None and end <= now:
            return "expired"
    return "active"


def grant(
    vault: Vault,
    user: str,
    customer: str,
    *,
    now: datetime,
    duration: timedelta | None = None,
    reason: str | None = None,
    mounts: Mounts = Mounts(),
    incident: str | None = None,
    request: str | None = None,
) -> Grant:
    """Grant ``customer`` to ``user``: standing (no duration) or time-limited.

    Checks everything before writing anything; a duplicate is a Conflict.
    ``incident``/``request``: an approved access request's (incidents.approve).
    """
    names.username(user)
    names.slug(customer, "customer")
    _check_duration(duration)
    if reason is not None:
        reason = reason.strip()
        if len(reason) > 500 or any(not ch.isprintable() for ch in reason):
            raise UsageError("--reason must be one printable line of at most 500 characters")
    p = _Paths(mounts)
    require_customer(vault, customer, mounts)
    entity = entity_of(vault, user, mounts)
    if entity.get("disabled"):
        raise UsageError(f"user {names.shown(user)} is disabled; a grant would have no effect")
    _check_grantee_roles(vault, user, entity["id"], duration)
    granted_by = caller_name(vault)

    cas = _kv_version(vault, p.grant_meta(customer, user))
    existing = _kv_data(vault, p.grant_data(customer, user)) if cas else None
    group_name = grant_group(customer, user)
    group = vault.read(f"identity/group/name/{group_name}")
    if existing and _state(existing.get("kind", "standing"), existing.get("expires_at"), now) == "active":
        kind = existing.get("kind", "standing")
        # A record whose group or token was never made is a grant that did not
        # complete (a crash between the two writes): a retry takes it over.
        half_done = (kind == "standing" and group is None) or (kind == "jit" and not existing.get("accessor"))
        started = _parse_iso(existing.get("granted_at"))
        if not half_done:
            until = f" until {existing['expires_at']}" if existing.get("expires_at") else ""
            raise Conflict(
                f"{names.shown(user)} already has {kind} access to {names.shown(customer)}{until}; revoke it first"
            )
        if started is not None and now - started < UNFINISHED_AFTER:
            raise Conflict(
                f"{names.shown(user)} is being granted {names.shown(customer)} by someone else right now; "
                "see `netvault access list` in a minute"
            )
    if group is not None:
        raise Conflict(f"{names.shown(user)} already has standing access to {names.shown(customer)} (group {group_name})")

    record = {
        "user": user,
        "customer": customer,
        "kind": "jit" if duration else "standing",
        "granted_by": granted_by,
        "granted_at": _iso(now),
        "expires_at": _iso(now + duration) if duration else None,
        "reason": reason or None,
        "accessor": None,
    }
    if incident or request:
        record.update({"incident": incident, "request": request})
    # Claim the pair first: check-and-set makes one of two racing grants lose.
    try:
        written = vault.write(p.grant_data(customer, user), {"options": {"cas": cas}, "data": record})
    except Conflict:
        raise Conflict(
            f"{names.shown(user)} was granted {names.shown(customer)} by someone else a moment ago; "
            "see `netvault access list`"
        ) from None
    version = int(((written or {}).get("data") or {}).get("version") or cas + 1)
    try:
        if duration is None:
            vault.write(
                "identity/group",
                {
                    "name": group_name,
                    # a string, one policy: the team-lead policy refuses lists and commas
                    "policies": customer_policy_name(customer),
                    "member_entity_ids": [entity["id"]],
                    "metadata": {"netvault_grant": "standing", "customer": customer, "user": user, "granted_by": granted_by},
                },
            )
        else:
            accessor = _issue_jit(vault, p, user, customer, entity["id"], duration, now, granted_by)
            record["accessor"] = accessor
            vault.write(p.grant_data(customer, user), {"options": {"cas": version}, "data": record})
    except BaseException:
        _delete_quietly(vault, p.grant_meta(customer, user))
        raise
    if duration is None:
        # find's per-person copy (docs/DESIGN.md "Find"): speed only; without
        # it find reads the customer's search document directly
        from netvault.records import reach

        try:
            reach.enrol(vault, mounts.kv, customer, user, entity["id"])
        except NetvaultError:
            pass
    return Grant(state="active", **record)


def _check_grantee_roles(vault: Vault, user: str, entity_id: str, duration: timedelta | None) -> None:
    """Refuse, before anything is written, grants Vault would make useless or
    that must not exist: auditors never reveal (any grant); an admin's
    ``jit:<user>`` identity is disabled (no time-limited grant; a standing
    grant is how an admin reveals, visible as a group); a person with no
    netvault role (role withdrawn, or made outside netvault) gets nothing."""
    roles = _roles_of(entity_id, _role_members(vault))
    if "auditor" in roles:
        raise PermissionDenied(f"{names.shown(user)} is an auditor: auditors never reveal, so no grant")
    if "admin" in roles and duration is not None:
        raise PermissionDenied(
            f"{names.shown(user)} is an admin: no time-limited grants for admins (Vault refuses their "
            "just-in-time tokens); grant without --for")
    if not roles:
        raise UsageError(f"{names.shown(user)} has no netvault role; give them one before granting")


def _issue_jit(
    vault: Vault, p: _Paths, user: str, customer: str, entity_id: str,
    duration: timedelta, now: datetime, granted_by: str,
) -> str:
    """Mint the JIT token (wrapped) and drop the wrap token into the inbox.

    Returns the JIT token's accessor. The plain token never reaches this
    process: Vault hands out only the single-use wrapping token.
    """
    seconds = int(duration.total_seconds())
    resp = vault.write(
        JIT_CREATE_PATH,
        {
            "policies": customer_policy_name(customer),
            "ttl": f"{seconds}s",
            "explicit_max_ttl": f"{seconds}s",
            "entity_alias": jit_alias(user),
            # No display_name / meta: they are caller-chosen, so the trail never
            # trusts them (the nv-jit policy refuses them too). The audit reader
            # names the person who unwrapped the token (accessor HMAC chain).
        },
        wrap_ttl=f"{seconds}s",
    )
    wrap = (resp or {}).get("wrap_info") or {}
    if not wrap.get("token"):
        raise NetvaultError("Vault did not wrap the just-in-time token; not delivered")
    accessor = wrap.get("wrapped_accessor") or ""
    try:
        cas = _kv_version(vault, p.inbox_meta(entity_id, customer))
        vault.write(
            p.inbox_data(entity_id, customer),
            {
                "options": {"cas": cas},
                "data": {
                    "wrap_token": wrap["token"],
                    "wrap_accessor": wrap.get("accessor"),
                    "customer": customer,
                    "expires_at": _iso(now + duration),
                    "granted_by": granted_by,
                },
            },
        )
    except BaseException:
        if accessor:
            try:
                vault.write("auth/token/revoke-accessor", {"accessor": accessor})
            except NetvaultError:
                pass
        raise
    return accessor


def _revoke_accessor(vault: Vault, accessor: str | None) -> bool:
    if not accessor:
        return False
    try:
        vault.write("auth/token/revoke-accessor", {"accessor": accessor})
        return True
    except (NotFound, UsageError):  # already expired or revoked: "invalid accessor"
        return False


def revoke(vault: Vault, user: str, customer: str, *, mounts: Mounts = Mounts()) -> Grant:
    """Remove a grant of either kind. Enforcement goes first (group, token),
    the record last, so a failure half-way never leaves access without a record."""
    names.username(user)
    names.slug(customer, "customer")
    p = _Paths(mounts)
    record = _kv_data(vault, p.grant_data(customer, user))
    group_name = grant_group(customer, user)
    group = vault.read(f"identity/group/name/{group_name}")
    if record is None and group is None:
        _withdraw_copy(vault, mounts, customer, user)  # an earlier revoke stopped half-way
        # Say precisely what is unknown.
        require_customer(vault, customer, mounts)
        entity_of(vault, user, mounts)
        raise NotFound(f"{names.shown(user)} has no grant of {names.shown(customer)}")
    if group is not None:
        _delete_quietly(vault, f"identity/group/name/{group_name}")
    _withdraw_copy(vault, mounts, customer, user)
    kind = (record or {}).get("kind", "standing")
    if record and kind == "jit":
        _revoke_accessor(vault, record.get("accessor"))
        entity = users.entity_for(vault, mounts.userpass, user)
        if entity:
            _delete_quietly(vault, p.inbox_meta(entity["id"], customer))
    if record is not None:
        _delete_quietly(vault, p.grant_meta(customer, user))
    rec = record or {"user": user, "customer": customer, "kind": "standing"}
    return Grant(
        user=user, customer=customer, kind=kind, state="revoked",
        granted_by=rec.get("granted_by"), granted_at=rec.get("granted_at"),
        expires_at=rec.get("expires_at"), reason=rec.get("reason"), accessor=rec.get("accessor"),
    )


def _withdraw_copy(vault: Vault, mounts: Mounts, customer: str, user: str) -> None:
    """Take back the person's find copy of the customer (after the group is gone)."""
    from netvault.records import reach

    entity = users.entity_for(vault, mounts.userpass, user)
    if entity:
        reach.withdraw(vault, mounts.kv, customer, entity["id"])


def _grant_groups(vault: Vault) -> set[tuple[str, str]]:
    out = set()
    for name in vault.list("identity/group/name"):
        parsed = parse_grant_group(name)
        if parsed:
            out.add(parsed)
    return out


def list_grants(
    vault: Vault,
    *,
    now: datetime,
    customer: str | None = None,
    user: str | None = None,
    mounts: Mounts = Mounts(),
) -> list[Grant]:
    """All grants: identity groups (what Vault enforces) merged with the records
    (why, until when). A mismatch between the two shows in ``state``."""
    if customer is not None:
        names.slug(customer, "customer")
    if user is not None:
        names.username(user)
    p = _Paths(mounts)
    groups = {g for g in _grant_groups(vault) if (customer is None or g[0] == customer) and (user is None or g[1] == user)}
    from netvault.records.lookup import parallel

    customers = [customer] if customer else [c.rstrip("/") for c in vault.list(f"{p.kv}/metadata/_grants")]
    # one request per customer and per record, but in parallel: the cost of
    # `access list` then follows the slowest read, not the number of grants
    listed = parallel(vault, customers, lambda client, c: [e.rstrip("/") for e in client.list(f"{p.kv}/metadata/_grants/{c}")])
    keys = [(c, u) for c, users_ in zip(customers, listed) for u in users_ if user is None or u == user]
    records: dict[tuple[str, str], dict] = {
        key: data for key, data in zip(keys, parallel(vault, keys, lambda client, k: _kv_data(client, p.grant_data(*k))))
        if data
    }
    if not groups and not records:
        # an empty answer for a name that does not exist would mislead
        if customer is not None:
            require_customer(vault, customer, mounts)
        if user is not None:
            entity_of(vault, user, mounts)
    out = []
    for key in sorted(groups | set(records)):
        c, u = key
        rec = records.get(key)
        if rec is None:
            out.append(Grant(user=u, customer=c, kind="standing", state="group-without-record"))
            continue
        kind = rec.get("kind", "standing")
        if kind == "standing":
            state = "active" if key in groups else "record-without-group"
        else:
            state = _state(kind, rec.get("expires_at"), now)
        out.append(Grant(
            user=u, customer=c, kind=kind, state=state, granted_by=rec.get("granted_by"),
            granted_at=rec.get("granted_at"), expires_at=rec.get("expires_at"),
            reason=rec.get("reason"), accessor=rec.get("accessor"),
            incident=rec.get("incident") if isinstance(rec.get("incident"), str) else None,
            request=rec.get("request") if isinstance(rec.get("request"), str) else None,
        ))
    return out


# --------------------------------------------------------------------------
# just-in-time pickup (engineer side)
# --------------------------------------------------------------------------
def customer_token(settings, vault: Vault, customer: str, now: datetime, *,
                   entity_id: str | None = None) -> str | None:
    """A token for ``customer`` from a time-limited grant, or None.

    Returns a stored JIT token while Vault still accepts it; otherwise looks in
    the caller's inbox ``_inbox/<own entity id>/<customer>``, checks that the
    wrap token really comes from the ``nv-jit`` role, unwraps it, keeps the
    token in the keyring (scope ``jit:<customer>``), deletes the inbox entry
    and returns the token. Raises PermissionDenied when the delivery was
    already unwrapped by someone else (the wrap token is single-use).
    The expiry (Vault's TTL at pickup) is noted on this machine
    (``tokenstore.remember_jit_expiry``): a stored token known to have expired
    is not sent to Vault again, and callers can say when the access ended.
    """
    from netvault.local import tokens as tokenstore

    names.slug(customer, "customer")
    scope = f"jit:{customer}"
    stored = tokenstore.load(settings.address, scope=scope) if scope in tokenstore.scopes(settings.address) else None
    if stored:
        end = _parse_iso(tokenstore.jit_expiries(settings.address).get(customer))
        if end is None or end > now:
            probe = settings.client.once(stored)
            if probe.token_is_valid():
                return stored
        tokenstore.delete(settings.address, scope=scope)
    entity_id = entity_id or _caller_entity(vault)
    if not entity_id:
        return None
    p = _Paths(settings.mounts)
    entry = _kv_data(vault, p.inbox_data(entity_id, customer))
    if not entry:
        return None
    end = _parse_iso(entry.get("expires_at"))
    if end is not None and end <= now:
        # never picked up and over: keep when it ended, for "your access to X expired at T"
        tokenstore.remember_jit_expiry(settings.address, customer, _iso(end))
        _delete_quietly(vault, p.inbox_meta(entity_id, customer))
        return None
    wrap = entry.get("wrap_token") or ""
    anon = settings.client.once(None)
    granted_by = names.shown(str(entry.get("granted_by") or "?"))
    try:
        info = anon.write("sys/wrapping/lookup", {"token": wrap})["data"]
    except NetvaultError:
        raise PermissionDenied(
            f"the time-limited access to {names.shown(customer)} delivered by {granted_by} was already "
            "unwrapped by someone else (or withdrawn); it is not usable. Tell your team lead: "
            "the delivery may have been intercepted",
        ) from None
    if info.get("creation_path") != JIT_CREATE_PATH:
        raise PermissionDenied(
            f"the inbox entry for {names.shown(customer)} is not a netvault just-in-time token "
            f"(created at {names.shown(str(info.get('creation_path')))}); refusing to use it"
        )
    # Unwrap with the engineer's OWN token (the wrap token goes in the body):
    # the audit entry of the unwrap then names the engineer as the holder.
    # Unwrapping with the wrap token as X-Vault-Token would leave no person.
    unwrapper = settings.client.once(vault.token)
    try:
        resp = unwrapper.write("sys/wrapping/unwrap", {"token": wrap})
    except NetvaultError:
        raise PermissionDenied(
            f"the time-limited access to {names.shown(customer)} was unwrapped by someone else "
            "a moment ago; it is not usable. Tell your team lead",
        ) from None
    auth = (resp or {}).get("auth") or {}
    token = auth.get("client_token")
    if not token or customer_policy_name(customer) not in (auth.get("policies") or []):
        raise PermissionDenied(f"the delivered token does not carry access to {names.shown(customer)}")
    tokenstore.save(settings.address, token, scope=scope)
    # the end as Vault set it (the token's TTL), not the inbox entry's own field
    ttl = int(auth.get("lease_duration") or 0)
    tokenstore.remember_jit_expiry(settings.address, customer, _iso(now + timedelta(seconds=ttl)) if ttl else None)
    _delete_quietly(vault, p.inbox_meta(entity_id, customer))
    return token


# --------------------------------------------------------------------------
# people
# --------------------------------------------------------------------------
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


def add_user(vault: Vault, user: str, role: str, password: str, *, mounts: Mounts = Mounts()) -> dict:
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
    return {"user": user, "role": role, "entity_id": entity_id}


def _role_members(vault: Vault) -> dict[str, set[str]]:
    out = {}
    for role, (group, _policies) in ROLES.items():
        g = vault.read(f"identity/group/name/{group}")
        out[role] = set(((g or {}).get("data") or {}).get("member_entity_ids") or [])
    return out


def _roles_of(entity_id: str | None, members: dict[str, set[str]]) -> list[str]:
    return [role for role, ids in members.items() if entity_id and entity_id in ids]


def list_users(vault: Vault, *, now: datetime, mounts: Mounts = Mounts()) -> list[dict]:
    members = _role_members(vault)
    grants = list_grants(vault, now=now, mounts=mounts)
    rows = []
    accessor = users.mount_accessor(vault, mounts.userpass)
    for entry in sorted(vault.list(f"auth/{mounts.userpass}/users")):
        u = entry.rstrip("/")
        resp = vault.write("identity/lookup/entity", {"alias_name": u, "alias_mount_accessor": accessor})
        entity = (resp or {}).get("data") or {}
        mine = [g for g in grants if g.user == u and g.state == "active"]
        rows.append({
            "user": u,
            "roles": _roles_of(entity.get("id"), members),
            "disabled": bool(entity.get("disabled")),
            "entity_id": entity.get("id"),
            "customers": sorted({g.customer for g in mine}),
        })
    return rows


def show_user(vault: Vault, user: str, *, now: datetime, mounts: Mounts = Mounts()) -> dict:
    entity = entity_of(vault, user, mounts)
    members = _role_members(vault)
    grants = list_grants(vault, now=now, user=user, mounts=mounts)
    jit = None
    try:
        jit = jit_entity_of(vault, user)
    except PermissionDenied:
        pass
    return {
        "user": user,
        "entity_id": entity["id"],
        "disabled": bool(entity.get("disabled")),
        "roles": _roles_of(entity["id"], members),
        "jit_entity_id": (jit or {}).get("id"),
        "grants": [g.to_dict() for g in grants],
    }


def _set_disabled(vault: Vault, entity_id: str, disabled: bool = True) -> None:
    vault.write(f"identity/entity/id/{entity_id}", {"disabled": disabled})


def disable_user(vault: Vault, user: str, *, mounts: Mounts = Mounts()) -> dict:
    """Disable the login: Vault refuses the entity's tokens and its logins at once."""
    entity = entity_of(vault, user, mounts)
    _set_disabled(vault, entity["id"])
    jit = jit_entity_of(vault, user)
    if jit:
        _set_disabled(vault, jit["id"])
    return {"user": user, "entity_id": entity["id"], "jit_entity_id": (jit or {}).get("id"), "disabled": True}


@dataclass
class OffboardResult:
    user: str
    entity_id: str
    jit_entity_id: str | None
    revoked: list[dict] = field(default_factory=list)
    tokens_revoked: int = 0
    removed_from_roles: list[str] = field(default_factory=list)
    kept_roles: list[str] = field(default_factory=list)
    worklist: list[dict] = field(default_factory=list)
    audit_checked: bool = False
    #: customers with a reveal whose record could not be named: rotate all of them
    unresolved_customers: list[str] = field(default_factory=list)
    #: just-in-time tokens this person MINTED (from the audit trail); None: not traced
    minted: int | None = None
    minted_revoked: list[dict] = field(default_factory=list)
    minted_unmatched: int = 0  # minted, still unmatched to a live accessor (see minted_note)
    minted_note: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


#: exposure(user, entity_ids, records) -> set of revealed record ids, or None if unknown;
#: an item "*:<customer>" means a reveal in that customer whose record is unknown (all of it),
#: "+:<customer>" a reveal in that customer (listed even when no grant covered it)
Exposure = Callable[[str, list[str], list[dict]], "Iterable[str] | None"]
#: minted(entity_ids) -> audit HMACs of the accessors of tokens these entities created
#: (auth/token/create*, from the audit trail), or None when there is no trail to read
Minted = Callable[[list[str]], "Iterable[str] | None"]
AUDIT_DEVICE = "netvault"  # = attribution.AUDIT_DEVICE (kept here: access must not import the audit package)


def _hasher(vault: Vault, device: str):
    cache: dict[str, str | None] = {}

    def audit_hash(value: str) -> str | None:
        if value not in cache:
            resp = vault.write(f"sys/audit-hash/{device}", {"input": value}) or {}
            cache[value] = (resp.get("data") or {}).get("hash") or resp.get("hash")
        return cache[value]

    return audit_hash


def sweep_minted(vault: Vault, hmacs: Iterable[str], *, now: datetime, mounts: Mounts = Mounts(),
                 audit_device: str = AUDIT_DEVICE) -> dict:
    """Revoke every live token whose accessor's audit HMAC is in ``hmacs``.

    The trail holds only HMACs of accessors; live accessors come from the
    grant records (any team lead) and from ``auth/token/accessors`` (sudo:
    admins), each compared through ``sys/audit-hash/<device>``. Returns
    ``{"revoked": [...], "unmatched": n, "complete": bool, "note": str|None}``;
    ``complete`` is False when the caller could not see every live accessor.
    """
    remaining = {h for h in hmacs if h}
    out: dict = {"revoked": [], "unmatched": 0, "complete": True, "note": None}
    if not remaining:
        return out
    audit_hash = _hasher(vault, audit_device)

    def alive(accessor: str) -> bool:
        try:
            vault.write("auth/token/lookup-accessor", {"accessor": accessor})
            return True
        except (NotFound, UsageError):  # "invalid accessor": expired or revoked already
            return False

    def try_one(accessor: str, where: str) -> None:
        h = audit_hash(accessor)
        if h in remaining and alive(accessor) and _revoke_accessor(vault, accessor):
            out["revoked"].append({"via": where, "accessor_hmac": h})
        remaining.discard(h)

    try:
        for g in list_grants(vault, now=now, mounts=mounts):
            if g.accessor and remaining:
                try_one(g.accessor, f"grant record {g.customer}/{g.user}")
        if remaining:
            try:
                accessors = vault.list("auth/token/accessors")
            except PermissionDenied:
                out["complete"] = False
                out["note"] = ("cannot list token accessors (needs an admin): tokens minted without a grant "
                               "record may still be alive; have an admin run the offboarding again")
            else:
                for accessor in accessors:
                    if not remaining:
                        break
                    try_one(accessor, "token accessor list")
    except PermissionDenied:
        out["complete"] = False
        out["note"] = "may not compare accessors with the audit trail (sys/audit-hash); an admin must run the offboarding"
    # with the full accessor list, what is left is no longer alive (expired or revoked)
    out["unmatched"] = len(remaining) if not out["complete"] else 0
    return out


def credentials_of(vault: Vault, customer: str, mounts: Mounts = Mounts()) -> list[dict]:
    """Every record with sealed secrets in a customer (credentials, licences)."""
    out = []
    for kind in ("credentials", "licences"):
        for entry in vault.list(f"{mounts.kv}/metadata/customers/{customer}/{kind}"):
            if entry.endswith("/"):
                continue
            data = _kv_data(vault, f"{mounts.kv}/data/customers/{customer}/{kind}/{entry}") or {}
            out.append({
                "customer": customer,
                "kind": kind,
                "name": entry,
                "id": data.get("id"),
                "fields": sorted((data.get("secrets") or {}).keys()),
            })
    return out


def offboard(
    vault: Vault,
    user: str,
    *,
    now: datetime,
    mounts: Mounts = Mounts(),
    exposure: Exposure | None = None,
    minted: Minted | None = None,
) -> OffboardResult:
    """Cut a person off at once, then clean up and list what to rotate.

    1. disable the entity (Vault refuses every token of it and its login at
       once) and the ``jit:<user>`` entity (every JIT token of theirs);
    2. delete grant groups, revoke JIT accessors, withdraw undelivered JIT
       tokens, delete grant records; drop the role memberships the caller may;
    3. revoke the just-in-time tokens they MINTED (for anyone: a hostile
       team lead may have minted tokens in others' names without a grant
       record), found in the audit trail by ``minted``; without it the
       result says they could not be traced (``minted`` None, ``minted_note``);
    4. return the rotation worklist: every sealed record in every customer
       they were granted or revealed in, ``revealed`` filled from the audit
       trail when an exposure reader is given (else None = unknown).
    """
    entity = entity_of(vault, user, mounts)
    entity_id = entity["id"]
    _set_disabled(vault, entity_id)
    jit = jit_entity_of(vault, user)
    if jit:
        _set_disabled(vault, jit["id"])
    result = OffboardResult(user=user, entity_id=entity_id, jit_entity_id=(jit or {}).get("id"))

    p = _Paths(mounts)
    grants = list_grants(vault, now=now, user=user, mounts=mounts)
    customers = set()
    for g in grants:
        customers.add(g.customer)
        _delete_quietly(vault, f"identity/group/name/{grant_group(g.customer, user)}")
        if g.kind == "jit" and _revoke_accessor(vault, g.accessor):
            result.tokens_revoked += 1
        _delete_quietly(vault, p.grant_meta(g.customer, user))
        result.revoked.append({"customer": g.customer, "kind": g.kind, "state": g.state, "expires_at": g.expires_at})
    for entry in vault.list(p.inbox_meta(entity_id)):
        _delete_quietly(vault, p.inbox_meta(entity_id, entry.rstrip("/")))
    from netvault.records import reach

    for c in customers:
        reach.withdraw(vault, mounts.kv, c, entity_id)
    reach.forget_person(vault, mounts.kv, entity_id)

    ids = [e for e in (entity_id, result.jit_entity_id) if e]
    hmacs = None
    if minted is not None:
        try:
            got = minted(ids)
            hmacs = None if got is None else set(got)
        except NetvaultError:
            hmacs = None
    if hmacs is None:
        result.minted_note = "no audit trail read: tokens this person minted could not be traced (nor revoked)"
    else:
        result.minted = len(hmacs)
        swept = sweep_minted(vault, hmacs, now=now, mounts=mounts)
        result.minted_revoked = swept["revoked"]
        result.tokens_revoked += len(swept["revoked"])
        result.minted_unmatched = swept["unmatched"]
        result.minted_note = swept["note"]

    members = _role_members(vault)
    for role in _roles_of(entity_id, members):
        try:
            if users.remove_member(vault, ROLES[role][0], entity_id, kv=mounts.kv):
                result.removed_from_roles.append(role)
            else:
                result.kept_roles.append(role)
        except PermissionDenied:
            result.kept_roles.append(role)

    records: list[dict] = []
    for c in sorted(customers):
        try:
            records.extend(credentials_of(vault, c, mounts))
        except NotFound:
            continue
    revealed: set[str] | None = None
    if exposure is not None:
        try:
            got = exposure(user, ids, records)
        except NetvaultError:
            got = None
        if got is not None:
            revealed = set(got)
            result.audit_checked = True
    if revealed:
        result.unresolved_customers = sorted(x[2:] for x in revealed if x.startswith("*:"))
        for c in sorted({x[2:] for x in revealed if x[:2] in ("*:", "+:")}):
            if c not in customers:  # revealed there without a grant (e.g. a token they minted)
                customers.add(c)
                try:
                    records.extend(credentials_of(vault, c, mounts))
                except (NotFound, PermissionDenied):
                    continue
    for r in records:
        r["revealed"] = None if revealed is None else (
            r.get("id") in revealed or f"*:{r['customer']}" in revealed)
    result.worklist = records
    return result


# --------------------------------------------------------------------------
# offboarding worklists, kept in KV so they can be printed again
# --------------------------------------------------------------------------
#: ``<kv>/data/_offboarded/<user>/<UTC time of the run>``: one entry per
#: offboarding run, written create-only (cas=0; team leads hold "create" and
#: "read" there, no "update", no delete/destroy/metadata writes), so a stored
#: worklist cannot be silently rewritten by a team lead. Auditors read it
#: (nv-auditor), engineers cannot.
OFFBOARDED = "_offboarded"


def _offboarded_paths(mounts: Mounts, user: str) -> tuple[str, str]:
    return f"{mounts.kv}/data/{OFFBOARDED}/{user}", f"{mounts.kv}/metadata/{OFFBOARDED}/{user}"


def save_worklist(vault: Vault, result: OffboardResult, *, now: datetime, mounts: Mounts = Mounts(),
                  audit_source: str | None = None) -> str:
    """Store this run's worklist create-only; returns the run key (UTC time)."""
    names.username(result.user)
    data_base, _ = _offboarded_paths(mounts, result.user)
    run = now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    body = {
        "user": result.user, "offboarded_at": _iso(now), "entity_id": result.entity_id,
        "audit_checked": result.audit_checked, "audit_source": audit_source,
        "revoked": result.revoked, "unresolved_customers": result.unresolved_customers,
        "worklist": result.worklist,
    }
    try:
        vault.write(f"{data_base}/{run}", {"options": {"cas": 0}, "data": body})
    except (UsageError, Conflict):  # cas mismatch: a run in the same second is stored already
        raise Conflict(f"an offboarding worklist of {result.user} for {run} is stored already") from None
    return run


def offboarded_worklists(vault: Vault, user: str, *, mounts: Mounts = Mounts()) -> list[dict]:
    """Every stored offboarding run of ``user``, oldest first (empty when none)."""
    names.username(user)
    data_base, meta_base = _offboarded_paths(mounts, user)
    try:
        runs = sorted(k for k in vault.list(meta_base) if not k.endswith("/"))
    except NotFound:
        return []
    out = []
    for run in runs:
        resp = vault.read(f"{data_base}/{run}")
        if not resp:
            continue
        body = dict((resp.get("data") or {}).get("data") or {})
        meta = (resp.get("data") or {}).get("metadata") or {}
        body["run"] = run
        body["version"] = meta.get("version")  # > 1 would mean it was rewritten (admins only)
        out.append(body)
    return out
