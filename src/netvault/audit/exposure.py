"""Exposure: every credential a user revealed, and whether it was rotated since.

The offboarding worklist: for each record USER revealed (Vault allowed the
transit decrypt), the last reveal time and whether the record has a KV
version newer than that reveal (rotated since).

A reveal counts for USER when the trail attributes it to them
(``events``/``attribution``: their login token, or a JIT token they obtained).
A reveal whose record cannot be named (``record-unresolved``, ``id-mismatch``)
becomes one row per customer with status ``rotate-all``: rotate everything of
that customer. A reveal made with a token bound to USER's ``jit:`` entity that
cannot be traced to a person is listed too, flagged (it may have been USER).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable

from netvault.audit.events import Event, Filters, Resolver, events
from netvault.audit.reader import Progress, time_key
from netvault.config import Mounts


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
    rotated_since: bool | None = None  # None: unknown (record gone, or no access to metadata)
    rotated_at: str | None = None  # first version written after the last reveal
    status: str = "unknown"  # rotate | rotated | deleted | unknown | rotate-all
    flags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


#: (customer, kind, name) -> KV metadata ``data`` (versions, …) or None
MetadataLookup = Callable[[str, str, str], dict | None]


def kv_metadata_lookup(vault, kv_mount: str = "netvault") -> MetadataLookup:
    from netvault.errors import NetvaultError

    kv = kv_mount.strip("/")

    def lookup(customer: str, kind: str, name: str) -> dict | None:
        try:
            resp = vault.read(f"{kv}/metadata/customers/{customer}/{kind}/{name}")
        except NetvaultError:
            return None
        return (resp or {}).get("data")

    return lookup


def summarize(evs: Iterable[Event], user: str, lookup: MetadataLookup | None = None,
              entity_ids: tuple[str, ...] = ()) -> list[Exposed]:
    """Group ``user``'s allowed reveals by record; check rotation with ``lookup``."""
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
        if time_key(e.time) > time_key(x.last_reveal):
            x.last_reveal = e.time
        if time_key(e.time) < time_key(x.first_reveal):
            x.first_reveal = e.time
        if e.record and not x.record and not unresolved:
            x.record, x.kind = e.record, e.kind
        if e.incident and e.incident not in x.incidents:
            x.incidents.append(e.incident)
    out = sorted(by_record.values(), key=lambda x: (x.customer, x.record or "", x.record_id or ""))
    for x in out:
        if x.status == "rotate-all" or lookup is None or not x.record or not x.kind:
            continue
        meta = lookup(x.customer, x.kind, x.record)
        if meta is None:
            x.status = "deleted"  # or not readable: either way, nothing to rotate by name
            continue
        newer = []
        for v in (meta.get("versions") or {}).values():
            created = (v or {}).get("created_time")
            if created and time_key(created) > time_key(x.last_reveal) and not (v or {}).get("destroyed"):
                newer.append(created)
        x.rotated_since = bool(newer)
        x.rotated_at = min(newer, key=time_key) if newer else None
        x.status = "rotated" if newer else "rotate"
    return out


def exposure(
    user: str,
    *,
    paths: Iterable[str],
    vault=None,
    mounts: Mounts | None = None,
    since: str | None = None,
    progress: Progress | None = None,
) -> list[Exposed]:
    """Every credential ``user`` revealed (from the audit files), with rotation status.

    ``vault`` (an auditor's or admin's ``gateway.Vault``) resolves current
    record names and reads KV metadata; without it, records stay ids and
    rotation is unknown. ``since``: ``YYYY-MM-DDTHH:MM:SS`` (UTC).
    """
    from netvault.audit.events import user_entities

    m = mounts or Mounts()
    resolver = Resolver(vault, m.kv, m.userpass) if vault is not None else None
    ids = user_entities(vault, user, m.userpass) if vault is not None else ()
    # summarize picks USER's reveals (and the untraced ones that may be theirs)
    evs = events(paths, filters=Filters(actions=("reveal",), since=since), mounts=m,
                 resolver=resolver, progress=progress)
    lookup = kv_metadata_lookup(vault, m.kv) if vault is not None else None
    return summarize(evs, user, lookup, ids)
