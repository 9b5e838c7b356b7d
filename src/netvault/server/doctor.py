"""``netvault doctor``: find (and with ``repair=True`` fix) what crashes and
races can leave behind. Read-only unless asked; every repair is an ordinary,
idempotent, audited Vault write made with the caller's own token, so Vault's
policies decide what a caller may repair and the trail shows who did.

What it checks:

* **find index**: every device's MACs and IPs have their entries in the
  global index buckets, and no entry names a device that does not hold it
  (repair: ``Store._settle_index``, the same step every device write ends with;
  it also fills the buckets for devices written before they existed);
* **find search documents**: each customer's equals what its records call
  for (repair: rebuilt from the records and copied to the people enrolled);
* **grants**: a grant record without its group or token (an interrupted grant
  or revoke: the record is removed), a group without a record (access Vault
  enforces but nobody can explain: a record is reconstructed and marked so),
  a time-limited record whose token was never minted or is gone;
* **people**: a login with no role or no identity (an interrupted add:
  reported with what to do; the intended role cannot be guessed);
* **setup**: drift from the netvault layout (admins; as `setup --check`);
* **customers**: a transit key or policy without a profile (an interrupted
  ``customer add``: reported; running the same add again completes it), and
  names in storage that are not valid slugs (reported, never used).

Domain code: no printing; time comes in as ``now``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from netvault.values import names
from netvault.vault.mounts import Mounts
from netvault.errors import NetvaultError, NotFound, PermissionDenied, UsageError
from netvault.records.lookup import parallel, profile_path, record_path
from netvault.values.results import json_result, to_json
from netvault.vault.kv import (
    CUSTOMERS, GRANTS, INBOX, current_version, delete_quietly, kv_erase, kv_list, kv_names, kv_read, kv_write,
    metadata_path,
)


@json_result
@dataclass
class Finding:
    area: str  # index | grant | person | customer
    problem: str
    subject: str
    detail: str
    repair: str  # what --repair does, or what a person must do
    repairable: bool
    repaired: bool = False
    error: str | None = None

    def to_dict(self) -> dict:
        return to_json(self)


@json_result
@dataclass
class Report:
    findings: list[Finding]
    checked: dict[str, int]
    skipped: list[str]  # checks the caller's token may not run

    def to_dict(self) -> dict:
        return to_json(self)


#: progress(done, total): customers examined so far
Progress = Callable[[int, int], None]


def _valid(name: str, what: str) -> bool:
    try:
        names.slug(name, what)
        return True
    except UsageError:
        return False


# --------------------------------------------------------------------------
# find index
# --------------------------------------------------------------------------
def _search_findings(vault, mounts: Mounts, customers: list[str]) -> list[Finding]:
    """find's search document of each customer against its records."""
    from netvault.records.store import Store

    store = Store(vault, mounts)

    def one(client, c):
        want, have = store.expected_search(c, client), store.stored_search(c, client)
        if have is None:
            return Finding("search", "missing-search-document", c, "no find search document (made before it existed?)",
                           "build it from the records", True)
        diff = sorted(f"{k[:-1]} {n}" for k in want for n in set(want[k]) | set(have.get(k, {}))
                      if want[k].get(n) != have.get(k, {}).get(n))
        if diff:
            return Finding("search", "search-document-differs", c,
                           f"{len(diff)} entr{'y' if len(diff) == 1 else 'ies'} differ: " + ", ".join(diff[:5]),
                           "rebuild it from the records", True)
        return None

    return [f for f in parallel(vault, customers, one) if f is not None]


def _repair_search(vault, mounts: Mounts, findings: list[Finding]) -> None:
    from netvault.records.store import Store

    store = Store(vault, mounts)
    for f in findings:
        try:
            store.rebuild_search(f.subject)
            f.repaired = True
        except NetvaultError as exc:
            f.error = exc.message


def _index_findings(vault, mounts: Mounts, customers: list[str], progress: Progress | None) -> tuple[list[Finding], dict]:
    """The global MAC/IP index (``records.index`` buckets) against the device records."""
    from netvault.records import index
    from netvault.records.store import Store

    store, kv = Store(vault, mounts), mounts.kv
    # what the records say: (what, key, customer, device)
    import threading

    want: set[tuple[str, str, str, str]] = set()
    devices: dict[str, list[str]] = {}
    lock, done = threading.Lock(), [0]

    def per_customer(client, c):
        found = []
        for n in kv_names(client, kv, f"{CUSTOMERS}/{c}/devices"):
            got = kv_read(client, kv, record_path(c, "devices", n))
            if got is not None:
                found.append((n, got[0]))
        if progress:
            with lock:
                done[0] += 1
                progress(done[0], len(customers))
        return found

    for c, found in zip(customers, parallel(vault, customers, per_customer)):
        devices[c] = [n for n, _ in found]
        for n, data in found:
            want |= {(what, key, c, n) for what, key in store._index_keys(n, data)}
    have = {(wb[0], key, c, d) for wb, entries in index.read_all(vault, kv).items()
            for key, pairs in entries.items() for c, d in pairs
            if index.bucket(key) == wb[1]}  # an entry filed in the wrong bucket is never read: missing

    findings = []
    known = set(customers)
    for what, key, c, d in sorted(want - have):
        findings.append(Finding("index", "missing-entry", f"{c}/{d}", f"global {what} {key}",
                                "add the entry (settle the device's index)", True))
    for what, key, c, d in sorted(have - want):
        gone = c not in known
        findings.append(Finding(
            "index", "stale-entry", f"{c}/{d}", f"global {what} {key}" + (" (no such customer)" if gone else ""),
            "drop the entry", True))
    return findings, {"customers": len(customers), "devices": sum(len(v) for v in devices.values()),
                      "index_entries": len(have)}


def _repair_index(vault, mounts: Mounts, findings: list[Finding]) -> None:
    from netvault.records import index
    from netvault.records.store import Store

    store = Store(vault, mounts)
    by_device: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        c, _, d = f.subject.partition("/")
        by_device.setdefault((c, d), []).append(f)
    for (c, d), items in sorted(by_device.items()):
        touched = set()
        for f in items:
            scope, what, key = f.detail.split(" ")[:3]
            if f.problem == "stale-entry":
                touched.add((what, key))
        try:
            if _valid(c, "customer") and _valid(d, "device name"):
                store._settle_index(c, d, touched)
            else:  # a name no record can have: drop the entries naming it
                index.edit(vault, mounts.kv, removes=[(what, key, c, d) for what, key in sorted(touched)])
            for f in items:
                f.repaired = True
        except NetvaultError as exc:
            for f in items:
                f.error = exc.message


# --------------------------------------------------------------------------
# grants, people, customers
# --------------------------------------------------------------------------
def _grant_findings(vault, mounts: Mounts, now: datetime) -> list[Finding]:
    from netvault.access import grants as access

    out = []
    for g in access.list_grants(vault, now=now, mounts=mounts, from_records=True):
        subject = f"{g.customer}/{g.user}"
        if g.state == "record-without-group":
            out.append(Finding("grant", "record-without-group", subject,
                               "a standing grant record whose identity group is missing (interrupted grant or revoke)",
                               "remove the record: Vault enforces no such access", True))
        elif g.state == "group-without-record":
            out.append(Finding("grant", "group-without-record", subject,
                               "an identity group grants access that no grant record explains",
                               "write a grant record marked as reconstructed (revoke it if it is not wanted)", True))
        elif g.kind == "jit" and g.state == "active" and not g.accessor:
            out.append(Finding("grant", "jit-without-token", subject,
                               "a time-limited grant record with no token (interrupted grant)",
                               "remove the record and any undelivered inbox entry", True))
        elif g.kind == "jit" and g.state == "active" and g.accessor and not _accessor_alive(vault, g.accessor):
            out.append(Finding("grant", "jit-token-gone", subject,
                               "a time-limited grant record whose token was revoked (interrupted revoke)",
                               "remove the record", True))
    differ = access.ledger_differences(vault, mounts=mounts)
    if differ:
        out.append(Finding("grant", "ledger-out-of-date", "ledger",
                           "the grant ledger (what `access list` reads) differs from the grant records: "
                           + ("there is none yet" if differ == ["missing"] else ", ".join(differ[:5])
                              + (f" and {len(differ) - 5} more" if len(differ) > 5 else "")),
                           "write the ledger afresh from the grant records", True))
    return out


def _accessor_alive(vault, accessor: str) -> bool:
    try:
        vault.write("auth/token/lookup-accessor", {"accessor": accessor})
        return True
    except (NotFound, UsageError):
        return False


def _repair_grant(vault, mounts: Mounts, f: Finding, now: datetime) -> None:
    from netvault.access import grants as access

    if f.problem == "ledger-out-of-date":
        access.rebuild_ledger(vault, mounts=mounts)
        return
    customer, _, user = f.subject.partition("/")
    kv = mounts.kv
    grant = f"{GRANTS}/{customer}/{user}"
    if f.problem in ("record-without-group", "jit-without-token", "jit-token-gone"):
        kv_erase(vault, kv, grant)
        if f.problem == "jit-without-token":
            entity = access.entity_of(vault, user, mounts)
            delete_quietly(vault, metadata_path(kv, f"{INBOX}/{entity['id']}/{customer}"))
    elif f.problem == "group-without-record":
        kv_write(vault, kv, grant, {
            "user": user, "customer": customer, "kind": "standing", "granted_by": None,
            "granted_at": None, "expires_at": None, "accessor": None,
            "reason": f"reconstructed by netvault doctor on {now.date().isoformat()}: the group existed without a record",
        }, cas=current_version(vault, kv, grant))
    access.sync_ledger(vault, customer, user, mounts=mounts)  # the ledger follows the record


def _people_findings(vault, mounts: Mounts, now: datetime) -> list[Finding]:
    from netvault.access import team

    out = []
    for row in team.list_users(vault, now=now, mounts=mounts):
        if row.disabled:
            continue
        if not row.entity_id:
            out.append(Finding("person", "login-without-identity", row.user,
                               "a login that never got its identity (interrupted add)",
                               "run the same `netvault engineer add` again with the same password", False))
        elif not row.roles:
            out.append(Finding("person", "login-without-role", row.user,
                               "a login with no role (interrupted add, or every role taken away)",
                               "run the same `netvault engineer add` again, or `netvault engineer offboard` it", False))
    return out


def _customer_findings(vault, mounts: Mounts, listed: list[str]) -> list[Finding]:
    from netvault.vault.policies import CUSTOMER_POLICY_PREFIX

    out = []
    with_profile = set()
    for c in listed:
        if kv_read(vault, mounts.kv, profile_path(c)) is not None:
            with_profile.add(c)
    parts: dict[str, list[str]] = {}
    for name in vault.list(f"{mounts.transit}/keys"):
        if name.startswith("customer-"):
            parts.setdefault(name[len("customer-"):], []).append("transit key")
    for name in vault.list("sys/policies/acl"):
        if name.startswith(CUSTOMER_POLICY_PREFIX):
            parts.setdefault(name[len(CUSTOMER_POLICY_PREFIX):], []).append("policy")
    for c, have in sorted(parts.items()):
        if c in with_profile:
            continue
        if not _valid(c, "customer"):
            out.append(Finding("customer", "bad-name", names.shown(c), f"{' and '.join(have)} under a name that "
                               "is not a valid customer slug", "remove by hand after review", False))
            continue
        out.append(Finding("customer", "half-made", c, f"{' and '.join(have)} without a profile "
                           "(interrupted customer add)", f"run `netvault customer add {c}` again to complete it", False))
    return out


def _setup_findings(vault, mounts: Mounts) -> list[Finding]:
    """Drift from the netvault layout, as `setup --check` sees it (admins only)."""
    from netvault.server import setup as layout
    caps = vault.write("sys/capabilities-self", {"paths": ["sys/policies/acl/nv-admin"]}) or {}
    have = set(caps.get("capabilities") or (caps.get("data") or {}).get("capabilities") or [])
    if not have & {"read", "root"}:
        raise PermissionDenied("setup check needs an admin")
    client = vault.config.admin(vault.token, address=vault.address)
    return [Finding("setup", "drift", item.name, item.detail or "differs",
                    "run `netvault setup` as an admin" if not item.manual else "fix by hand (see `netvault setup --check`)",
                    False)
            for item in layout.run_setup(client, mounts, check=True).drift
            if not item.name.startswith("audit device")]


# --------------------------------------------------------------------------
def examine(vault, *, now: datetime, mounts: Mounts | None = None, repair: bool = False,
            progress: Progress | None = None) -> Report:
    """Check everything the caller may read; with ``repair`` fix what can be fixed."""
    m = mounts or Mounts()
    findings: list[Finding] = []
    skipped: list[str] = []
    checked: dict[str, int] = {}
    try:
        listed = [k.rstrip("/") for k in kv_list(vault, m.kv, CUSTOMERS)]
    except PermissionDenied:
        raise PermissionDenied("doctor needs a team lead's or an admin's token (it reads every customer)") from None
    customers = []
    for c in listed:
        if _valid(c, "customer"):
            customers.append(c)
        else:
            findings.append(Finding("customer", "bad-name", names.shown(c),
                                    "a KV tree under a name that is not a valid customer slug (planted?)",
                                    "review and remove by hand; netvault never uses it", False))

    index, counts = _index_findings(vault, m, customers, progress)
    findings += index
    checked.update(counts)
    findings += _search_findings(vault, m, customers)
    for label, fn in (("grants", lambda: _grant_findings(vault, m, now)),
                      ("people", lambda: _people_findings(vault, m, now)),
                      ("customers", lambda: _customer_findings(vault, m, customers)),
                      ("setup", lambda: _setup_findings(vault, m))):
        try:
            got = fn()
            findings += got
            checked[label] = 1
        except PermissionDenied:
            skipped.append(f"{label}: your token may not read what this check needs")

    if repair:
        _repair_index(vault, m, [f for f in findings if f.area == "index"])
        _repair_search(vault, m, [f for f in findings if f.area == "search"])
        for f in findings:
            if f.area == "grant" and f.repairable:
                try:
                    _repair_grant(vault, m, f, now)
                    f.repaired = True
                except NetvaultError as exc:
                    f.error = exc.message
    return Report(findings, checked, skipped)
