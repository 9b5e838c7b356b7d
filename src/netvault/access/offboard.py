"""Cutting a person off: disable, offboard (revoke everything, sweep the
tokens they minted, list what to rotate), and the stored worklists.

Vault enforces each step (a disabled entity's tokens stop at once); the
audit trail, read through the callables given in (``exposure``, ``minted``),
says what the person revealed and minted: this module never guesses it.

Domain code: no printing, no typer; time comes in as ``now``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable, Iterable

from netvault.access import grants, jit
from netvault.access import people as users
from netvault.errors import Conflict, NetvaultError, NotFound, PermissionDenied, UsageError
from netvault.vault.mounts import Mounts
from netvault.values import names
from netvault.values.durations import iso_utc
from netvault.vault import kv
from netvault.vault.client import Vault
from netvault.vault.policies import ROLES
from netvault.values.results import json_result

if TYPE_CHECKING:
    from netvault.access import results


def _set_disabled(vault: Vault, entity_id: str, disabled: bool = True) -> None:
    vault.write(f"identity/entity/id/{entity_id}", {"disabled": disabled})


def disable_user(vault: Vault, user: str, *, mounts: Mounts = Mounts()) -> "results.PersonDisabled":
    """Disable the login: Vault refuses the entity's tokens and its logins at once."""
    from netvault.access import results  # noqa: F811 (typed results; results imports this module)

    entity = grants.entity_of(vault, user, mounts)
    _set_disabled(vault, entity["id"])
    jit_entity = grants.jit_entity_of(vault, user)
    if jit_entity:
        _set_disabled(vault, jit_entity["id"])
    return results.PersonDisabled(user, entity["id"], (jit_entity or {}).get("id"), True)


@json_result
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
        if h in remaining and alive(accessor) and jit.revoke_accessor(vault, accessor):
            out["revoked"].append({"via": where, "accessor_hmac": h})
        remaining.discard(h)

    try:
        for g in grants.list_grants(vault, now=now, mounts=mounts):
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
        for entry in kv.kv_names(vault, mounts.kv, f"{kv.CUSTOMERS}/{customer}/{kind}"):
            data = kv.kv_data(vault, mounts.kv, f"{kv.CUSTOMERS}/{customer}/{kind}/{entry}") or {}
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
    entity = grants.entity_of(vault, user, mounts)
    entity_id = entity["id"]
    _set_disabled(vault, entity_id)
    jit_entity = grants.jit_entity_of(vault, user)
    if jit_entity:
        _set_disabled(vault, jit_entity["id"])
    result = OffboardResult(user=user, entity_id=entity_id, jit_entity_id=(jit_entity or {}).get("id"))

    held = grants.list_grants(vault, now=now, user=user, mounts=mounts)
    customers = set()
    for g in held:
        customers.add(g.customer)
        kv.delete_quietly(vault, f"identity/group/name/{grants.grant_group(g.customer, user)}")
        if g.kind == "jit" and jit.revoke_accessor(vault, g.accessor):
            result.tokens_revoked += 1
        kv.delete_quietly(vault, kv.metadata_path(mounts.kv, grants.record_key(g.customer, user)))
        result.revoked.append({"customer": g.customer, "kind": g.kind, "state": g.state, "expires_at": g.expires_at})
    grants.ledger_drop(vault, [(g.customer, user) for g in held], mounts=mounts)
    jit.withdraw_delivery(vault, mounts, entity_id)
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

    members = grants.role_members(vault)
    for role in grants.roles_of(entity_id, members):
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
OFFBOARDED = kv.OFFBOARDED


def save_worklist(vault: Vault, result: OffboardResult, *, now: datetime, mounts: Mounts = Mounts(),
                  audit_source: str | None = None) -> str:
    """Store this run's worklist create-only; returns the run key (UTC time)."""
    names.username(result.user)
    run = now.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    body = {
        "user": result.user, "offboarded_at": iso_utc(now), "entity_id": result.entity_id,
        "audit_checked": result.audit_checked, "audit_source": audit_source,
        "revoked": result.revoked, "unresolved_customers": result.unresolved_customers,
        "worklist": result.worklist,
    }
    try:
        kv.kv_create(vault, mounts.kv, f"{OFFBOARDED}/{result.user}/{run}", body)
    except (UsageError, Conflict):  # cas mismatch: a run in the same second is stored already
        raise Conflict(f"an offboarding worklist of {result.user} for {run} is stored already") from None
    return run


def offboarded_worklists(vault: Vault, user: str, *, mounts: Mounts = Mounts()) -> list[dict]:
    """Every stored offboarding run of ``user``, oldest first (empty when none)."""
    names.username(user)
    try:
        runs = kv.kv_names(vault, mounts.kv, f"{OFFBOARDED}/{user}")
    except NotFound:
        return []
    out = []
    for run in runs:
        got = kv.kv_read(vault, mounts.kv, f"{OFFBOARDED}/{user}/{run}")
        if not got:
            continue
        body, meta = dict(got[0]), got[1]
        body["run"] = run
        body["version"] = meta.get("version")  # > 1 would mean it was rewritten (admins only)
        out.append(body)
    return out
