"""The global MAC/IP index (team leads' and admins' exact ``find``, the
shared-MAC warning, ``doctor``, customer erase): bucket documents.

Layout (mount ``netvault``, docs/DESIGN.md "Find")::

    _index/buckets/<mac|ip>/<bb>   {"z": zlib+base64 JSON of {key: [[customer, device], ...]}}

``bb`` is the low byte of the CRC-32 of the key (``mac``: 12 hex digits,
``ip``: canonical text) as two hex digits: 256 documents a form, so a full
MAC or IP is still one read, and a bulk writer (an import) updates each
touched bucket once per batch (check-and-set, retried) instead of one list
per device. The content is one string (``search.pack``): Vault refuses
request bodies holding more than 1000 JSON strings. Only team leads and
admins reach ``_index/*`` (policies ``nv-team-lead``, ``nv-admin``);
auditors see its metadata, i.e. bucket numbers, not MACs.

Entries may be stale (a writer that died between its index and record
writes): readers check every hit against the device record.
Reading is stdlib only (``find`` imports it lazily on its hot path).
"""

from __future__ import annotations

import re
import zlib

WHATS = ("mac", "ip")
ROOT = "_index/buckets"
RETRIES = 20
#: an edit touching more buckets than this lists them first (``edit``)
LIST_FIRST = 8


def bucket(key: str) -> str:
    return f"{zlib.crc32(key.encode()) & 0xFF:02x}"


def bucket_path(what: str, b: str) -> str:
    return f"{ROOT}/{what}/{b}"


def path_of(what: str, key: str) -> str:
    """The bucket document holding ``key``'s entries."""
    return bucket_path(what, bucket(key))


#: customer and device names are slugs (``values.names``); anything else in a
#: bucket was planted (team leads write these) and never reaches a path
_SLUG = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def _slug(text) -> bool:
    return isinstance(text, str) and _SLUG.fullmatch(text) is not None and ".." not in text


def decode(data) -> dict[str, list[tuple[str, str]]]:
    """A bucket's entries from its KV data; malformed parts, and names that
    are not slugs, are dropped (team leads write these: never trusted)."""
    from netvault.records import search

    raw = search._raw(data.get("z") if isinstance(data, dict) else None)
    if raw is None:
        return {}
    import json

    try:
        doc = json.loads(raw)
    except ValueError:
        return {}
    out: dict[str, list[tuple[str, str]]] = {}
    if not isinstance(doc, dict):
        return out
    for key, pairs in doc.items():
        if not isinstance(key, str) or not isinstance(pairs, list):
            continue
        good = [(p[0], p[1]) for p in pairs if isinstance(p, list) and len(p) == 2 and _slug(p[0]) and _slug(p[1])]
        if good:
            out[key] = good
    return out


def encode(entries: dict[str, list[tuple[str, str]]]) -> dict:
    from netvault.records import search

    doc = {k: [list(p) for p in sorted(set(v))] for k, v in sorted(entries.items()) if v}
    return {"z": search.pack(doc)}


def holders(vault, kv: str, what: str, key: str) -> list[tuple[str, str]]:
    """(customer, device) pairs the index lists for one MAC or IP: one read."""
    from netvault.vault.kv import kv_read

    got = kv_read(vault, kv, path_of(what, key))
    return sorted(set(decode(got[0]).get(key, []))) if got else []


def read_all(vault, kv: str, threads: int = 8) -> dict[tuple[str, str], dict[str, list[tuple[str, str]]]]:
    """Every bucket: {(what, bucket): entries} (doctor, erase)."""
    from netvault.records.lookup import parallel
    from netvault.vault.kv import kv_names, kv_read

    paths = [(what, b) for what in WHATS for b in kv_names(vault, kv, f"{ROOT}/{what}")]

    def one(client, wb):
        got = kv_read(client, kv, bucket_path(*wb))
        return decode(got[0]) if got else {}

    return dict(zip(paths, parallel(vault, paths, one, threads=threads)))


# -- writers ---------------------------------------------------------------------
Entry = tuple[str, str, str, str]  # (what, key, customer, device)


def _group(adds, removes) -> dict[tuple[str, str], tuple[list[Entry], list[Entry]]]:
    groups: dict[tuple[str, str], tuple[list[Entry], list[Entry]]] = {}
    for i, entries in enumerate((adds, removes)):
        for e in entries or ():
            if e[0] not in WHATS:
                raise ValueError(f"index form {e[0]!r}")
            groups.setdefault((e[0], bucket(e[1])), ([], []))[i].append(e)
    return groups


def _edit_bucket(vault, kv: str, what: str, b: str, adds: list[Entry], removes: list[Entry],
                 absent: bool = False) -> bool:
    """One bucket: add, then remove, check-and-set, retried. True if written.
    ``absent``: the bucket was not listed a moment ago, so it is first tried
    as a create (``cas=0``, one request); if another writer made it
    meanwhile, that is a Conflict and the read-modify-write below follows."""
    from netvault.errors import Conflict
    from netvault.vault.kv import kv_create, kv_edit

    if absent:
        entries: dict[str, list[tuple[str, str]]] = {}
        for _, key, c, d in adds:
            entries.setdefault(key, []).append((c, d))
        for _, key, c, d in removes:
            entries[key] = [p for p in entries.get(key, []) if p != (c, d)]
        if not any(entries.values()):
            return False
        try:
            kv_create(vault, kv, bucket_path(what, b), encode(entries))
            return True
        except Conflict:
            pass

    def change(data):
        entries = decode(data)
        before = {k: set(v) for k, v in entries.items()}
        for _, key, c, d in adds:
            entries.setdefault(key, []).append((c, d))
        for _, key, c, d in removes:
            if key in entries:
                entries[key] = [p for p in entries[key] if p != (c, d)]
        after = {k: set(v) for k, v in entries.items() if v}
        if after == before and (data.get("z") or not after):
            return None
        return encode(entries)

    return kv_edit(vault, kv, bucket_path(what, b), change, retries=RETRIES,
                   gave_up=f"the find index bucket {what}/{b} kept changing; try again") is not None


def edit(vault, kv: str, adds=(), removes=(), threads: int = 4) -> int:
    """Add and remove index entries, one check-and-set write per touched
    bucket (in parallel over buckets). An entry both added and removed in the
    same call ends removed. Returns the number of buckets written."""
    from netvault.records.lookup import parallel
    from netvault.vault.kv import kv_names

    groups = _group(adds, removes)
    absent: set[tuple[str, str]] = set()
    if len(groups) > LIST_FIRST:  # a batch: one LIST a form saves a read of each bucket not there yet
        for what in sorted({wb[0] for wb in groups}):
            there = set(kv_names(vault, kv, f"{ROOT}/{what}"))
            absent |= {wb for wb in groups if wb[0] == what and wb[1] not in there}
    done = parallel(vault, sorted(groups),
                    lambda client, wb: _edit_bucket(client, kv, wb[0], wb[1], *groups[wb], absent=wb in absent),
                    threads=threads)
    return sum(1 for d in done if d)


def drop_customer(vault, kv: str, customer: str, threads: int = 8) -> list[str]:
    """Remove every entry of ``customer`` from every bucket (customer erase).
    Returns the paths of the buckets that held some (their older versions
    still do: the caller destroys those)."""
    from netvault.records.lookup import parallel

    every = read_all(vault, kv, threads)
    touched = [(wb, [(wb[0], key, c, d) for key, pairs in entries.items() for c, d in pairs if c == customer])
               for wb, entries in sorted(every.items())]
    touched = [(wb, gone) for wb, gone in touched if gone]
    parallel(vault, touched, lambda client, t: _edit_bucket(client, kv, t[0][0], t[0][1], [], t[1]), threads=threads)
    return [bucket_path(*wb) for wb, _ in touched]
