"""Sub-processors per customer (issue 11): who processes a customer's data
for the provider (a cloud backup, a hosted mail service...). No printing.

Stored as one KV key per customer, ``customers/<c>/subprocessors``:
``{"entries": [{name, service, country, since}]}``, written with
check-and-set. Being inside the customer's tree it is written by team leads
(``nv-team-lead-customers``: data/customers/<c>/*) and admins only, read by
them, by engineers granted the customer (``nv-customer-<c>`` reads the whole
tree) and by auditors (one rule in ``policies/auditor.hcl``), and it goes
wherever the customer's tree goes (export, erasure).
"""

from __future__ import annotations

from dataclasses import dataclass

from netvault.values import names
from netvault.values import validate
from netvault.errors import Conflict, NotFound, PermissionDenied, UsageError
from netvault.records.lookup import parallel, profile_path
from netvault.values.results import json_result
from netvault.vault.kv import CUSTOMERS, kv_data, kv_edit, kv_folders, kv_metadata

RETRIES = 10
MAX_ENTRIES = 200

#: ISO 3166-1 alpha-2, officially assigned codes
ISO_COUNTRIES = frozenset("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
""".split())


def path(customer: str) -> str:
    return f"{CUSTOMERS}/{customer}/subprocessors"


def country(value: str) -> str:
    code = (value or "").strip().upper()
    if code not in ISO_COUNTRIES:
        raise UsageError(f"invalid country {names.shown(value or '')}: use an ISO 3166-1 alpha-2 code such as NL, DE, IE, US")
    return code


def entry(name: str, service: str, country_code: str, since: str) -> dict:
    if not name or not name.strip():
        raise UsageError("sub-processor name required")
    if not service or not service.strip():
        raise UsageError("sub-processor service required (--service)")
    if not since:
        raise UsageError("date the sub-processor was engaged required (--since YYYY-MM-DD)")
    return {"name": validate.text(name.strip(), "sub-processor name", limit=120),
            "service": validate.text(service.strip(), "service", limit=200),
            "country": country(country_code), "since": validate.iso_date(since, "--since date")}


def _entries(data: dict | None) -> list[dict]:
    """The stored entries (shape-checked: stored data may be planted)."""
    entries = (data or {}).get("entries")
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _require_customer(vault, kv: str, customer: str) -> None:
    from netvault.records import lookup

    names.slug(customer, "customer")
    try:  # metadata: auditors may read it, not the profile's body
        got = kv_metadata(vault, kv, profile_path(customer))
    except PermissionDenied:
        raise lookup.unknown_customer(vault, kv, customer) or PermissionDenied(
            f"Vault refused to read customer {customer}") from None
    if got is None:
        raise lookup.unknown_customer(vault, kv, customer) or NotFound(f"no customer {customer}")


def list_for(vault, kv: str, customer: str) -> list[dict]:
    """The customer's sub-processors (validated shape only: stored data may be planted)."""
    names.slug(customer, "customer")
    entries = _entries(kv_data(vault, kv, path(customer)))
    return sorted(entries, key=lambda e: str(e.get("name", "")).lower())


def _write(vault, kv: str, customer: str, change) -> list[dict]:
    """Apply ``change(entries) -> entries`` with check-and-set, retried."""
    written = kv_edit(vault, kv, path(customer), lambda data: {"entries": change(_entries(data))}, retries=RETRIES,
                      gave_up=f"the sub-processors of {customer} kept changing; try again")
    return (written or {}).get("entries") or []


@json_result
@dataclass(frozen=True)
class Subprocessor:
    """`customer subprocessors C add --json`: the stored entry and its customer."""
    customer: str
    name: str
    service: str
    country: str
    since: str


@json_result
@dataclass(frozen=True)
class SubprocessorEntry:
    """One row of `customer subprocessors C list --json`: a stored entry."""
    name: str
    service: str
    country: str
    since: str

    @classmethod
    def of(cls, stored: dict) -> "SubprocessorEntry":
        """From a stored entry (only its known keys)."""
        return cls(*(str(stored.get(k, "")) for k in ("name", "service", "country", "since")))


@json_result
@dataclass(frozen=True)
class SubprocessorRemoved:
    customer: str
    name: str
    removed: bool


@json_result
@dataclass(frozen=True)
class ServedCustomer:
    customer: str
    since: str | None


@json_result
@dataclass(frozen=True)
class SubprocessorUse:
    """One row of `subprocessors report --json`: a sub-processor and the customers it serves."""
    name: str
    service: str
    country: str
    customers: list[ServedCustomer]


def add(vault, kv: str, customer: str, *, name: str, service: str, country_code: str, since: str) -> Subprocessor:
    """Add one (team lead, admin: Vault refuses anyone else)."""
    _require_customer(vault, kv, customer)
    new = entry(name, service, country_code, since)

    def change(entries):
        if any(str(e.get("name", "")).lower() == new["name"].lower() for e in entries):
            raise Conflict(f"sub-processor {names.shown(new['name'])} is already listed for {customer}")
        if len(entries) >= MAX_ENTRIES:
            raise UsageError(f"at most {MAX_ENTRIES} sub-processors per customer")
        return entries + [new]

    try:
        _write(vault, kv, customer, change)
    except PermissionDenied:
        raise PermissionDenied("Vault refused: only a team lead or an admin may change sub-processors") from None
    return Subprocessor(customer=customer, **new)


def remove(vault, kv: str, customer: str, name: str) -> SubprocessorRemoved:
    _require_customer(vault, kv, customer)

    def change(entries):
        kept = [e for e in entries if str(e.get("name", "")).lower() != (name or "").strip().lower()]
        if len(kept) == len(entries):
            raise NotFound(f"no sub-processor {names.shown(name or '')} for {customer}")
        return kept

    try:
        _write(vault, kv, customer, change)
    except PermissionDenied:
        raise PermissionDenied("Vault refused: only a team lead or an admin may change sub-processors") from None
    return SubprocessorRemoved(customer, name, True)


def report(vault, kv: str) -> list[SubprocessorUse]:
    """Every sub-processor with the customers it serves: one row per
    (name, service, country), customers sorted. Customers whose list the
    caller may not read are left out (engineers: their granted ones only)."""
    from netvault.records import lookup

    try:  # team leads, admins and auditors list every customer
        customers = kv_folders(vault, kv, CUSTOMERS)
    except PermissionDenied:
        customers = lookup.granted_customers(lookup.token_policies(vault))

    def one(client, c):
        try:
            return c, list_for(client, kv, c)
        except PermissionDenied:
            return c, []

    rows: dict[tuple, dict] = {}
    for c, entries in parallel(vault, customers, one, threads=8):
        for e in entries:
            key = (str(e.get("name", "")), str(e.get("service", "")), str(e.get("country", "")))
            row = rows.setdefault(key, {"name": key[0], "service": key[1], "country": key[2], "customers": []})
            row["customers"].append({"customer": c, "since": e.get("since")})
    return [SubprocessorUse(r["name"], r["service"], r["country"], [ServedCustomer(**c) for c in r["customers"]])
            for r in (rows[k] for k in sorted(rows, key=lambda k: (k[0].lower(), k[1], k[2])))]
