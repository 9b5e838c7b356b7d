"""Who made each version of a record (issue 11 "Correction", issue 15).

The author of KV version N of a key is the person behind the audited,
successful write of that key that created version N, attributed only from
what Vault binds (``audit.attribution``: a login token's entity and userpass
name, or the create/unwrap chain of a token-store token), never from KV
fields a caller wrote (``granted_by``, record bodies...). The write is
matched by path and by the version in its response entry (an integer, not
HMAC'd, checked on OpenBao 2.7; with its ``created_time``, also plain, when
the key's metadata was deleted and versions began again); when that is not
there, by time: the version's ``created_time``
must lie between the write's request and response entries, and exactly one
write may match. Anything else is ``unknown`` with a flag saying why:

- ``no-trail``: no audit file was given or found;
- ``not-in-trail``: the given files hold no such write (older than the files,
  or written where the files do not reach);
- ``ambiguous``: more than one write matches the version's time;
- the attribution flags (``untraced`` ...) of the write's token.
"""

from __future__ import annotations

from netvault.audit.reader import time_key
from netvault.errors import NetvaultError
from netvault.vault.kv import data_path
from netvault.vault.mounts import Mounts

AUTHOR_FLAGS = {
    "no-trail": "no audit file given or found: authors cannot be traced",
    "not-in-trail": "the write of this version is not in the given audit files",
    "ambiguous": "more than one audited write matches this version",
}
_WRITE_OPS = ("create", "update")


def _needle(kv: str, paths) -> bytes:
    full = [f'"path":"{data_path(kv, p)}' for p in paths]
    prefix = full[0]
    for f in full[1:]:
        while not f.startswith(prefix):
            prefix = prefix[:-1]
    return prefix.encode()


def unknown(rows, flag: str) -> None:
    for row in rows:
        row["author"] = "unknown"
        row["author_entity_id"] = None
        row["author_flags"] = [flag]


def annotate(paths, kv: str, histories: dict, *, resolver=None, mounts=None) -> None:
    """Set ``author``, ``author_entity_id``, ``author_flags`` (and
    ``written_at`` when traced) on each version row of ``histories``
    ({KV path: {"versions": [...]}}) from the audit files ``paths``."""
    from netvault.audit.attribution import Trace
    from netvault.audit.reader import entries

    kv = kv.strip("/")
    paths = [str(p) for p in paths or ()]
    if not histories:
        return
    if not paths:
        for h in histories.values():
            unknown(h.get("versions") or [], "no-trail")
        return
    trace = Trace(paths, kv_mount=kv, userpass_mount=(mounts or Mounts()).userpass)
    writes: dict[str, list[tuple]] = {p: [] for p in histories}
    prefix = data_path(kv, "")
    for entry in entries(paths, needle=_needle(kv, histories)):
        doc = entry.doc
        req = doc.get("request") or {}
        path = req.get("path") or ""
        if not entry.paired or doc.get("error") or req.get("operation") not in _WRITE_OPS:
            continue
        if not path.startswith(prefix) or path[len(prefix):] not in writes:
            continue
        rdata = (doc.get("response") or {}).get("data") or {}
        version = rdata.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            version = None
        created = rdata.get("created_time") if isinstance(rdata.get("created_time"), str) else None
        writes[path[len(prefix):]].append((entry.time, str(doc.get("time") or entry.time), version,
                                           doc.get("auth") or {}, created))
    for path, hist in histories.items():
        found = writes.get(path) or []
        for row in hist.get("versions") or []:
            hits = [w for w in found if w[2] == row["version"]]
            if len(hits) > 1 and row.get("created_time"):
                # the key's metadata was deleted and versions began again at 1
                hits = [w for w in hits if w[4] == row["created_time"]]
            if not hits and row.get("created_time"):
                created = time_key(row["created_time"])
                hits = [w for w in found if w[2] is None and time_key(w[0]) <= created <= time_key(w[1])]
            if not hits:
                unknown([row], "not-in-trail")
                continue
            if len(hits) > 1:
                unknown([row], "ambiguous")
                continue
            req_time, _resp_time, _v, auth, _created = hits[0]
            who = trace.who(auth)
            name = who.name
            if resolver is not None and who.entity_id:
                try:
                    name = resolver.person(who.entity_id) or name
                except NetvaultError:  # may not read identities: the name Vault bound stays
                    pass
            row["author"] = name or "unknown"
            row["author_entity_id"] = who.entity_id
            row["author_flags"] = list(who.flags)
            row["written_at"] = req_time


def record_history(store, kind: str | None, customer: str, name: str | None, *, audit_files, resolver=None) -> dict:
    """``Store.record_history`` with the author of each version (see above)."""
    from netvault.records import lookup
    from netvault.records.store import kind_dir

    result = store.record_history(kind, customer, name)
    if name is None:
        path = lookup.profile_path(customer)
    else:
        path = lookup.record_path(customer, kind_dir(result["kind"]), name)
    annotate(audit_files, store.kv, {path: result}, resolver=resolver, mounts=store.mounts)
    result["trail"] = [str(p) for p in audit_files or ()]
    return result
