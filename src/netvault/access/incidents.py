"""Incidents at 3 a.m. (issue 14): access requests with approval, and break-glass.

Every rule is Vault's (policies/requests.hcl.tmpl, request-decisions.hcl.tmpl,
on-call.hcl.tmpl); this module only asks it:

* A **request** is ``_requests/<requester>/<customer>`` (KV v2), writable only
  by the person whose userpass login name is ``<requester>`` (templated ACL
  path). Each version is one request; its id is ``<user>:<customer>:<version>``.
  The requester is the path (Vault-bound), never a field of the body; its time
  is the version's ``created_time`` (Vault's clock, not the caller's).
* A **decision** is ``_decisions/<requester>/<customer>/<version>``, created
  once by a team lead with check-and-set 0 (create + read only: never changed),
  so a request is decided once. The team lead's own name is read-only there:
  Vault refuses a lead deciding their own request.
* An approval then issues the time-limited grant exactly as ``grant --for``
  (``access.grant``), with the request's incident and reason in the record.
* **Break-glass**: members of ``nv-role-on-call`` may decrypt in any customer
  with a reference matching the break-glass patterns (default ``BG-*``).

Domain code: no printing, no typer; time comes in as ``now``.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from netvault.access import grants as access
from netvault.values import names
from netvault.access import people as users
from netvault.local.config import DEFAULT_BREAK_GLASS_PATTERNS
from netvault.vault.mounts import Mounts
from netvault.errors import Conflict, NetvaultError, NotFound, PermissionDenied, UsageError
from netvault.vault.client import Vault
from netvault.values.results import json_result, to_json
from netvault.vault.kv import (
    DECISIONS, REQUESTS, current_version_of, kv_create, kv_data, kv_list, kv_metadata, kv_write, settings,
    version_numbers,
)

#: a request nobody decided within this time can no longer be approved
REQUEST_TTL = timedelta(hours=1)
DEFAULT_REQUEST_FOR = "2h"
ON_CALL = "on-call"
#: roles that never break glass (Vault refuses them too: see policies/on-call.hcl.tmpl)
NO_BREAK_GLASS_ROLES = ("auditor", "admin")


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _parse_time(text) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    t = text.replace("Z", "+00:00")
    if "." in t:  # Vault: nanoseconds
        head, _, rest = t.partition(".")
        frac = "".join(ch for ch in rest if ch.isdigit())
        tz = rest[len(frac):]
        t = f"{head}.{frac[:6]}{tz}"
    try:
        out = datetime.fromisoformat(t)
    except ValueError:
        return None
    return out if out.tzinfo else out.replace(tzinfo=timezone.utc)


def _reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    reason = reason.strip()
    if len(reason) > 300 or any(not ch.isprintable() for ch in reason):
        raise UsageError("--reason must be one printable line of at most 300 characters")
    return reason or None


# --------------------------------------------------------------------------
# requests
# --------------------------------------------------------------------------
@json_result
@dataclass
class Request:
    id: str
    user: str
    customer: str
    version: int
    incident: str | None
    reason: str | None
    duration: str | None
    requested_at: str | None  # Vault's created_time of this version
    expires_at: str | None
    state: str  # pending | approved | denied | expired | superseded
    decided_by: str | None = None
    decided_at: str | None = None
    decision_reason: str | None = None

    def to_dict(self) -> dict:
        return to_json(self)


def request_id(user: str, customer: str, version: int) -> str:
    return f"{user}:{customer}:{version}"


def parse_request_id(text: str) -> tuple[str, str, int]:
    parts = text.split(":") if isinstance(text, str) else []
    if len(parts) != 3 or not parts[2].isdigit() or int(parts[2]) < 1:
        raise UsageError(f"request id {names.shown(str(text))} is not USER:CUSTOMER:N (see `netvault requests`)")
    user, customer, version = parts
    names.username(user)
    names.slug(customer, "customer")
    return user, customer, int(version)


class _P:
    """The KV mount and the paths in it of requests and decisions."""

    def __init__(self, mounts: Mounts) -> None:
        self.kv = mounts.kv

    @staticmethod
    def req(u: str, c: str) -> str:
        return f"{REQUESTS}/{u}/{c}"

    @staticmethod
    def decision(u: str, c: str, v: int) -> str:
        return f"{DECISIONS}/{u}/{c}/{v}"


def own_name(vault: Vault) -> str:
    """The caller's login name as Vault bound it to a userpass token."""
    data = (vault.request("GET", "auth/token/lookup-self") or {}).get("data") or {}
    name = (data.get("meta") or {}).get("username")
    if not name:
        raise PermissionDenied("requests are made with your own login (netvault login), not with another token")
    return names.username(name)


def _version_data(vault: Vault, p: _P, u: str, c: str, version: int) -> dict | None:
    return kv_data(vault, p.kv, p.req(u, c), int(version))


def _decision(vault: Vault, p: _P, u: str, c: str, v: int) -> dict | None:
    return kv_data(vault, p.kv, p.decision(u, c, v))


def _build(vault: Vault, p: _P, u: str, c: str, meta: dict, version: int, now: datetime) -> Request | None:
    data = _version_data(vault, p, u, c, version)
    if data is None:
        return None
    vmeta = ((meta.get("versions") or {}).get(str(version))) or {}
    created = _parse_time(vmeta.get("created_time"))
    expires = created + REQUEST_TTL if created else None
    rid = request_id(u, c, version)
    req = Request(
        id=rid, user=u, customer=c, version=version,
        incident=data.get("incident") if isinstance(data.get("incident"), str) else None,
        reason=data.get("reason") if isinstance(data.get("reason"), str) else None,
        duration=data.get("duration") if isinstance(data.get("duration"), str) else None,
        requested_at=_iso(created) if created else None, expires_at=_iso(expires) if expires else None,
        state="pending",
    )
    dec = _decision(vault, p, u, c, version)
    if dec:
        req.state = "approved" if dec.get("decision") == "approved" else "denied"
        req.decided_by = dec.get("decided_by") if isinstance(dec.get("decided_by"), str) else None
        req.decided_at = dec.get("decided_at") if isinstance(dec.get("decided_at"), str) else None
        req.decision_reason = dec.get("reason") if isinstance(dec.get("reason"), str) else None
    elif current_version_of(meta) != version:
        req.state = "superseded"
    elif expires is None or expires <= now:
        req.state = "expired"
    return req


def _current(vault: Vault, p: _P, u: str, c: str, now: datetime) -> tuple[dict | None, Request | None]:
    meta = kv_metadata(vault, p.kv, p.req(u, c))
    version = current_version_of(meta)
    if meta is None or not version:
        return meta, None
    return meta, _build(vault, p, u, c, meta, version, now)


def file_request(vault: Vault, customer: str, *, incident: str, now: datetime, duration: str | None = None,
                 reason: str | None = None, mounts: Mounts = Mounts()) -> tuple[Request, bool]:
    """File a request in the caller's own name; (request, created). A pending
    request for the same customer is returned as it is (created False)."""
    from netvault.records import lookup

    names.slug(customer, "customer")
    lookup.check_reference(incident)
    duration = duration or DEFAULT_REQUEST_FOR
    access.grant_duration(duration)
    reason = _reason(reason)
    p = _P(mounts)
    me = own_name(vault)
    meta, current = _current(vault, p, me, customer, now)
    if current is not None and current.state == "pending":
        return current, False
    body = {"user": me, "customer": customer, "incident": incident, "reason": reason, "duration": duration}
    try:
        kv_write(vault, p.kv, p.req(me, customer), body, cas=current_version_of(meta))
    except Conflict:
        # filed a moment ago by another netvault of ours: that one stands
        _meta, current = _current(vault, p, me, customer, now)
        if current is not None:
            return current, False
        raise
    _meta, current = _current(vault, p, me, customer, now)
    if current is None:
        raise NetvaultError("the request was written but cannot be read back")
    return current, True


def list_requests(vault: Vault, *, now: datetime, mine: bool = False, pending_only: bool = True,
                  mounts: Mounts = Mounts()) -> list[Request]:
    """Requests (the current version per user and customer, and, with
    ``pending_only`` False, every kept older version too)."""
    p = _P(mounts)
    people = [own_name(vault)] if mine else [u.rstrip("/") for u in kv_list(vault, p.kv, REQUESTS)]
    out: list[Request] = []
    for u in people:
        try:
            names.username(u)
        except UsageError:
            continue  # not a name netvault writes: skip rather than render
        for c in kv_list(vault, p.kv, f"{REQUESTS}/{u}"):
            c = c.rstrip("/")
            try:
                names.slug(c, "customer")
            except UsageError:
                continue
            meta = kv_metadata(vault, p.kv, p.req(u, c)) or {}
            versions = [current_version_of(meta)] if pending_only else version_numbers(meta)[::-1]
            for v in versions:
                if not v:
                    continue
                r = _build(vault, p, u, c, meta, v, now)
                if r is not None and (not pending_only or r.state == "pending"):
                    out.append(r)
    out.sort(key=lambda r: (r.requested_at or "", r.id))
    return out


def get_request(vault: Vault, rid: str, *, now: datetime, mounts: Mounts = Mounts()) -> Request:
    u, c, v = parse_request_id(rid)
    p = _P(mounts)
    meta = kv_metadata(vault, p.kv, p.req(u, c))
    if not meta or str(v) not in (meta.get("versions") or {}):
        raise NotFound(f"no request {names.shown(rid)}")
    r = _build(vault, p, u, c, meta, v, now)
    if r is None:
        raise NotFound(f"no request {names.shown(rid)}")
    return r


def _decide(vault: Vault, p: _P, r: Request, body: dict) -> None:
    try:
        kv_create(vault, p.kv, p.decision(r.user, r.customer, r.version), body)
    except Conflict:
        raise Conflict(f"request {names.shown(r.id)} was decided by someone else a moment ago") from None
    except PermissionDenied:
        # a lead may only create there: a decision that landed meanwhile is an update, refused
        if _decision(vault, p, r.user, r.customer, r.version):
            raise Conflict(f"request {names.shown(r.id)} was decided by someone else a moment ago") from None
        raise PermissionDenied(
            f"Vault refused the decision on {names.shown(r.id)}: nobody decides a request made in their own "
            "name (another team lead must), and only team leads decide") from None


def _decidable(r: Request) -> None:
    if r.state in ("approved", "denied"):
        raise Conflict(f"request {names.shown(r.id)} was already {r.state} by {names.shown(r.decided_by or '?')}")
    if r.state == "superseded":
        raise Conflict(f"request {names.shown(r.id)} was replaced by a newer request; see `netvault requests`")
    if r.state == "expired":
        raise Conflict(f"request {names.shown(r.id)} expired at {r.expires_at} (requests last "
                       f"{int(REQUEST_TTL.total_seconds() // 60)} min); the engineer must ask again")


def approve(vault: Vault, rid: str, *, now: datetime, duration: timedelta | None = None,
            mounts: Mounts = Mounts()) -> tuple[Request, "access.Grant"]:
    """Decide ``approved`` (once, Vault refuses one's own), then issue the
    time-limited grant exactly as ``grant --for`` does."""
    from netvault.records import lookup

    p = _P(mounts)
    r = get_request(vault, rid, now=now, mounts=mounts)
    _decidable(r)
    if duration is None:
        duration = access.grant_duration(r.duration or DEFAULT_REQUEST_FOR)
    # the requester wrote these: checked as any input before they reach a grant record
    incident = lookup.check_reference(r.incident or "")
    reason = _reason(r.reason)
    for g in access.list_grants(vault, now=now, customer=r.customer, user=r.user, mounts=mounts):
        if g.state == "active":
            raise Conflict(f"{names.shown(r.user)} already has {g.kind} access to {names.shown(r.customer)}; "
                           "nothing to approve (deny the request, or revoke first)")
    me = access.caller_name(vault)
    _decide(vault, p, r, {"decision": "approved", "decided_by": me, "decided_at": _iso(now),
                          "duration_s": int(duration.total_seconds())})
    try:
        grant = access.grant(vault, r.user, r.customer, now=now, duration=duration,
                             reason=f"{incident}: {reason}" if reason else incident, incident=incident,
                             request=r.id, mounts=mounts)
    except NetvaultError as exc:
        raise type(exc)(f"{exc.message} (the request is recorded as approved; grant by hand: "
                        f"netvault grant {r.user} {r.customer} --for ...)") from None
    r.state, r.decided_by, r.decided_at = "approved", me, _iso(now)
    return r, grant


def deny(vault: Vault, rid: str, *, reason: str, now: datetime, mounts: Mounts = Mounts()) -> Request:
    reason = _reason(reason) or ""
    if not reason:
        raise UsageError("a denial needs --reason")
    p = _P(mounts)
    r = get_request(vault, rid, now=now, mounts=mounts)
    if r.state in ("approved", "denied", "superseded"):
        _decidable(r)
    me = access.caller_name(vault)
    _decide(vault, p, r, {"decision": "denied", "decided_by": me, "decided_at": _iso(now), "reason": reason})
    r.state, r.decided_by, r.decided_at, r.decision_reason = "denied", me, _iso(now), reason
    return r


def poll(vault: Vault, r: Request, *, now: datetime, mounts: Mounts = Mounts()) -> Request:
    """The request as it stands now (for ``request --wait``)."""
    return get_request(vault, r.id, now=now, mounts=mounts)


# --------------------------------------------------------------------------
# break-glass
# --------------------------------------------------------------------------
def break_glass_patterns(vault: Vault | None, kv: str) -> list[str]:
    """The configured break-glass patterns (settings), else the default."""
    if vault is not None:
        try:
            found = settings(vault, kv).get("break_glass_patterns")
            if isinstance(found, list) and found and all(isinstance(x, str) for x in found):
                return list(found)
        except NetvaultError:
            pass
    return list(DEFAULT_BREAK_GLASS_PATTERNS)


def is_break_glass(reference: str | None, patterns) -> bool:
    return bool(reference) and any(fnmatch.fnmatchcase(reference, p) for p in patterns)


def break_glass_reference(incident: str, patterns: list[str]) -> str:
    """``INC-42`` -> ``BG-INC-42`` (the first pattern's form); a reference
    that already matches a break-glass pattern is kept."""
    if is_break_glass(incident, patterns):
        return incident
    first = patterns[0]
    if first.endswith("*"):
        return first[:-1] + incident
    if first.startswith("*"):
        return incident + first[1:]
    return first


@json_result
@dataclass(frozen=True)
class OnCall:
    """`on-call add|remove --json`."""
    user: str
    role: str
    entity_id: str
    on_call: bool


@json_result
@dataclass(frozen=True)
class OnCallMember:
    """One row of `on-call list --json`."""
    user: str | None
    entity_id: str
    disabled: bool


@json_result
@dataclass(frozen=True)
class Approval:
    """`approve --json`: the decided request and the grant it made."""
    request: Request
    grant: access.Grant


def give_on_call(vault: Vault, user: str, *, mounts: Mounts = Mounts()) -> OnCall:
    """Put a person into ``nv-role-on-call``. Refused for admins, auditors,
    disabled people and people with no role (Vault refuses admins and auditors
    break-glass anyway)."""
    entity = access.entity_of(vault, user, mounts)
    if entity.get("disabled"):
        raise UsageError(f"{names.shown(user)} is disabled")
    roles = access.roles_of(entity["id"], access.role_members(vault))
    bad = [r for r in roles if r in NO_BREAK_GLASS_ROLES]
    if bad:
        raise PermissionDenied(f"{names.shown(user)} is an {bad[0]}: {bad[0]}s never break glass")
    if not roles:
        raise UsageError(f"{names.shown(user)} has no netvault role; give them one first")
    users.add_member(vault, users.role_group(ON_CALL), entity["id"], kv=mounts.kv)
    return OnCall(user, ON_CALL, entity["id"], True)


def take_on_call(vault: Vault, user: str, *, mounts: Mounts = Mounts()) -> OnCall:
    entity = access.entity_of(vault, user, mounts)
    if not users.remove_member(vault, users.role_group(ON_CALL), entity["id"], kv=mounts.kv):
        raise Conflict(f"could not take {names.shown(user)} off call: the member list kept changing; try again")
    return OnCall(user, ON_CALL, entity["id"], False)


def on_call_members(vault: Vault, *, mounts: Mounts = Mounts()) -> list[OnCallMember]:
    g = vault.read(f"identity/group/name/{users.role_group(ON_CALL)}")
    ids = ((g or {}).get("data") or {}).get("member_entity_ids") or []
    out = []
    for eid in ids:
        e = vault.read(f"identity/entity/id/{eid}")
        data = (e or {}).get("data") or {}
        name = next((a.get("name") for a in data.get("aliases") or [] if a.get("mount_type") == "userpass"), None)
        out.append(OnCallMember(name, eid, bool(data.get("disabled"))))
    return sorted(out, key=lambda x: x.user or "")
