"""The engineer's hot path: reveal a sealed field, find a device.

Kept lean on purpose (stdlib + ``gateway`` only, no netaddr/hvac/typer): both
run as whole processes mid-outage and must beat ``bao kv get``. Everything
here only reads; writes live in ``netvault.records.store``.

KV layout (mount ``netvault``, see docs/DESIGN.md)::

    customers/<c>/<kind>/<name>        record (kind: credentials, devices, licences)
    customers/<c>/_index/search        the customer's search document (``search``)
    _index/buckets/<mac|ip>/<bb>       global MAC/IP index (``index``; team leads, admins)
    customers/<c>/_index/<mac|ip>/<k>  per-customer lists written before search
                                       documents (read only as a fallback)
"""

from __future__ import annotations

import base64
import re

from netvault.errors import NetvaultError, NotFound, PermissionDenied, UsageError
from netvault.vault.kv import CUSTOMERS, kv_folders, kv_read
from netvault.vault.kv import settings as kv_settings

KINDS = ("credentials", "devices", "licences")
SECRET_KINDS = ("credentials", "licences")
ELEVATED_POLICIES = ("root", "nv-admin", "nv-team-lead")
CUSTOMER_POLICY_PREFIX = "nv-customer-"
MAX_REFERENCE = 64
_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:#/-]*")
MAX_THREADS = 4  # measured: more threads do not help on 2 cores (GIL, ~1 ms requests)


# -- paths ------------------------------------------------------------------
def record_path(customer: str, kind: str, name: str) -> str:
    return f"customers/{customer}/{kind}/{name}"


def profile_path(customer: str) -> str:
    return f"customers/{customer}/profile"


def ids_path(customer: str, record_id: str) -> str:
    return f"customers/{customer}/_ids/{record_id}"


def customer_index_path(customer: str, what: str, key: str) -> str:
    return f"customers/{customer}/_index/{what}/{key}"


def global_index_path(what: str, key: str) -> str:
    return f"_index/{what}/{key}"


def transit_key(customer: str) -> str:
    return f"customer-{customer}"


def context_for(record_id: str) -> str:
    """Transit derivation context of a record: base64 of its stable id."""
    return base64.b64encode(record_id.encode()).decode()


# -- KV reads ---------------------------------------------------------------
def read_record(vault, kv: str, customer: str, kind: str, name: str, version: int | None = None):
    return kv_read(vault, kv, record_path(customer, kind, name), version)


# -- reveal -----------------------------------------------------------------
def check_reference(reference: str) -> str:
    """Shape check only (bounded, printable). Which references are *allowed*
    is Vault's decision: the policy on the customer's transit key."""
    if not reference or len(reference) > MAX_REFERENCE or not _REFERENCE.fullmatch(reference):
        raise UsageError(
            "incident reference must be 1-64 characters: letters, digits and . _ : # / - (e.g. INC-1234)"
        )
    return reference


def secret_record(vault, kv: str, customer: str, name: str, field: str | None, version: int | None = None):
    """The record holding a sealed field: credentials first, then licences.
    ``version``: that KV version of it (an earlier value; not deleted)."""
    kinds = ("licences", "credentials") if field == "licence_key" else SECRET_KINDS
    try:
        for kind in kinds:
            got = read_record(vault, kv, customer, kind, name, version)
            if got is not None:
                return kind, got[0]
    except PermissionDenied:
        raise unknown_customer(vault, kv, customer) or PermissionDenied(
            f"Vault refused to read {customer}/{name}") from None
    at = f" version {version} (see `netvault history {customer}/{name}`)" if version else ""
    raise unknown_customer(vault, kv, customer) or NotFound(f"no credential or licence {customer}/{name}{at}")


def check_version(version) -> int | None:
    """``--version N`` as given on either command path: a positive integer."""
    if version is None:
        return None
    text = str(version)
    if not text.isdigit() or int(text) < 1 or len(text) > 9:
        raise UsageError(f"--version must be a positive whole number, not {text[:20]!r}")
    return int(text)


def visible_customers(vault, kv: str, policies: list[str] | None = None) -> tuple[list[str], bool]:
    """(customers the token may see, whether it sees all of them)."""
    policies = token_policies(vault) if policies is None else policies
    if any(p in ELEVATED_POLICIES for p in policies):
        return kv_folders(vault, kv, CUSTOMERS), True
    return granted_customers(policies), False


def unknown_customer(vault, kv: str, customer: str) -> NetvaultError | None:
    """When ``customer`` is not one the caller can see: "no customer X (or no
    access to it)", with a "did you mean" among those it may see; else None.
    Only called after a failure, so the hot path pays nothing for it."""
    import difflib

    try:
        visible, everything = visible_customers(vault, kv)
    except NetvaultError:
        return None
    if customer in visible:
        return None
    close = difflib.get_close_matches(customer, visible, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    if everything:
        return NotFound(f"no customer {customer!r}{hint}")
    return PermissionDenied(f"no customer {customer!r} (or no access to it){hint}")


def pick_field(kind: str, record: dict, field: str | None) -> str:
    sealed = record.get("secrets") or {}
    if field is None:
        field = "licence_key" if kind == "licences" else "password"
        if field not in sealed and len(sealed) == 1:
            field = next(iter(sealed))
    if field not in sealed:
        have = ", ".join(sorted(sealed)) or "none"
        raise NotFound(f"no secret field {field!r} on this record (fields: {have})")
    return field


def decrypt(vault, transit: str, customer: str, ciphertext: str, record_id: str, reference: str, kv: str) -> str:
    try:
        resp = vault.write(
            f"{transit}/decrypt/{transit_key(customer)}",
            {"ciphertext": ciphertext, "context": context_for(record_id), "reference": reference},
        )
    except PermissionDenied:
        raise PermissionDenied(_refusal(vault, customer, reference, kv)) from None
    except UsageError:
        # e.g. "cipher: message authentication failed": wrong context / tampered field
        raise NetvaultError(f"Vault could not decrypt this field of {customer} (ciphertext does not belong to this record)") from None
    plain = ((resp or {}).get("data") or {}).get("plaintext")
    if plain is None:
        raise NetvaultError("Vault returned no plaintext")
    return base64.b64decode(plain).decode("utf-8", "replace")


def _refusal(vault, customer: str, reference: str, kv: str) -> str:
    """Why Vault refused a decrypt, as far as the token can tell (only on failure)."""
    try:
        policies = token_policies(vault)
    except NetvaultError:
        policies = []
    if CUSTOMER_POLICY_PREFIX + customer not in policies:
        return f"Vault refused the reveal: you hold no grant for customer {customer}"
    patterns = ""
    try:
        found = kv_settings(vault, kv).get("incident_patterns")
        if found:
            patterns = f" ({', '.join(found)})"
    except NetvaultError:
        pass
    return f"Vault refused the reveal: incident reference {reference!r} does not match the allowed patterns{patterns}"


def reveal(vault, kv: str, transit: str, customer: str, name: str, *, reference: str, field: str | None = None,
           version: int | None = None) -> tuple[str, str]:
    """Decrypt one sealed field (of KV ``version`` when given: an earlier
    value, same rules as any reveal); returns (field, plaintext). Reads + one decrypt."""
    check_reference(reference)
    kind, record = secret_record(vault, kv, customer, name, field, check_version(version))
    field = pick_field(kind, record, field)
    return field, decrypt(vault, transit, customer, record["secrets"][field], record["id"], reference, kv)


# -- find -------------------------------------------------------------------
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def classify(term: str) -> tuple[str, str]:  # kept for callers of the exact forms
    """('mac', 12hex) | ('ip', ip) | ('name', name); UsageError otherwise."""
    from netvault.values.macs import parse_ip, parse_mac

    if not isinstance(term, str) or not term.strip() or len(term) > 64:
        raise UsageError("find: give a MAC address, an IP address or a device name (at most 64 characters)")
    term = term.strip()
    mac = parse_mac(term)
    if mac is not None:
        return "mac", mac
    ip = parse_ip(term)
    if ip is not None:
        return "ip", ip
    looks = _looks_like(term)
    if looks is not None:
        raise UsageError(f"find: {looks}; {_ACCEPTED}")
    if _NAME.fullmatch(term) and ".." not in term:
        return "name", term
    from netvault.values.names import shown

    raise UsageError(f"find: {shown(term)} is not a MAC address, an IP address or a device name; {_ACCEPTED}")


_ACCEPTED = ("find takes a MAC (aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, aabb.ccdd.eeff, aabbccddeeff), "
             "an IPv4 or IPv6 address (10.0.0.1, fe80::1) or a device name")


def _looks_like(term: str) -> str | None:
    """What a term that is almost a MAC or an IP looks like, and what is wrong with it."""
    from netvault.values.names import shown

    groups = re.split(r"[:.-]", term)
    if len(groups) > 1 and all(re.fullmatch(r"[0-9a-fA-F]{2}", g) for g in groups) and len(set(re.findall(r"[:.-]", term))) == 1:
        if len(groups) != 6 and not (len(groups) == 4 and "." in term and all(g.isdigit() for g in groups)):
            return f"{shown(term)} looks like a MAC address with {len(groups)} bytes; a MAC has 6"
    if re.fullmatch(r"[0-9a-fA-F]{4}(\.[0-9a-fA-F]{4})+", term):
        return f"{shown(term)} looks like a Cisco-style MAC with {len(term.split('.'))} groups; a MAC has 3 (aabb.ccdd.eeff)"
    if re.fullmatch(r"[0-9a-fA-F]+", term) and len(term) in (10, 11, 13, 14) and not term.isdigit():
        return f"{shown(term)} looks like a MAC address written without separators, with {len(term)} hex digits; a MAC has 12"
    if re.fullmatch(r"[0-9]+(\.[0-9]+)+", term):
        parts = term.split(".")
        if len(parts) != 4:
            return f"{shown(term)} looks like an IPv4 address with {len(parts)} parts; IPv4 has 4 (10.0.0.1)"
        bad = [p for p in parts if int(p) > 255]
        if bad:
            return f"{shown(term)} looks like an IPv4 address, but {bad[0]} is not 0-255"
    if ":" in term and re.fullmatch(r"[0-9a-fA-F:]+", term):
        return f"{shown(term)} looks like an IPv6 address but is not a valid one"
    return None


def token_policies(vault) -> list[str]:
    data = vault.request("GET", "auth/token/lookup-self")["data"]
    return sorted(set((data.get("policies") or []) + (data.get("identity_policies") or [])))


def granted_customers(policies: list[str]) -> list[str]:
    return sorted(p[len(CUSTOMER_POLICY_PREFIX):] for p in policies if p.startswith(CUSTOMER_POLICY_PREFIX))


def parallel(vault, items: list, fn, threads: int = MAX_THREADS) -> list:
    """fn(client, item) for each item, in threads with a connection each; order kept.

    The calling thread works too, on ``vault``'s own connection. Built on the
    low-level ``_thread`` module: importing ``threading`` costs ~3 ms, which
    shows on the ``find`` hot path."""
    if len(items) <= 1:
        return [fn(vault, item) for item in items]
    import _thread

    results: list = [None] * len(items)
    errors: list = []
    lock = _thread.allocate_lock()
    position = [0]

    def work(client) -> None:
        while not errors:
            with lock:
                i = position[0]
                position[0] += 1
            if i >= len(items):
                return
            try:
                results[i] = fn(client, items[i])
            except BaseException as exc:  # re-raised in the caller
                errors.append(exc)
                return

    def helper(done) -> None:
        client = vault.clone()
        try:
            work(client)
        finally:
            client.close()
            done.release()

    done_locks = []
    for _ in range(min(threads, len(items)) - 1):
        done = _thread.allocate_lock()
        done.acquire()
        _thread.start_new_thread(helper, (done,))
        done_locks.append(done)
    work(vault)
    for done in done_locks:
        done.acquire()
    if errors:
        raise errors[0]
    return results


def _device_hit(client, kv: str, customer: str, device: str, what: str, key: str) -> dict | None:
    """Read the device an index points at; None if the index entry is stale."""
    try:
        got = read_record(client, kv, customer, "devices", device)
    except PermissionDenied:
        return None
    if got is None:
        return None
    data, meta = got
    if what == "mac" and key not in (data.get("macs") or []):
        return None
    if what == "ip" and key not in (data.get("ips") or []):
        return None
    return {
        "customer": customer, "type": "device", "device": device, "kind": data.get("kind"),
        "location": data.get("location"), "macs": data.get("macs") or [],
        "ips": data.get("ips") or [], "model": data.get("model"), "serial": data.get("serial"),
        "tags": data.get("tags") or [], "vendors": [], "version": meta.get("version"),
    }


def search_path(customer: str) -> str:
    return f"customers/{customer}/_index/search"


def reach_path(entity_id: str) -> str:
    return f"_reach/{entity_id}"


def readers_path(customer: str) -> str:
    return f"_readers/{customer}"


def _search_doc(client, kv: str, customer: str) -> str | None:
    """A customer's search document (its stored blob); None when it has none (written before
    search documents existed) or the token may not read it."""

    try:
        got = kv_read(client, kv, search_path(customer))
    except PermissionDenied:
        return None
    return None if got is None else got[0].get("z")


def _legacy_probe(client, kv: str, customer: str, what: str, key: str) -> list[dict]:
    """A customer without a search document: its per-customer MAC/IP index
    (exact terms only), each hit checked against the device record."""
    if what not in ("mac", "ip"):
        return []
    try:
        got = kv_read(client, kv, customer_index_path(customer, what, key))
    except PermissionDenied:
        return []
    devices = sorted({d for d in ((got[0].get("devices") if got else None) or []) if isinstance(d, str)})
    return [h for h in (_device_hit(client, kv, customer, d, what, key) for d in devices) if h is not None]


def _search_customers(client, kv: str, customers: list[str], what: str, key: str) -> list[dict]:
    from netvault.records import search

    def one(c, cust):
        blob = _search_doc(c, kv, cust)
        return _legacy_probe(c, kv, cust, what, key) if blob is None else search.search_blob(cust, blob, what, key)

    return [h for found in parallel(client, customers, one) for h in found]


def read_reach(vault, kv: str, entity_id: str) -> dict:
    """The per-person copy ``_reach/<entity_id>``: customer -> {"z": blob, "n": version};
    empty when there is none. PermissionDenied for another entity's copy."""
    from netvault.records import search

    got = kv_read(vault, kv, reach_path(entity_id))
    return search.copies(got[0]) if got else {}


def find(vault, kv: str, term: str, *, policies: list[str] | None = None,
         entity_id: str | None = None, reach: dict | None = None) -> tuple[str, str, list[dict]]:
    """Devices and credentials matching a term, across every customer the token may see.

    Forms (``search.parse_term``): full MAC, IP, subnet, MAC vendor prefix,
    text (case-insensitive substring of names, model, serial, location,
    tags, MAC vendor).

    * Team leads and admins: a full MAC or IP from the global index (one
      read, then the hit devices); any other form reads each customer's
      search document (one request per customer, in parallel).
    * Anyone else: their own ``_reach/<entity_id>`` (one read: the search
      documents of every customer they hold a standing grant for), then the
      search document of each granted customer the copy does not cover
      (grants made outside netvault, customers over the size bound; none
      normally). Every hit is filtered by the token's own grants.
    ``reach``: that copy when the caller already read it (``read_reach``).
    Never a scan of records. Returns (form, key, hits), hits sorted.
    """
    from netvault.records import search

    what, key = search.parse_term(term)
    if policies is None:
        policies = token_policies(vault)
    if any(p in ELEVATED_POLICIES for p in policies):
        if what in ("mac", "ip"):
            from netvault.records import index

            pairs = index.holders(vault, kv, what, key)  # one read: the key's bucket
            hits = parallel(vault, pairs, lambda client, p: _device_hit(client, kv, p[0], p[1], what, key))
            return what, key, [h for h in hits if h is not None]
        customers = kv_folders(vault, kv, CUSTOMERS)
        hits = _search_customers(vault, kv, customers, what, key)
    else:
        granted = granted_customers(policies)
        hits = []
        covered: set[str] = set()
        if entity_id and granted:
            held = reach
            if held is None:
                try:
                    held = read_reach(vault, kv, entity_id)
                except PermissionDenied:
                    held = {}
            for c in granted:
                if c in held:
                    covered.add(c)
                    hits += search.search_blob(c, held[c]["z"], what, key)
        hits += _search_customers(vault, kv, [c for c in granted if c not in covered], what, key)
    return what, key, sorted(hits, key=lambda h: (h["customer"], h["type"], h["device"]))
