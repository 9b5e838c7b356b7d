"""Search forms and the search documents ``find`` reads (issue 15). Pure, lean.

Stdlib only (``zlib``, ``json``, ``base64``; ``ipaddress`` only for a subnet
term): ``find`` runs this on its hot path. Nothing here talks to Vault.

Two kinds of KV documents hold what ``find`` matches (docs/DESIGN.md, "Find"):

* ``customers/<c>/_index/search``: one per customer, every device and
  credential of that customer as a compact entry, stored as ``{"z": blob}``
  (zlib-compressed JSON, base64). Readable wherever the customer's records
  are (``nv-customer-<c>``), written by the record writers.
* ``_reach/<entity id>``: one per person, ``{"c": "<JSON of {c: {"z": blob,
  "n": version}}>"}`` (one string: Vault refuses request bodies holding more
  than 1000 JSON strings), a copy of the search document of every customer the
  person holds a *standing* grant for, kept at grant, revoke, offboarding and
  record-write time. Readable only by that entity (templated policy).

Entry shapes (short keys: the documents are read whole on every ``find``)::

    devices:     name -> {"k": kind, "m": [12hex], "i": [ip], "o": model,
                          "s": serial, "l": location, "t": [tag], "v": [vendor],
                          "n": record version}
    credentials: name -> {"t": [tag], "n": record version}
"""

from __future__ import annotations

import base64
import json
import re
import zlib

from netvault.errors import UsageError

MAX_TERM = 64
#: forms a term can take ("match" in find's JSON)
FORMS = ("mac", "ip", "subnet", "mac-prefix", "text")

_OUI = re.compile(r"([0-9a-fA-F]{2})([:-])([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})")
_MACLIKE = re.compile(r"[0-9a-zA-Z]{2}([:-])[0-9a-zA-Z]{2}(\1[0-9a-zA-Z]{2}){1,6}")
_CIDR = re.compile(r"[0-9a-fA-F:.]+/[0-9]{1,3}")

ACCEPTED = ("find takes a MAC (aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, aabb.ccdd.eeff, aabbccddeeff), "
            "a MAC vendor prefix (00:23:04), an IPv4 or IPv6 address (10.0.0.1, fe80::1), a subnet "
            "(10.10.0.0/24) or text matched case-insensitively in names, model, serial, location, tags "
            "and MAC vendor")


# -- documents ---------------------------------------------------------------
def pack(doc: dict) -> str:
    raw = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    return base64.b64encode(zlib.compress(raw, 6)).decode()


def _raw(blob) -> bytes | None:
    if not isinstance(blob, str) or not blob:
        return None
    try:
        return zlib.decompress(base64.b64decode(blob))
    except (ValueError, zlib.error, TypeError):
        return None


def _may_match(raw: bytes, form: str, key: str) -> bool:
    """A cheap test on a document's JSON text before parsing it: False only
    when no entry can match. ``pack`` writes ASCII JSON (everything else as
    ``\\u`` escapes), so an ASCII key with no quote or backslash that
    matches a value appears verbatim in the (lower-cased) text; a document
    holding any escape is always parsed."""
    if form in ("mac", "ip", "mac-prefix"):
        return key.encode() in raw
    if form == "subnet" and ":" not in key:
        net, _, bits = key.partition("/")
        whole = int(bits) // 8
        if whole:  # "10.10.0.0/24": every address in it starts "10.10.0."
            return (".".join(net.split(".")[:whole]) + ".").encode() in raw
        return True
    if form == "text" and key.isascii() and '"' not in key and "\\" not in key and b"\\u" not in raw:
        return key.encode() in raw.lower()
    return True


def search_blob(customer: str, blob, form: str, key: str) -> list[dict]:
    """``search`` over a stored blob, skipping the JSON parse of a document
    that cannot match (most of them, for a person with many grants)."""
    raw = _raw(blob)
    if raw is None or not _may_match(raw, form, key):
        return []
    return search(customer, _doc(raw), form, key)


def _doc(raw: bytes) -> dict:
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        return {"devices": {}, "credentials": {}}
    out = {}
    for kind in ("devices", "credentials"):
        part = doc.get(kind)
        out[kind] = {k: v for k, v in part.items() if isinstance(k, str) and isinstance(v, dict)} \
            if isinstance(part, dict) else {}
    return out


def unpack(blob) -> dict:
    """A search document from its stored blob; an empty one for anything
    malformed (the documents are written by team leads: never trusted to parse)."""
    raw = _raw(blob)
    return _doc(raw) if raw is not None else {"devices": {}, "credentials": {}}


def device_entry(data: dict, version: int | None, vendors=None) -> dict:
    """The search entry of a device record (``vendors``: OUI registrants of its MACs)."""
    entry = {"k": data.get("kind"), "m": list(data.get("macs") or []), "i": list(data.get("ips") or []),
             "o": data.get("model"), "s": data.get("serial"), "l": data.get("location"),
             "t": list(data.get("tags") or []), "v": sorted(set(vendors or [])), "n": int(version or 0)}
    return {k: v for k, v in entry.items() if v not in (None, "", [])}


def credential_entry(data: dict, version: int | None) -> dict:
    entry = {"t": list(data.get("tags") or []), "n": int(version or 0)}
    return {k: v for k, v in entry.items() if v not in (None, "", [])}


def union_entry(old: dict | None, new: dict) -> dict:
    """An entry matching both versions of a device (written ahead of its
    record): lists merged, the new text fields kept in ``x``."""
    if not old:
        return new
    out = dict(old)
    for key in ("m", "i", "t", "v"):
        merged = list(dict.fromkeys(list(old.get(key) or []) + list(new.get(key) or [])))
        if merged:
            out[key] = merged
    extra = [new.get(k) for k in ("k", "o", "s", "l") if isinstance(new.get(k), str) and new.get(k) != old.get(k)]
    if extra:
        out["x"] = extra
    return out


def apply_changes(doc: dict, changes: dict, only_newer: bool = False) -> bool:
    """Apply ``{(kind, name): entry | None}`` to a search document in place;
    True if it changed. ``only_newer``: replace an entry only by one of a
    higher record version (a bulk writer that does not re-read afterwards)."""
    changed = False
    for (kind, name), entry in changes.items():
        part = doc.setdefault(kind, {})
        old = part.get(name)
        if only_newer and old is not None and entry is not None and int(old.get("n") or 0) >= int(entry.get("n") or 0):
            continue
        if entry is None:
            if name in part:
                del part[name]
                changed = True
        elif old != entry:
            part[name] = entry
            changed = True
    return changed


def copies(data) -> dict[str, dict]:
    """The per-customer copies held in a ``_reach`` document's data."""
    try:
        raw = data.get("c") if isinstance(data, dict) else None
        got = json.loads(raw) if isinstance(raw, str) else {}
    except ValueError:
        return {}
    if not isinstance(got, dict):
        return {}
    return {c: v for c, v in got.items() if isinstance(c, str) and isinstance(v, dict) and isinstance(v.get("z"), str)}


def reach_data(held: dict[str, dict]) -> dict:
    return {"c": json.dumps(held, separators=(",", ":"), sort_keys=True)}


# -- terms -------------------------------------------------------------------
def parse_term(term) -> tuple[str, str]:
    """(form, key) of a find term; UsageError for what is no search at all.

    Forms: ``mac`` (12 hex), ``ip`` (canonical), ``subnet`` (canonical
    network, e.g. ``10.10.0.0/24``), ``mac-prefix`` (6 hex: the OUI),
    ``text`` (lower-cased, matched as a substring)."""
    from netvault.values.macs import parse_ip, parse_mac

    if not isinstance(term, str) or not term.strip() or len(term) > MAX_TERM:
        raise UsageError(f"find: give a search term of 1-{MAX_TERM} characters; {ACCEPTED}")
    term = term.strip()
    if any(not ch.isprintable() for ch in term):
        from netvault.values.names import shown

        raise UsageError(f"find: {shown(term)} holds control or invisible characters; {ACCEPTED}")
    mac = parse_mac(term)
    if mac is not None:
        return "mac", mac
    ip = parse_ip(term)
    if ip is not None:
        return "ip", ip
    oui = _OUI.fullmatch(term)
    if oui:
        return "mac-prefix", (oui.group(1) + oui.group(3) + oui.group(4)).lower()
    if _CIDR.fullmatch(term):
        return "subnet", _network(term)
    from netvault.records.lookup import _looks_like

    looks = _looks_like(term)
    if looks is None and _MACLIKE.fullmatch(term):
        from netvault.values.names import shown

        looks = f"{shown(term)} looks like a MAC address but holds characters that are not hex digits"
    if looks is not None:
        raise UsageError(f"find: {looks}; {ACCEPTED}")
    return "text", term.lower()


def _network(term: str) -> str:
    import ipaddress

    from netvault.values.names import shown

    try:
        net = ipaddress.ip_network(term, strict=False)
    except ValueError:
        raise UsageError(f"find: {shown(term)} looks like a subnet but is not a valid one (10.10.0.0/24); "
                         f"{ACCEPTED}") from None
    return str(net)


def _texts(name: str, entry: dict):
    yield name
    for key in ("k", "o", "s", "l"):
        value = entry.get(key)
        if isinstance(value, str):
            yield value
    for key in ("t", "v", "x"):
        for value in entry.get(key) or ():
            if isinstance(value, str):
                yield value


def matches(form: str, key: str, kind: str, name: str, entry: dict, _net=None) -> bool:
    """Does one search entry match? ``kind``: "devices" | "credentials"."""
    if form == "text":
        return any(key in t.lower() for t in _texts(name, entry))
    if kind != "devices":
        return False
    macs = [m for m in entry.get("m") or () if isinstance(m, str)]
    ips = [i for i in entry.get("i") or () if isinstance(i, str)]
    if form == "mac":
        return key in macs
    if form == "mac-prefix":
        return any(m.startswith(key) for m in macs)
    if form == "ip":
        return key in ips
    if form == "subnet":
        import ipaddress

        net = _net or ipaddress.ip_network(key)
        if net.version == 4:  # integer compare: ipaddress objects cost ~10 us each
            lo, hi = int(net.network_address), int(net.broadcast_address)
            for ip in ips:
                value = _ipv4(ip)
                if value is not None and lo <= value <= hi:
                    return True
            return False
        for ip in ips:
            try:
                if ipaddress.ip_address(ip) in net:
                    return True
            except ValueError:
                continue
        return False
    return False


def _ipv4(ip: str) -> int | None:
    parts = ip.split(".")
    if len(parts) != 4 or not all(p.isdigit() and len(p) <= 3 for p in parts):
        return None
    a, b, c, d = (int(p) for p in parts)
    if max(a, b, c, d) > 255:
        return None
    return (a << 24) | (b << 16) | (c << 8) | d


def search(customer: str, doc: dict, form: str, key: str) -> list[dict]:
    """The hits of one customer's search document, as find's result rows."""
    net = None
    if form == "subnet":
        import ipaddress

        net = ipaddress.ip_network(key)
    out = []
    for kind in ("devices", "credentials"):
        for name, entry in sorted((doc.get(kind) or {}).items()):
            if matches(form, key, kind, name, entry, net):
                out.append(row(customer, kind, name, entry))
    return out


def _str(value):
    return value if isinstance(value, str) else None


def _strs(value):
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def row(customer: str, kind: str, name: str, entry: dict) -> dict:
    if kind == "credentials":
        return {"customer": customer, "type": "credential", "device": name, "kind": "credential",
                "location": None, "macs": [], "ips": [], "model": None, "serial": None,
                "tags": _strs(entry.get("t")), "vendors": [], "version": entry.get("n")}
    return {"customer": customer, "type": "device", "device": name, "kind": _str(entry.get("k")),
            "location": _str(entry.get("l")), "macs": _strs(entry.get("m")), "ips": _strs(entry.get("i")),
            "model": _str(entry.get("o")), "serial": _str(entry.get("s")), "tags": _strs(entry.get("t")),
            "vendors": _strs(entry.get("v")), "version": entry.get("n")}
