"""Exposure: every credential a user revealed, and whether its value changed since.

The offboarding worklist: for each record USER revealed (Vault allowed the
transit decrypt), the last reveal and whether each revealed secret *value*
was replaced after it. A new KV version alone proves nothing (an unrelated
field edit, a ``customer rotate-key`` rewrap), so a value counts as changed
only with evidence, in this order:

1. **The trail** (any reader of the audit files, the auditor included). Vault
   HMACs strings with one key per audit device, so equal HMACs mean equal
   values. A reveal's entry holds the HMAC of the ciphertext it decrypted and
   of the plaintext it returned. A value counts as changed when, after the
   last reveal, an allowed KV write to the record stored in that field a
   ciphertext that an allowed transit ``encrypt`` with this record's context
   had just produced (not a ``rewrap``), from a plaintext whose HMAC differs
   from every revealed one. The field of a revealed value is the one a KV
   write in the files stored its ciphertext in (else: every secret field).
2. **The record's stamp and the KV history** (needs read access to the record:
   admin, team lead), for versions the files do not cover. ``records.py``
   stamps ``secrets_changed: {field: version}`` when it seals a new value.
   A team lead can write records, so the stamp is confirmed: that version
   exists and was written after the reveal, and the field's ciphertext there
   differs from the version before while keeping its key version (a
   ``rotate-key`` rewrap moves every ciphertext to a newer key version).
   Not provable this way: that the plaintext differs, and a hand-made
   ``rewrap`` without a key rotation; the trail (1) proves both.

Status: ``rotate`` (a revealed value may still be current), ``rotated`` (every
revealed value was replaced, with evidence), ``deleted`` (the record is gone),
``unknown`` (newer versions whose content cannot be checked: not in the files,
no stamp because the record predates them, or no read access), with the
reason in ``detail``.

A reveal counts for USER when the trail attributes it to them
(``events``/``attribution``: their login token, or a JIT token they obtained).
A reveal whose record cannot be named (``record-unresolved``, ``id-mismatch``)
becomes one row per customer with status ``rotate-all``: rotate everything of
that customer. A reveal made with a token bound to USER's ``jit:`` entity that
cannot be traced to a person is listed too, flagged (it may have been USER).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from netvault.audit.events import Event, Filters, Resolver, events
from netvault.audit.reader import Progress, entries, time_key
from netvault.vault.mounts import Mounts
from netvault.values.results import json_result, to_json
from netvault.vault.kv import CUSTOMERS, current_version_of, data_path, metadata_path, response_data

HMAC = "hmac-sha256:"


@json_result
@dataclass
class Exposed:
    customer: str
    record: str | None  # current name (None when it cannot be resolved)
    kind: str | None
    record_id: str | None
    reveals: int
    first_reveal: str
    last_reveal: str
    incidents: list[str] = field(default_factory=list)
    rotated_since: bool | None = None  # None: unknown
    rotated_at: str | None = None  # when the last revealed value was replaced (evidence)
    status: str = "unknown"  # rotate | rotated | deleted | unknown | rotate-all
    detail: str | None = None  # why (evidence or what is missing)
    flags: list[str] = field(default_factory=list)
    request_ids: list[str] = field(default_factory=list, repr=False)

    JSON_OMIT = ("request_ids",)

    def to_dict(self) -> dict:
        return to_json(self)


#: (customer, kind, name) -> KV metadata ``data`` (versions, …) or None
MetadataLookup = Callable[[str, str, str], dict | None]


class KVHistory:
    """KV metadata and old versions of records, as far as the token may read them."""

    DENIED = object()

    def __init__(self, vault, kv_mount: str) -> None:
        self.vault = vault
        self.kv = kv_mount.strip("/")

    def metadata(self, customer: str, kind: str, name: str) -> dict | None:
        from netvault.errors import NetvaultError

        try:
            resp = self.vault.read(metadata_path(self.kv, f"{CUSTOMERS}/{customer}/{kind}/{name}"))
        except NetvaultError:
            return None
        return (resp or {}).get("data")

    __call__ = metadata

    def data(self, customer: str, kind: str, name: str, version: int):
        """The record at ``version``; None when absent or deleted; DENIED when not readable."""
        from netvault.errors import NetvaultError, PermissionDenied

        try:
            resp = self.vault.read(data_path(self.kv, f"{CUSTOMERS}/{customer}/{kind}/{name}", version))
        except PermissionDenied:
            return self.DENIED
        except NetvaultError:
            return None
        body = response_data(resp)
        return body if isinstance(body, dict) else None


# -- what the trail says ------------------------------------------------------

def _hmac(value) -> str | None:
    return value if isinstance(value, str) and value.startswith(HMAC) else None


@dataclass
class Trail:
    """Evidence from the audit files for a set of records (see the module doc)."""

    #: reveal request id -> (ciphertext HMAC, plaintext HMAC)
    reveals: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    #: record context (base64 id) -> [(time, ciphertext HMAC, plaintext HMAC)] of allowed encrypts
    seals: dict[str, list[tuple[str, str, str | None]]] = field(default_factory=dict)
    #: record path -> [(time, version, {field: ciphertext HMAC})] of allowed KV writes
    writes: dict[str, list[tuple[str, int | None, dict[str, str]]]] = field(default_factory=dict)


def _allowed(entry) -> bool:
    return entry.paired and not entry.doc.get("error")


def read_trail(paths, request_ids: set[str], contexts: set[str], record_paths: set[str], *,
               transit_mount: str, kv_mount: str,
               progress: Progress | None = None) -> Trail:
    """Three cheap passes (each a byte pre-filter): the reveals' HMACs, encrypts, KV writes."""
    trail = Trail()
    transit = transit_mount.strip("/") + "/"
    kv = data_path(kv_mount.strip("/"), "")
    for entry in entries(paths, needle=b"/decrypt/customer-", progress=progress):
        req = entry.doc.get("request") or {}
        if str(req.get("id") or "") in request_ids and _allowed(entry):
            data = req.get("data") or {}
            resp = (entry.doc.get("response") or {}).get("data") or {}
            trail.reveals[str(req["id"])] = (_hmac(data.get("ciphertext")), _hmac(resp.get("plaintext")))
    for entry in entries(paths, needle=b"/encrypt/customer-"):
        req = entry.doc.get("request") or {}
        if not str(req.get("path") or "").startswith(transit + "encrypt/") or not _allowed(entry):
            continue
        data = req.get("data") or {}
        resp = (entry.doc.get("response") or {}).get("data") or {}
        items = list(zip(data.get("batch_input") or [], resp.get("batch_results") or [])) if "batch_input" in data \
            else [(data, resp)]
        for item, result in items:
            if not isinstance(item, dict) or not isinstance(result, dict):
                continue
            ctx = item.get("context")
            ct = _hmac(result.get("ciphertext"))
            if isinstance(ctx, str) and ctx in contexts and ct:
                trail.seals.setdefault(ctx, []).append((entry.time, ct, _hmac(item.get("plaintext"))))
    for entry in entries(paths, needle=b"/data/customers/"):
        req = entry.doc.get("request") or {}
        path = str(req.get("path") or "")
        if not path.startswith(kv) or path[len(kv):] not in record_paths or not _allowed(entry):
            continue
        if req.get("operation") not in ("create", "update"):
            continue
        body = (req.get("data") or {}).get("data") or {}
        secrets = body.get("secrets") if isinstance(body, dict) else None
        if not isinstance(secrets, dict):
            continue
        version = ((entry.doc.get("response") or {}).get("data") or {}).get("version")
        trail.writes.setdefault(path[len(kv):], []).append(
            (entry.time, version if isinstance(version, int) else None,
             {k: v for k, v in secrets.items() if _hmac(v)}))
    return trail


# -- the decision -------------------------------------------------------------

def _key_version(ct) -> str | None:
    parts = str(ct or "").split(":")
    return parts[1] if len(parts) >= 3 and parts[0] == "vault" else None


def _versions_after(meta: dict, after: str) -> list[tuple[int, str]]:
    out = []
    for number, v in (meta.get("versions") or {}).items():
        created = (v or {}).get("created_time")
        if created and time_key(created) > time_key(after) and not (v or {}).get("destroyed"):
            out.append((int(number), created))
    return sorted(out)


def _version_at(meta: dict, at: str) -> int | None:
    best = None
    for number, v in (meta.get("versions") or {}).items():
        created = (v or {}).get("created_time")
        if created and time_key(created) <= time_key(at):
            best = max(best or 0, int(number))
    return best


def _by_trail(x: Exposed, trail: Trail, path: str, newer: list[tuple[int, str]]):
    """(status, detail, when) from the audit files, or None when they do not cover the newer versions."""
    from netvault.records import lookup

    revealed = [trail.reveals.get(r) for r in x.request_ids]
    revealed = [r for r in revealed if r and r[0]]
    if not revealed or not x.record_id:
        return None
    writes = trail.writes.get(path, [])
    after = [w for w in writes if time_key(w[0]) > time_key(x.last_reveal)]
    seen_versions = {w[1] for w in after if w[1] is not None}
    if not after or not {n for n, _ in newer} <= seen_versions:
        return None  # some newer version was written outside these files
    seals = trail.seals.get(lookup.context_for(x.record_id), [])
    fresh = {ct: (t, pt) for t, ct, pt in seals if time_key(t) > time_key(x.last_reveal)}
    revealed_pts = {pt for _, pt in revealed if pt}
    # the field of each revealed value: the one a write stored its ciphertext in
    fields_of = {ct: {f for _, _, s in writes for f, h in s.items() if h == ct} for ct, _ in revealed}
    all_fields = set(after[0][2])
    todo = set().union(*(fields_of[ct] or all_fields for ct, _ in revealed))
    if not todo:
        return None
    changed: dict[str, tuple[str, int | None]] = {}
    for t, version, stored in after:
        for f, h in stored.items():
            seal = fresh.get(h)
            if seal and time_key(seal[0]) <= time_key(t) and (seal[1] is None or seal[1] not in revealed_pts):
                changed.setdefault(f, (t, version))
    missing = sorted(todo - set(changed))
    if missing:
        return ("rotate", f"no new value sealed for {', '.join(missing)} after the last reveal "
                f"(the later version(s) are edits or rewraps; audit trail)", None)
    when = max((changed[f][0] for f in todo), key=time_key)
    shown = ", ".join(f"{f} in v{changed[f][1]}" for f in sorted(todo))
    return ("rotated", f"new value sealed: {shown} (audit trail)", when)


def _by_stamp(x: Exposed, history: KVHistory, meta: dict, newer: list[tuple[int, str]], fields: set[str] | None):
    """(status, detail, when) from the record's stamp confirmed against the KV history."""
    current = current_version_of(meta)
    data = history.data(x.customer, x.kind, x.record, current)
    if data is KVHistory.DENIED:
        return ("unknown", "newer version(s) after the last reveal; whether the secret changed needs the "
                "audit entries of those writes or read access to the record (admin, team lead)", None)
    if not isinstance(data, dict):
        return ("unknown", "the current version cannot be read (deleted?)", None)
    if x.record_id and data.get("id") != x.record_id:
        return ("unknown", "the record under this name is a different one now (removed and added again)", None)
    stamps = data.get("secrets_changed")
    if not isinstance(stamps, dict):
        return ("unknown", "no change record (written before netvault recorded secret changes); "
                "rotate unless you know it changed", None)
    v_r = _version_at(meta, x.last_reveal)
    then = history.data(x.customer, x.kind, x.record, v_r) if v_r else None
    if not isinstance(then, dict):
        return ("unknown", "the version current at the last reveal cannot be read", None)
    todo = set(fields) if fields else set((then.get("secrets") or {}))
    if not todo:
        return ("unknown", "no secret field at the version current at the last reveal", None)
    created = dict(newer)
    changed: dict[str, tuple[int, str]] = {}
    problems = []
    for f in sorted(todo):
        v = stamps.get(f)
        if f not in (data.get("secrets") or {}):
            problems.append(f"{f} was removed, not changed")
            continue
        if not isinstance(v, int) or isinstance(v, bool) or v <= v_r:
            problems.append(f"{f} unchanged since v{v_r}")
            continue
        if v not in created:
            problems.append(f"{f}: the stamp names v{v}, which was not written after the reveal")
            continue
        at_v = history.data(x.customer, x.kind, x.record, v)
        before = history.data(x.customer, x.kind, x.record, v - 1)
        ct_v = ((at_v or {}).get("secrets") or {}).get(f) if isinstance(at_v, dict) else None
        ct_b = ((before or {}).get("secrets") or {}).get(f) if isinstance(before, dict) else None
        if ct_v is None or ct_b is None:
            problems.append(f"{f}: v{v} or v{v - 1} cannot be read")
        elif ct_v == ct_b:
            problems.append(f"{f}: the stamp names v{v}, but its ciphertext did not change there")
        elif _key_version(ct_v) != _key_version(ct_b):
            return ("unknown", f"{f}: v{v} moved to key version {_key_version(ct_v)}; a rotate-key rewrap looks "
                    "the same (check the audit entries of that write)", None)
        else:
            changed[f] = (v, created[v])
    if problems:
        return ("rotate", "; ".join(problems) + " (record stamp, KV history)", None)
    when = max((changed[f][1] for f in todo), key=time_key)
    shown = ", ".join(f"{f} in v{changed[f][0]}" for f in sorted(todo))
    return ("rotated", f"new value sealed: {shown} (record stamp, confirmed by the KV history)", when)


def summarize(evs: Iterable[Event], user: str, lookup: KVHistory | MetadataLookup | None = None,
              entity_ids: tuple[str, ...] = (), trail_reader: Callable[..., Trail] | None = None) -> list[Exposed]:
    """Group ``user``'s allowed reveals by record and decide, with evidence, whether each was rotated."""
    by_record: dict[tuple[str, str], Exposed] = {}
    for e in evs:
        if e.action != "reveal" or e.outcome != "allowed":
            continue
        mine = user in (e.engineer, e.entity_id) or (e.entity_id is not None and e.entity_id in entity_ids)
        # no person traced: it may have been the token's grantee or its minter
        maybe = e.engineer is None and (
            (e.token_entity_id is not None and (e.token_entity_id in entity_ids or e.token_entity_id == user))
            or (e.minted_by is not None and e.minted_by == user))
        if not (mine or maybe):
            continue
        unresolved = not e.record_id or "id-mismatch" in e.flags
        key = (e.customer or "", "*" if unresolved else e.record_id)
        x = by_record.get(key)
        if x is None:
            x = by_record[key] = Exposed(e.customer or "", None if unresolved else e.record, None if unresolved else e.kind,
                                         None if unresolved else e.record_id, 0, e.time, e.time)
            if unresolved:
                x.status = "rotate-all"
        for flag in e.flags:
            if flag not in x.flags:
                x.flags.append(flag)
        x.reveals += 1
        x.request_ids.append(e.request_id)
        if time_key(e.time) > time_key(x.last_reveal):
            x.last_reveal = e.time
        if time_key(e.time) < time_key(x.first_reveal):
            x.first_reveal = e.time
        if e.record and not x.record and not unresolved:
            x.record, x.kind = e.record, e.kind
        if e.incident and e.incident not in x.incidents:
            x.incidents.append(e.incident)
    out = sorted(by_record.values(), key=lambda x: (x.customer, x.record or "", x.record_id or ""))
    if lookup is None:
        return out
    history = lookup if isinstance(lookup, KVHistory) else None
    pending: list[tuple[Exposed, dict, list]] = []
    for x in out:
        if x.status == "rotate-all":
            x.detail = "a reveal whose record cannot be named: rotate every secret of this customer"
            continue
        if not x.record or not x.kind:
            x.detail = "record name unknown (its id is not in _ids)"
            continue
        meta = lookup(x.customer, x.kind, x.record)
        if meta is None:
            x.status, x.detail = "deleted", "no such record now (or its metadata is not readable)"
            continue
        newer = _versions_after(meta, x.last_reveal)
        if not newer:
            x.rotated_since, x.status, x.detail = False, "rotate", "no version written after the last reveal"
            continue
        pending.append((x, meta, newer))
    if not pending:
        return out
    trail = trail_reader(pending) if trail_reader else None
    for x, meta, newer in pending:
        path = f"customers/{x.customer}/{x.kind}/{x.record}"
        verdict = _by_trail(x, trail, path, newer) if trail is not None else None
        if verdict is None and history is not None:
            fields = None
            if trail is not None:  # the fields of the revealed values, when the files show them
                cts = {(trail.reveals.get(r) or (None,))[0] for r in x.request_ids} - {None}
                found = {f for _, _, s in trail.writes.get(path, []) for f, h in s.items() if h in cts}
                fields = found or None
            verdict = _by_stamp(x, history, meta, newer, fields)
        if verdict is None:
            verdict = ("unknown", "newer version(s) after the last reveal, not covered by these audit files", None)
        x.status, x.detail, x.rotated_at = verdict
        x.rotated_since = {"rotated": True, "rotate": False}.get(x.status)
    return out


def exposure(
    user: str,
    *,
    paths: Iterable[str],
    vault=None,
    mounts: Mounts | None = None,
    since: str | None = None,
    progress: Progress | None = None,
    break_glass: list[str] | None = None,
) -> list[Exposed]:
    """Every credential ``user`` revealed (from the audit files), with rotation status.

    ``vault`` (an auditor's, admin's or team lead's ``gateway.Vault``) resolves
    current record names and reads KV metadata (and, where allowed, old record
    versions); without it, records stay ids and rotation is unknown.
    ``since``: ``YYYY-MM-DDTHH:MM:SS`` (UTC).
    """
    from netvault.records import lookup as kvlookup
    from netvault.audit.events import user_entities

    m = mounts or Mounts()
    paths = [str(p) for p in paths]
    resolver = Resolver(vault, m.kv, m.userpass) if vault is not None else None
    ids = user_entities(vault, user, m.userpass) if vault is not None else ()
    # summarize picks USER's reveals (and the untraced ones that may be theirs)
    evs = events(paths, filters=Filters(actions=("reveal",), since=since), mounts=m,
                 resolver=resolver, progress=progress, break_glass=break_glass)
    history = KVHistory(vault, m.kv) if vault is not None else None

    def trail_reader(pending):
        return read_trail(
            paths, {r for x, _, _ in pending for r in x.request_ids},
            {kvlookup.context_for(x.record_id) for x, _, _ in pending if x.record_id},
            {f"customers/{x.customer}/{x.kind}/{x.record}" for x, _, _ in pending},
            transit_mount=m.transit, kv_mount=m.kv,
        )

    return summarize(evs, user, history, ids, trail_reader)

