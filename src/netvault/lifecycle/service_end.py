"""A customer's end of service, retention, crypto-shredding and erasure (issue 11).

No printing, no typer; time comes in as ``now=``. Layout (docs/DESIGN.md,
"End of service"):

- ``_lifecycle/<c>/end``   {customer, on, reason, grace_days, recorded_at}: create-only
  for team leads (cas=0); the date an end takes effect.
- policy ``nv-ended-<c>`` (policies.render_ended): written when the end takes
  effect; attached to team leads through group ``nv-lifecycle``: no new grant,
  no transit use of the key. Its existence is "the end is in force".
- transit key ``customer-<c>``: rotated once and ``min_decryption_version``
  raised to the new version, so every ciphertext made before the end is refused
  by the key itself, whatever policy allows the decrypt (root included).
- ``_lifecycle/<c>/shred``  {customer, at, reason}: the key was deleted (admin).
- ``_lifecycle/<c>/erase``  {customer, at, reason}: everything else was erased
  (admin). The only thing left of the customer: the receipt of its erasure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from netvault.values import names
from netvault.vault import policies
from netvault.vault.mounts import Mounts
from netvault.errors import Conflict, NotFound, PermissionDenied, UsageError
from netvault.records.lookup import parallel, profile_path, reach_path, readers_path, record_path, transit_key
from netvault.values.results import json_result, to_json
from netvault.vault.kv import kv_names
from netvault.vault.kv import (
    CUSTOMERS, DECISIONS, GRANTS, INBOX, LIFECYCLE, REACH, REQUESTS, current_version_of, delete_quietly, kv_create,
    kv_data, kv_destroy_versions, kv_list, kv_metadata, kv_read, kv_write, metadata_path,
)

DEFAULT_GRACE_DAYS = 30
MAX_GRACE_DAYS = 3650
DEFAULT_RETENTION_YEARS = 7
MAX_RETENTION_YEARS = 30
_YEARS = re.compile(r"([0-9]{1,3})y")


# -- values ------------------------------------------------------------------
def parse_retention(text) -> int:
    """``7y`` / ``10y`` -> years (1..30). ``0y``, ``abc``, ``31y``: UsageError."""
    m = _YEARS.fullmatch(str(text).strip())
    if not m:
        raise UsageError(f"invalid retention {names.shown(str(text)[:20])}; use years like 7y or 10y")
    years = int(m.group(1))
    if not 1 <= years <= MAX_RETENTION_YEARS:
        raise UsageError(f"retention {years}y is out of range (1y to {MAX_RETENTION_YEARS}y)")
    return years


def retention_field(text) -> str:
    """The profile field ``retention`` as stored (``10y``)."""
    return f"{parse_retention(text)}y"


def parse_date(text: str, what: str = "date") -> date:
    from netvault.values import validate

    return date.fromisoformat(validate.iso_date(str(text).strip(), what) or "x")


def parse_grace(text) -> int:
    """Grace period in days: ``30d``, ``6w`` or a number of days."""
    t = str(text).strip()
    m = re.fullmatch(r"([0-9]{1,5})([dw]?)", t)
    if not m:
        raise UsageError(f"invalid grace period {names.shown(t[:20])}; use days like 30d or weeks like 6w")
    days = int(m.group(1)) * (7 if m.group(2) == "w" else 1)
    if days > MAX_GRACE_DAYS:
        raise UsageError(f"grace period {t} is too long (at most {MAX_GRACE_DAYS}d)")
    return days


def add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def _today(now: datetime) -> date:
    return now.date()


# -- paths -------------------------------------------------------------------
def lifecycle_path(customer: str, what: str) -> str:
    return f"{LIFECYCLE}/{customer}/{what}"


@json_result
@dataclass
class Status:
    customer: str
    state: str  # active | ending | ended | past-retention
    end_on: str | None = None
    reason: str | None = None
    grace_days: int | None = None
    retention: str = f"{DEFAULT_RETENTION_YEARS}y"
    shred_due: str | None = None
    retention_until: str | None = None
    shredded: str | None = None
    in_force: bool | None = None  # nv-ended-<c> written (None: could not tell)

    def to_dict(self) -> dict:
        return to_json(self)


@json_result
@dataclass(frozen=True)
class Erased:
    """`customer erase --json`: the steps done."""
    customer: str
    steps: list[str]


@json_result
@dataclass
class PurgeResult:
    customer: str
    action: str  # shred | erase
    reason: str
    due: str
    done: bool = False
    steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return to_json(self)


class Lifecycle:
    """End of service, retention and erasure, through one ``gateway.Vault``."""

    def __init__(self, vault, mounts: Mounts | None = None) -> None:
        self.vault = vault
        self.mounts = mounts or Mounts()
        self.kv = self.mounts.kv
        self.transit = self.mounts.transit

    # -- small helpers ------------------------------------------------------
    def _destroy(self, path: str, vault=None) -> None:
        """Every version and the metadata of one KV key (absent: nothing)."""
        delete_quietly(vault or self.vault, metadata_path(self.kv, path))

    def _policy_exists(self, name: str, vault=None) -> bool | None:
        try:
            return (vault or self.vault).read(f"sys/policies/acl/{name}") is not None
        except PermissionDenied:
            return None

    def in_force(self, customer: str, vault=None) -> bool | None:
        return in_force(vault or self.vault, customer, self.mounts)

    def _require(self, paths: list[str], capability: str, message: str) -> None:
        """Refuse before changing anything when Vault would refuse a later step."""
        caps = self.vault.write("sys/capabilities-self", {"paths": paths}) or {}
        data = caps.get("data") or caps
        for path in paths:
            got = data.get(path) or []
            if "root" not in got and capability not in got:
                raise PermissionDenied(message)

    def customers(self) -> list[str]:
        """Customers in KV (team leads, admins); names that are not slugs skipped."""
        out = set()
        for k in kv_list(self.vault, self.kv, CUSTOMERS):
            try:
                out.add(names.slug(k.rstrip("/"), "customer"))
            except UsageError:
                continue
        return sorted(out)

    def _created(self, customer: str) -> date:
        meta = kv_metadata(self.vault, self.kv, profile_path(customer))
        if not meta or not meta.get("created_time"):
            raise NotFound(f"no customer {customer}")
        return date.fromisoformat(str(meta["created_time"])[:10])

    # -- state --------------------------------------------------------------
    def status(self, customer: str, *, now: datetime, vault=None, profile: dict | None = None) -> Status:
        vault = vault or self.vault
        if profile is None:
            profile = kv_data(vault, self.kv, profile_path(customer)) or {}
        retention = str(profile.get("retention") or f"{DEFAULT_RETENTION_YEARS}y")
        try:
            years = parse_retention(retention)
        except UsageError:
            years, retention = DEFAULT_RETENTION_YEARS, f"{DEFAULT_RETENTION_YEARS}y"
        end = kv_data(vault, self.kv, lifecycle_path(customer, "end"))
        if not end:
            return Status(customer, "active", retention=retention)
        on = parse_date(end.get("on", ""), "end date")
        grace = int(end.get("grace_days", DEFAULT_GRACE_DAYS))
        shred = kv_data(vault, self.kv, lifecycle_path(customer, "shred"))
        until = add_years(on, years)
        today = _today(now)
        state = "ending" if on > today else ("past-retention" if today >= until else "ended")
        return Status(customer, state, end_on=on.isoformat(), reason=end.get("reason"), grace_days=grace,
                      retention=retention, shred_due=(on + timedelta(days=grace)).isoformat(),
                      retention_until=until.isoformat(), shredded=(shred or {}).get("at"),
                      in_force=self.in_force(customer, vault))

    def statuses(self, *, now: datetime) -> list[Status]:
        customers = self.customers()
        return parallel(self.vault, customers, lambda client, c: self.status(c, now=now, vault=client), threads=8)

    # -- end of service ---------------------------------------------------------
    def end(self, customer: str, *, now: datetime, on: date | None = None, reason: str | None = None,
            grace_days: int = DEFAULT_GRACE_DAYS) -> Status:
        """Record the end (create-only) and put it in force when ``on`` is today or past."""
        names.slug(customer, "customer")
        on = on or _today(now)
        if not 0 <= grace_days <= MAX_GRACE_DAYS:
            raise UsageError(f"grace period {grace_days}d is out of range (0 to {MAX_GRACE_DAYS} days)")
        if reason is not None:
            from netvault.values import validate
            reason = validate.text(reason, "reason")
        created = self._created(customer)
        if on < created:
            raise UsageError(f"end date {on.isoformat()} is before customer {customer} was added ({created.isoformat()})")
        path = lifecycle_path(customer, "end")
        existing = kv_data(self.vault, self.kv, path)
        if existing:
            raise Conflict(f"customer {customer} already ended (end date {names.shown(str(existing.get('on')))}); "
                           "only an admin can undo an end")
        record = {"customer": customer, "on": on.isoformat(), "grace_days": int(grace_days),
                  "recorded_at": now.isoformat(timespec="seconds")}
        if reason:
            record["reason"] = reason
        try:
            kv_create(self.vault, self.kv, path, record)
        except Conflict:
            raise Conflict(f"customer {customer} already ended") from None
        except PermissionDenied:
            raise PermissionDenied("customer end needs a team lead or an admin") from None
        if on <= _today(now):
            self.enforce(customer, now=now)
        return self.status(customer, now=now)

    def enforce(self, customer: str, *, now: datetime) -> list[str]:
        """Put an end in force: key refuses old ciphertext, nv-ended-<c>, grants
        revoked. Each step idempotent; the policy write says "in force", grants
        are swept after it so none made meanwhile survives."""
        steps = []
        if not self.in_force(customer):
            if self._lock_key(customer):
                steps.append("key")
            self.vault.write(f"sys/policies/acl/{policies.ended_policy_name(customer)}",
                             {"policy": policies.render_ended(customer, mounts=self.mounts)})
            steps.append("policy")
        revoked = self.revoke_all(customer, now=now)
        if revoked:
            steps.append(f"revoked {revoked}")
        self._sweep_inbox(customer)
        return steps

    def _lock_key(self, customer: str) -> bool:
        """Rotate the key and refuse every older version for decryption."""
        key = f"{self.transit}/keys/{transit_key(customer)}"
        info = self.vault.read(key)
        if info is None:
            return False  # shredded already
        self.vault.write(f"{key}/rotate")
        latest = int(((self.vault.read(key) or {}).get("data") or {}).get("latest_version") or 0)
        self.vault.write(f"{key}/config", {"min_decryption_version": latest})
        return True

    def revoke_all(self, customer: str, *, now: datetime) -> int:
        """Every grant of the customer (groups, JIT tokens, records)."""
        from netvault.access import grants as access

        users = {u for c, u in access._grant_groups(self.vault) if c == customer}
        users |= {u.rstrip("/") for u in kv_list(self.vault, self.kv, f"{GRANTS}/{customer}")}
        users |= access.ledger_users(self.vault, customer, mounts=self.mounts)
        n = 0
        for user in sorted(users):
            try:
                access.revoke(self.vault, user, customer, mounts=self.mounts)
                n += 1
            except NotFound:
                pass
        return n

    def _sweep_inbox(self, customer: str) -> None:
        entities = [e.rstrip("/") for e in kv_list(self.vault, self.kv, INBOX)]
        if not entities:
            return

        def one(client, entity):
            if kv_metadata(client, self.kv, f"{INBOX}/{entity}/{customer}"):
                self._destroy(f"{INBOX}/{entity}/{customer}", client)

        parallel(self.vault, entities, one, threads=8)

    def _sweep_people(self, customer: str) -> int:
        """What other parts keep per person about the customer: the copies of
        its search document (``_reach``, listed in ``_readers/<c>``; a grant
        made outside netvault may have left one unlisted, so every person's
        copy is checked), access requests and their decisions."""
        from netvault.access.grants import LEDGER_KEY
        from netvault.records import reach
        from netvault.records import search

        removed = 0
        for entity in [e.rstrip("/") for e in kv_list(self.vault, self.kv, REACH)]:
            if customer in search.copies(kv_data(self.vault, self.kv, reach_path(entity)) or {}):
                reach.drop_copy(self.vault, self.kv, entity, customer)
                removed += 1
            self._destroy_old_versions(f"{REACH}/{entity}")  # older versions may hold the copy
        self._destroy(readers_path(customer))
        self._destroy_old_versions(LEDGER_KEY)  # older versions list the customer's grants
        for user in [u.rstrip("/") for u in kv_list(self.vault, self.kv, REQUESTS)]:
            if kv_metadata(self.vault, self.kv, f"{REQUESTS}/{user}/{customer}"):
                self._destroy(f"{REQUESTS}/{user}/{customer}")
                removed += 1
            for n in [v.rstrip("/") for v in kv_list(self.vault, self.kv, f"{DECISIONS}/{user}/{customer}")]:
                self._destroy(f"{DECISIONS}/{user}/{customer}/{n}")
        return removed

    def apply_due(self, *, now: datetime) -> list[str]:
        """Ends whose date has come: put in force (first run on/after the date
        by a team lead or admin). Returns the customers changed. Callers who
        may not see end records (engineers) change nothing."""
        changed = []
        try:
            customers = [c.rstrip("/") for c in kv_list(self.vault, self.kv, LIFECYCLE)]
        except PermissionDenied:
            return []
        today = _today(now)
        for c in customers:
            try:
                names.slug(c, "customer")
                end = kv_data(self.vault, self.kv, lifecycle_path(c, "end"))
                if not end or parse_date(end.get("on", "")) > today:
                    continue
                if kv_data(self.vault, self.kv, lifecycle_path(c, "erase")) and kv_metadata(self.vault, self.kv, profile_path(c)) is None:
                    continue
                if self.in_force(c) and not self._grants_left(c):
                    continue
                if self.enforce(c, now=now):
                    changed.append(c)
            except (UsageError, PermissionDenied):
                continue
        return changed

    def _grants_left(self, customer: str) -> bool:
        from netvault.access import grants as access

        if any(c == customer for c, _ in access._grant_groups(self.vault)):
            return True
        return bool(kv_list(self.vault, self.kv, f"{GRANTS}/{customer}"))

    # -- retention ----------------------------------------------------------------
    def due(self, *, now: datetime) -> list[PurgeResult]:
        """What ``retention purge`` would do now, and why."""
        out = []
        today = _today(now)
        for st in self.statuses(now=now):
            if st.state == "past-retention":
                out.append(PurgeResult(st.customer, "erase",
                                       f"ended {st.end_on}; retention {st.retention} ended {st.retention_until}",
                                       st.retention_until or ""))
            elif st.state == "ended" and not st.shredded and st.shred_due and date.fromisoformat(st.shred_due) <= today:
                out.append(PurgeResult(st.customer, "shred",
                                       f"ended {st.end_on}; grace of {st.grace_days}d for secrets ended {st.shred_due}",
                                       st.shred_due))
        return out

    def purge(self, *, now: datetime, dry_run: bool = False) -> list[PurgeResult]:
        self.apply_due(now=now) if not dry_run else None
        results = self.due(now=now)
        if dry_run:
            return results
        for r in results:
            if r.action == "shred":
                r.steps = self.shred(r.customer, now=now, reason=r.reason)
            else:
                r.steps = self.erase(r.customer, now=now, reason=r.reason)
            r.done = True
        return results

    def shred(self, customer: str, *, now: datetime, reason: str) -> list[str]:
        """Delete the customer's transit key (admin): every ciphertext of it,
        wherever copied, becomes undecryptable. Records stay."""
        names.slug(customer, "customer")
        self._require([f"{self.transit}/keys/{transit_key(customer)}"], "delete",
                      "deleting a customer's transit key (shred) is admin-only")
        steps = []
        if self._delete_key(customer):
            steps.append("transit key deleted")
        path = lifecycle_path(customer, "shred")
        meta = kv_metadata(self.vault, self.kv, path)
        if not meta or not kv_data(self.vault, self.kv, path):
            kv_write(self.vault, self.kv, path, {"customer": customer, "at": now.isoformat(timespec="seconds"),
                                                 "reason": reason}, cas=current_version_of(meta))
            steps.append("shred recorded")
        return steps

    def _delete_key(self, customer: str) -> bool:
        key = f"{self.transit}/keys/{transit_key(customer)}"
        if self.vault.read(key) is None:
            return False
        try:
            self.vault.write(f"{key}/config", {"deletion_allowed": True})
            self.vault.delete(key)
        except PermissionDenied:
            raise PermissionDenied("deleting a customer's transit key is admin-only") from None
        return True

    # -- erasure ------------------------------------------------------------------
    def exists(self, customer: str) -> bool:
        """Anything of the customer left (records, key, policy, end record)."""
        if kv_list(self.vault, self.kv, f"customers/{customer}"):
            return True
        if self.vault.read(f"{self.transit}/keys/{transit_key(customer)}") is not None:
            return True
        for name in (policies.customer_policy_name(customer), policies.ended_policy_name(customer)):
            if self._policy_exists(name):
                return True
        return any(kv_metadata(self.vault, self.kv, lifecycle_path(customer, w)) for w in ("end", "shred"))

    def erase(self, customer: str, *, now: datetime, reason: str = "erasure") -> list[str]:
        """Destroy everything of the customer (admin). Ordered so a rerun
        completes an interrupted erase: access first, then the find index
        (needs the device records), the records, the key, the policies,
        and last the receipt ``_lifecycle/<c>/erase``."""
        from netvault.records.store import Store

        names.slug(customer, "customer")
        self._require([metadata_path(self.kv, profile_path(customer)),
                       f"sys/policies/acl/{policies.customer_policy_name(customer)}",
                       f"{self.transit}/keys/{transit_key(customer)}"], "delete", "customer erase is admin-only")
        if not self.exists(customer):
            erased = kv_data(self.vault, self.kv, lifecycle_path(customer, "erase"))
            raise NotFound(f"no customer {customer}" + (f" (erased {names.shown(str(erased.get('at')))})" if erased else ""))
        store = Store(self.vault, self.mounts)
        steps = []
        n = self.revoke_all(customer, now=now)
        steps.append(f"grants revoked: {n}")
        self._sweep_inbox(customer)
        steps.append(f"find copies and requests removed: {self._sweep_people(customer)}")
        steps.append(f"global find index documents cleaned: {self._drop_global_index(store, customer)}")
        steps.append(f"KV keys destroyed: {self._destroy_tree(customer)}")
        if self._delete_key(customer):
            steps.append("transit key deleted")
        for name in (policies.customer_policy_name(customer), policies.ended_policy_name(customer)):
            self.vault.delete(f"sys/policies/acl/{name}")
        store.sync_customer_list_policies()  # also the group nv-lifecycle
        steps.append("policies removed")
        for what in ("end", "shred"):
            self._destroy(lifecycle_path(customer, what))
        path = lifecycle_path(customer, "erase")
        meta = kv_metadata(self.vault, self.kv, path)
        kv_write(self.vault, self.kv, path, {"customer": customer, "at": now.isoformat(timespec="seconds"),
                                             "reason": reason}, cas=current_version_of(meta))
        steps.append("erase recorded")
        return steps

    def _drop_global_index(self, store, customer: str) -> int:
        """The customer's entries in the global find index (``records.index``
        buckets; and the per-key lists written before them, from every
        readable device version), and every older version of what held them."""
        from netvault.records import index
        from netvault.records.lookup import global_index_path

        held = index.drop_customer(self.vault, self.kv, customer)
        parallel(self.vault, held, lambda client, path: self._destroy_old_versions(path, client), threads=8)
        legacy = {(what, k) for what in ("mac", "ip", "name")
                  for k in kv_names(self.vault, self.kv, f"_index/{what}")}
        jobs = set()
        for name in kv_list(self.vault, self.kv, f"customers/{customer}/devices") if legacy else []:
            name = name.rstrip("/")
            meta = kv_metadata(self.vault, self.kv, record_path(customer, "devices", name)) or {}
            jobs.add(("name", name, name))
            for v, info in (meta.get("versions") or {}).items():
                if info.get("deletion_time") or info.get("destroyed"):
                    continue
                got = kv_read(self.vault, self.kv, record_path(customer, "devices", name), int(v))
                if got:
                    for what, key in store._index_keys(name, got[0]):
                        jobs.add((what, key, name))
        jobs = {j for j in jobs if (j[0], j[1]) in legacy}
        entry = lambda j: {"customer": customer, "device": j[2]}  # noqa: E731

        def drop(client, j) -> None:
            path = global_index_path(j[0], j[1])
            store._index_edit(path, "entries", entry(j), False, client)
            self._destroy_old_versions(path, client)  # they list the customer too

        parallel(self.vault, sorted(jobs), drop)
        return len(held) + len(jobs)

    def _destroy_old_versions(self, path: str, vault=None) -> None:
        """Destroy every version but the current one of a key shared with other
        customers, so an erased customer's entries survive in no old version."""
        meta = kv_metadata(vault or self.vault, self.kv, path) or {}
        current = current_version_of(meta)
        old = sorted(int(v) for v, info in (meta.get("versions") or {}).items()
                     if int(v) != current and not info.get("destroyed"))
        if old:
            kv_destroy_versions(vault or self.vault, self.kv, path, old)

    def _destroy_tree(self, customer: str) -> int:
        """Every KV key under customers/<c>/, records first, profile last."""
        keys: list[str] = []
        todo = [f"customers/{customer}/"]
        while todo:
            d = todo.pop()
            for k in kv_list(self.vault, self.kv, d):
                (todo if k.endswith("/") else keys).append(d + k)
        last = {profile_path(customer)}
        ids = [k for k in keys if "/_ids/" in k]
        first = [k for k in keys if k not in last and k not in ids]
        parallel(self.vault, first, lambda client, k: self._destroy(k, client), threads=8)
        parallel(self.vault, ids, lambda client, k: self._destroy(k, client), threads=8)
        for k in keys:
            if k in last:
                self._destroy(k)
        return len(keys)


def in_force(vault, customer: str, mounts: Mounts) -> bool | None:
    """Is the end of ``customer`` in force (nv-ended-<c> holds the ended text)?
    None when the caller may not read the policy."""
    try:
        got = vault.read(f"sys/policies/acl/{policies.ended_policy_name(customer)}")
    except PermissionDenied:
        return None
    text = ((got or {}).get("data") or {}).get("policy")
    return text == policies.render_ended(customer, mounts=mounts)


def _lifecycle_group_body(vault, customers: list[str] | None) -> tuple[dict, bool]:
    if customers is None:
        customers, _bad = policies.customers_of_policies(vault.list("sys/policies/acl"))
    lead = vault.read(f"identity/group/name/{policies.ROLES['team-lead'][0]}")
    lead_id = ((lead or {}).get("data") or {}).get("id")
    body = {"name": policies.LIFECYCLE_GROUP, "type": "internal",
            "policies": sorted(policies.ended_policy_name(c) for c in customers),
            "member_group_ids": [lead_id] if lead_id else []}
    current = vault.read(f"identity/group/name/{policies.LIFECYCLE_GROUP}")
    if current is None:
        return body, False
    body.pop("type")
    d = current.get("data") or {}
    same = sorted(d.get("policies") or []) == body["policies"] and \
        sorted(d.get("member_group_ids") or []) == sorted(body["member_group_ids"])
    return body, same


def lifecycle_group_in_sync(vault, customers: list[str] | None = None) -> bool:
    return _lifecycle_group_body(vault, customers)[1]


def sync_lifecycle_group(vault, customers: list[str] | None = None) -> None:
    """Group nv-lifecycle: policies nv-ended-<c> of every customer (from the
    nv-customer-* policies, admin-written), member group nv-role-team-lead,
    so a team lead's token carries nv-ended-<c> once ``customer end`` writes
    it. Admin only; called by ``customer add``, ``customer erase`` and setup."""
    body, same = _lifecycle_group_body(vault, customers)
    if not same:
        vault.write("identity/group", body)
