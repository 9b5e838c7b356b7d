"""Who may see which customer: standing grants, the grant records and ledger, listing.

Every rule here is enforced by Vault, not by this module (see docs/DESIGN.md,
"Grants", and policies/*.hcl):

* A **standing grant** of customer ``c`` to user ``u`` is the identity group
  ``nv-grant:<c>:<u>`` carrying the one policy ``nv-customer-<c>`` with the
  user's entity as its only member. Vault evaluates group policies on every
  request, so a grant or revoke reaches tokens already issued at once. One
  group per grant: two team leads granting at the same moment never
  read-modify-write a shared member list.
* A **time-limited grant** (``--for 4h``) is a just-in-time token
  (netvault.access.jit): Vault expires it by itself.
* Both kinds leave a grant record ``_grants/<c>/<u>`` (who, why, until when),
  written with check-and-set ``cas=0``: of two simultaneous grants of the
  same pair exactly one wins, the other is a Conflict. The records are what
  the audit trail shows (a write per grant, a delete per revoke).
* The **grant ledger** ``_grants/_ledger`` is one document holding a copy of
  every record, kept with check-and-set (re-read and retried on a conflict,
  so two team leads granting at once lose no entry) at grant, revoke,
  offboarding and repair time. ``access list`` reads it and the identity
  group list: two requests, whatever the number of grants. Book-keeping
  only: the groups stay the truth (a mismatch shows in ``state``) and
  nothing in it attributes an act to a person (the trail does).

Offboarding is netvault.access.offboard, people (add, list, show) are
netvault.access.team.

Domain code: no printing, no typer; time comes in as ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Iterable

from netvault.access import jit
from netvault.errors import Conflict, NetvaultError, NotFound, PermissionDenied, UsageError
from netvault.vault.mounts import Mounts
from netvault.values import names
from netvault.values.durations import iso_utc, parse_iso
from netvault.vault import kv
from netvault.vault.client import Vault
from netvault.vault.policies import ROLES, customer_policy_name
from netvault.values.results import json_result

GRANT_GROUP_PREFIX = "nv-grant:"
#: a grant record older than this without its group or token is an unfinished
#: grant (a crash between its writes) that a retry may take over; younger, it
#: may be a grant still in progress
UNFINISHED_AFTER = timedelta(seconds=30)
#: ``_grants/_ledger``: a customer slug starts with a letter or digit, so no
#: customer's records folder can have this name
LEDGER = "_ledger"
LEDGER_KEY = f"{kv.GRANTS}/{LEDGER}"
LEDGER_FORMAT = 1
LEDGER_MAX_BYTES = 64 << 20
LEDGER_TRIES = 25


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------
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


def record_key(customer: str, user: str) -> str:
    """``_grants/<customer>/<user>``, relative to the KV mount."""
    return f"{kv.GRANTS}/{customer}/{user}"


def grant_duration(text: str) -> timedelta:
    """Parse ``--for``: more than 0, at most 168h. Bad input is a UsageError (exit 2)."""
    from netvault.values import durations

    return durations.parse(text, minimum=1, maximum=int(jit.MAX_GRANT.total_seconds()), what="grant duration")


def _check_duration(duration: timedelta | None) -> None:
    if duration is None:
        return
    if duration <= timedelta(0):
        raise UsageError("grant duration must be more than 0")
    if duration > jit.MAX_GRANT:
        raise UsageError("grant duration is too long (at most 7d = 168h)")


def caller_name(vault: Vault) -> str:
    """A name to show for the caller (token meta / display name: shown, never
    used to attribute; the trail does that)."""
    data = vault.request("GET", "auth/token/lookup-self")["data"]
    meta = data.get("meta") or {}
    return meta.get("username") or data.get("display_name") or "unknown"


def require_customer(vault: Vault, customer: str, mounts: Mounts) -> None:
    names.slug(customer, "customer")
    if kv.kv_metadata(vault, mounts.kv, f"{kv.CUSTOMERS}/{customer}/profile") is None:
        raise NotFound(f"unknown customer {names.shown(customer)}")


def entity_of(vault: Vault, user: str, mounts: Mounts) -> dict:
    """The identity entity of a login (NotFound for an unknown user)."""
    from netvault.access import people as users

    names.username(user)
    entity = users.entity_for(vault, mounts.userpass, user)
    if not entity:
        if vault.read(f"auth/{mounts.userpass}/users/{user}") is None:
            raise NotFound(f"unknown user {names.shown(user)}")
        raise NotFound(f"user {names.shown(user)} has no identity entity yet (never logged in)")
    return entity


def jit_entity_of(vault: Vault, user: str) -> dict | None:
    """The entity behind the ``jit:<user>`` alias on the token mount, if any."""
    from netvault.access import people as users

    return users.jit_entity(vault, user)


# --------------------------------------------------------------------------
# grants
# --------------------------------------------------------------------------
@json_result
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

    JSON_OPTIONAL = ("incident", "request")  # only on grants from an approved request

    def to_dict(self) -> dict:
        d = dict(vars(self))  # every field is a str or None: no deep copy (asdict) needed
        for k in ("incident", "request"):  # only on grants from an approved request
            if d[k] is None:
                del d[k]
        return d


def _state(kind: str, expires_at: str | None, now: datetime) -> str:
    if kind == "jit":
        end = parse_iso(expires_at)
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
    require_customer(vault, customer, mounts)
    entity = entity_of(vault, user, mounts)
    if entity.get("disabled"):
        raise UsageError(f"user {names.shown(user)} is disabled; a grant would have no effect")
    _check_grantee_roles(vault, user, entity["id"], duration)
    granted_by = caller_name(vault)

    key = record_key(customer, user)
    cas = kv.current_version(vault, mounts.kv, key)
    existing = kv.kv_data(vault, mounts.kv, key) if cas else None
    group_name = grant_group(customer, user)
    group = vault.read(f"identity/group/name/{group_name}")
    if existing and _state(existing.get("kind", "standing"), existing.get("expires_at"), now) == "active":
        kind = existing.get("kind", "standing")
        # A record whose group or token was never made is a grant that did not
        # complete (a crash between the two writes): a retry takes it over.
        half_done = (kind == "standing" and group is None) or (kind == "jit" and not existing.get("accessor"))
        started = parse_iso(existing.get("granted_at"))
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
        "granted_at": iso_utc(now),
        "expires_at": iso_utc(now + duration) if duration else None,
        "reason": reason or None,
        "accessor": None,
    }
    if incident or request:
        record.update({"incident": incident, "request": request})
    # Claim the pair first: check-and-set makes one of two racing grants lose.
    try:
        version = kv.kv_write(vault, mounts.kv, key, record, cas=cas) or cas + 1
    except Conflict:
        raise Conflict(
            f"{names.shown(user)} was granted {names.shown(customer)} by someone else a moment ago; "
            "see `netvault access list`"
        ) from None
    try:
        # in the ledger before the access exists: a grant that dies half-way
        # shows (record-without-group), it never hides
        _ledger_set(vault, mounts, customer, user, record)
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
            record["accessor"] = jit.issue(vault, mounts, user, customer, entity["id"], duration, now, granted_by)
            kv.kv_write(vault, mounts.kv, key, record, cas=version)
            _ledger_set(vault, mounts, customer, user, record)
    except BaseException:
        kv.delete_quietly(vault, kv.metadata_path(mounts.kv, key))
        try:
            _ledger_set(vault, mounts, customer, user, None)
        except NetvaultError:
            pass  # shows as record-without-group until a revoke or doctor --repair
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
    roles = roles_of(entity_id, role_members(vault))
    if "auditor" in roles:
        raise PermissionDenied(f"{names.shown(user)} is an auditor: auditors never reveal, so no grant")
    if "admin" in roles and duration is not None:
        raise PermissionDenied(
            f"{names.shown(user)} is an admin: no time-limited grants for admins (Vault refuses their "
            "just-in-time tokens); grant without --for")
    if not roles:
        raise UsageError(f"{names.shown(user)} has no netvault role; give them one before granting")


def revoke(vault: Vault, user: str, customer: str, *, mounts: Mounts = Mounts()) -> Grant:
    """Remove a grant of either kind. Enforcement goes first (group, token),
    the record last, so a failure half-way never leaves access without a record."""
    from netvault.access import people as users

    names.username(user)
    names.slug(customer, "customer")
    key = record_key(customer, user)
    record = kv.kv_data(vault, mounts.kv, key)
    group_name = grant_group(customer, user)
    group = vault.read(f"identity/group/name/{group_name}")
    if record is None and group is None:
        _withdraw_copy(vault, mounts, customer, user)  # an earlier revoke stopped half-way
        if (customer, user) in (_ledger_read(vault, mounts)[0] or {}):
            _ledger_set(vault, mounts, customer, user, None)
        # Say precisely what is unknown.
        require_customer(vault, customer, mounts)
        entity_of(vault, user, mounts)
        raise NotFound(f"{names.shown(user)} has no grant of {names.shown(customer)}")
    if group is not None:
        kv.delete_quietly(vault, f"identity/group/name/{group_name}")
    _withdraw_copy(vault, mounts, customer, user)
    kind = (record or {}).get("kind", "standing")
    if record and kind == "jit":
        jit.revoke_accessor(vault, record.get("accessor"))
        entity = users.entity_for(vault, mounts.userpass, user)
        if entity:
            jit.withdraw_delivery(vault, mounts, entity["id"], customer)
    if record is not None:
        kv.delete_quietly(vault, kv.metadata_path(mounts.kv, key))
    _ledger_set(vault, mounts, customer, user, None)  # last: a revoke that stops half-way still shows
    rec = record or {"user": user, "customer": customer, "kind": "standing"}
    return Grant(
        user=user, customer=customer, kind=kind, state="revoked",
        granted_by=rec.get("granted_by"), granted_at=rec.get("granted_at"),
        expires_at=rec.get("expires_at"), reason=rec.get("reason"), accessor=rec.get("accessor"),
    )


def _withdraw_copy(vault: Vault, mounts: Mounts, customer: str, user: str) -> None:
    """Take back the person's find copy of the customer (after the group is gone)."""
    from netvault.access import people as users
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


# --------------------------------------------------------------------------
# the grant ledger: one document, so listing costs two requests
# --------------------------------------------------------------------------
Pairs = dict  # {(customer, user): record}

_TEXT_FIELDS = ("kind", "granted_by", "granted_at", "expires_at", "reason", "accessor", "incident", "request")


def _clean(customer: str, user: str, rec: object) -> dict | None:
    """A record as read from the records or the ledger (a team lead may write
    both): names checked, only known fields, each a string or None."""
    try:
        names.slug(customer, "customer")
        names.username(user)
    except UsageError:
        return None
    if not isinstance(rec, dict):
        return None
    out: dict = {"user": user, "customer": customer}
    for k in _TEXT_FIELDS:
        v = rec.get(k)
        out[k] = v if isinstance(v, str) else None
    for k in ("granted_at", "expires_at"):
        try:
            parse_iso(out[k])
        except ValueError:
            out[k] = None
    if out["kind"] not in ("standing", "jit"):
        out["kind"] = "standing"
    for k in ("incident", "request"):
        if out[k] is None:
            del out[k]
    return out


def _ledger_read(vault: Vault, mounts: Mounts) -> tuple[Pairs | None, int]:
    """(pairs, cas) of the ledger; pairs None when there is none (never
    written, or deleted): then the records are what there is."""
    body, cas = kv.read_for_update(vault, mounts.kv, LEDGER_KEY)
    return (None if body is None else _pairs(body)), cas


def _unpack(blob: object) -> dict | None:
    """The ledger's packed document (``records.search.pack``: zlib + base64),
    None for anything malformed or inflating past ``LEDGER_MAX_BYTES`` (a
    team lead may write it: never trusted to parse)."""
    import base64
    import json
    import zlib

    if not isinstance(blob, str):
        return None
    try:
        inflate = zlib.decompressobj()
        raw = inflate.decompress(base64.b64decode(blob, validate=True), LEDGER_MAX_BYTES)
        if inflate.unconsumed_tail:
            return None
        doc = json.loads(raw)
    except (ValueError, zlib.error):
        return None
    return doc if isinstance(doc, dict) else None


def _pairs(body: dict) -> Pairs | None:
    """The entries of a ledger document, each checked (a team lead may write it)."""
    grants = (_unpack(body.get("z")) or {}).get("grants") if body.get("format") == LEDGER_FORMAT else None
    if not isinstance(grants, dict):
        return None
    out: Pairs = {}
    for c, per_user in grants.items():
        for u, rec in (per_user.items() if isinstance(per_user, dict) else ()):
            clean = _clean(c, u, rec)
            if clean is not None:
                out[(c, u)] = clean
    return out


def _records(vault: Vault, mounts: Mounts, customer: str | None = None, user: str | None = None) -> Pairs:
    """Every grant record, one read each (in parallel): the slow way, for
    building the ledger and for doctor's comparison."""
    from netvault.records.lookup import parallel

    customers = [customer] if customer else kv.kv_folders(vault, mounts.kv, kv.GRANTS)
    listed = parallel(vault, customers, lambda client, c: kv.kv_names(client, mounts.kv, f"{kv.GRANTS}/{c}"))
    keys = [(c, u) for c, users_ in zip(customers, listed) for u in users_ if user is None or u == user]
    out: Pairs = {}
    for key, data in zip(keys, parallel(vault, keys, lambda client, k: kv.kv_data(client, mounts.kv, record_key(*k)))):
        clean = _clean(key[0], key[1], data) if data else None
        if clean is not None:
            out[key] = clean
    return out


def _ledger_body(pairs: Pairs) -> dict:
    grants: dict[str, dict] = {}
    for (c, u), rec in sorted(pairs.items()):
        grants.setdefault(c, {})[u] = {k: v for k, v in rec.items() if k not in ("user", "customer")}
    from netvault.records.search import pack

    # packed into one string: OpenBao (2.4+) refuses a request body with
    # about 1000 JSON strings or more, keys included ("refused JSON input due
    # to high complexity"), which a plain document passes at ~60 grants
    return {"format": LEDGER_FORMAT, "z": pack({"grants": grants})}


def _ledger_edit(vault: Vault, mounts: Mounts, change: Callable[[Pairs], None]) -> None:
    """Read, change, write back with check-and-set; on a conflict (someone
    else wrote it meanwhile) read again and redo the change (kv.kv_edit).
    Where there is no ledger yet, it is built from the records first: the
    migration of an installation from before the ledger."""

    def edit(body: dict) -> dict:
        pairs = _pairs(body)
        if pairs is None:
            pairs = _records(vault, mounts)
        change(pairs)
        return _ledger_body(pairs)

    kv.kv_edit(vault, mounts.kv, LEDGER_KEY, edit, retries=LEDGER_TRIES,
               gave_up="the grant ledger kept changing under this write; run `netvault doctor --repair`")


def _ledger_set(vault: Vault, mounts: Mounts, customer: str, user: str, record: dict | None) -> None:
    """Put (``record``) or take out (None) one pair's ledger entry."""
    clean = _clean(customer, user, record) if record is not None else None

    def change(pairs: Pairs) -> None:
        if clean is None:
            pairs.pop((customer, user), None)
        else:
            pairs[(customer, user)] = clean

    _ledger_edit(vault, mounts, change)


def ledger_drop(vault: Vault, keys: Iterable[tuple[str, str]], *, mounts: Mounts = Mounts()) -> None:
    """Take these (customer, user) entries out in one write (offboarding)."""
    gone = set(keys)

    def change(pairs: Pairs) -> None:
        for k in gone:
            pairs.pop(k, None)

    if gone:
        _ledger_edit(vault, mounts, change)


def sync_ledger(vault: Vault, customer: str, user: str, *, mounts: Mounts = Mounts()) -> None:
    """Make one pair's ledger entry what its record says (doctor's repairs)."""
    _ledger_set(vault, mounts, customer, user, kv.kv_data(vault, mounts.kv, record_key(customer, user)))


def ledger_users(vault: Vault, customer: str, *, mounts: Mounts = Mounts()) -> set[str]:
    """Users the ledger lists for a customer (erase: none may be left)."""
    pairs, _cas = _ledger_read(vault, mounts)
    return {u for c, u in (pairs or {}) if c == customer}


def ledger_differences(vault: Vault, *, mounts: Mounts = Mounts()) -> list[str]:
    """Pairs where the ledger and the records disagree (["missing"]: no ledger)."""
    pairs, _cas = _ledger_read(vault, mounts)
    records = _records(vault, mounts)
    if pairs is None:
        return ["missing"] if records else []
    return [f"{c}/{u}" for c, u in sorted(set(pairs) | set(records)) if pairs.get((c, u)) != records.get((c, u))]


def rebuild_ledger(vault: Vault, *, mounts: Mounts = Mounts()) -> int:
    """Write the ledger afresh from the records (doctor --repair); returns the entries."""
    count = [0]

    def change(pairs: Pairs) -> None:
        pairs.clear()
        pairs.update(_records(vault, mounts))
        count[0] = len(pairs)

    _ledger_edit(vault, mounts, change)
    return count[0]


def list_grants(
    vault: Vault,
    *,
    now: datetime,
    customer: str | None = None,
    user: str | None = None,
    mounts: Mounts = Mounts(),
    from_records: bool = False,
) -> list[Grant]:
    """All grants: identity groups (what Vault enforces) merged with the
    ledger (why, until when). A mismatch between the two shows in ``state``.

    Two requests (the group list, the ledger) whatever the number of grants.
    Without a ledger (an installation from before it), or with
    ``from_records`` (doctor), the records are read one by one instead."""
    if customer is not None:
        names.slug(customer, "customer")
    if user is not None:
        names.username(user)
    groups = {g for g in _grant_groups(vault) if (customer is None or g[0] == customer) and (user is None or g[1] == user)}
    ledger = None if from_records else _ledger_read(vault, mounts)[0]
    if ledger is None:
        records = _records(vault, mounts, customer, user)
    else:
        records = {k: v for k, v in ledger.items()
                   if (customer is None or k[0] == customer) and (user is None or k[1] == user)}
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
        kind = rec["kind"]
        if kind == "standing":
            state = "active" if key in groups else "record-without-group"
        else:
            state = _state(kind, rec.get("expires_at"), now)
        out.append(Grant(
            user=u, customer=c, kind=kind, state=state, granted_by=rec.get("granted_by"),
            granted_at=rec.get("granted_at"), expires_at=rec.get("expires_at"),
            reason=rec.get("reason"), accessor=rec.get("accessor"),
            incident=rec.get("incident"), request=rec.get("request"),
        ))
    return out



# --------------------------------------------------------------------------
# roles
# --------------------------------------------------------------------------
def role_members(vault: Vault) -> dict[str, set[str]]:
    out = {}
    for role, (group, _policies) in ROLES.items():
        g = vault.read(f"identity/group/name/{group}")
        out[role] = set(((g or {}).get("data") or {}).get("member_entity_ids") or [])
    return out


def roles_of(entity_id: str | None, members: dict[str, set[str]]) -> list[str]:
    return [role for role, ids in members.items() if entity_id and entity_id in ids]
