"""Command bodies without typer: reveal, find and the everyday reads.

The typer commands (``cli/records.py``, ``cli/auth.py``, ``cli/access.py``)
and the lean entry point (``cli/fast.py``) call the same function here, with
the typer command's own parameter names (``cli/argspec.py`` is derived from
those). Each body is: check and prompt, one call into the domain
(``netvault.records.facade.NetVault``), render. Importing typer (~60-80 ms)
would cost more than the whole ``bao kv get`` these are measured against, so
nothing here imports it. A body returns its exit code.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone

RECORD_ORDER = ["customer", "name", "kind", "username", "url", "product", "vendor", "seats", "expires", "days_left",
                "macs", "ips", "serial", "model", "location", "credential", "tags", "secret_fields", "key_versions",
                "notes", "id", "version", "created_time"]
LIST_COLUMNS = {
    "credentials": ([("name", "name"), ("username", "username"), ("url", "url"), ("tags", "tags"),
                     ("secret_fields", "sealed"), ("version", "version")], "(no credentials)"),
    "devices": ([("name", "name"), ("kind", "kind"), ("macs", "macs"), ("ips", "ips"), ("location", "location"),
                 ("model", "model")], "(no devices)"),
}
FIND_COLUMNS = (("customer", "customer"), ("device", "device"), ("kind", "kind"), ("location", "location"),
                ("macs", "macs"), ("ips", "ips"))
GRANT_COLUMNS = [
    ("user", "user"), ("customer", "customer"), ("kind", "kind"), ("state", "state"),
    ("expires_at", "expires"), ("granted_by", "granted by"), ("reason", "reason"),
]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _netvault():
    from netvault.records.facade import NetVault

    return NetVault.connect()


# -- reveal -------------------------------------------------------------------
def ask_incident() -> str:
    from netvault.errors import UsageError

    if not sys.stdin.isatty():
        raise UsageError("an incident reference is required: --incident INC-1234 (Vault refuses a reveal without one)")
    sys.stderr.write("Incident reference (e.g. INC-1234): ")
    sys.stderr.flush()
    value = sys.stdin.readline().strip()
    if not value:
        raise UsageError("no incident reference given; nothing revealed")
    return value


def reveal(ref: str, incident: str | None = None, field: str | None = None, copy: bool = False, totp: bool = False,
           as_json: bool = False, break_glass: bool = False, version=None) -> int:
    from netvault.errors import UsageError
    from netvault.records import lookup
    from netvault.values import names

    customer, name = names.record_ref(ref)
    if field is not None:
        names.slug(field, "field")
    if as_json and copy:
        raise UsageError("--json prints the value; do not combine it with --copy")
    version = lookup.check_version(version)
    if totp:
        if field not in (None, "totp"):
            raise UsageError("--totp reveals the TOTP field; do not combine it with --field")
        field = "totp"
    if incident is None:
        incident = ask_incident()
    lookup.check_reference(incident)
    if copy:
        from netvault.local import clipboard

        clipboard.require()  # before the decrypt: no clipboard, no reveal in the trail
    got = _netvault().reveal(customer, name, reference=incident, field=field, version=version,
                             break_glass=break_glass, now=_now())
    _reveal_output(got, copy, totp, as_json)
    return 0


def _reveal_output(got, copy: bool, totp: bool, as_json: bool) -> None:
    value = got.value
    if totp:
        from netvault.records.facade import totp_code

        value = totp_code(value)
    if copy:
        from netvault.local import clipboard

        tool = clipboard.copy(value)
        sys.stderr.write(f"copied to the clipboard ({tool}); cleared in {clipboard.CLEAR_AFTER} s unless it changes\n")
        return
    if as_json:
        # the value only on stdout, inside the JSON; JSON escapes control characters
        from netvault.cli.render import emit_json
        from netvault.records.results import Revealed

        emit_json(Revealed("totp_code" if totp else got.field, value, f"{got.customer}/{got.name}", got.incident,
                           got.version))
        sys.stdout.flush()
        return
    if not value.isprintable() and sys.stdout.isatty():
        # netvault never stores such a value (validate.secret_value); one written
        # around it must not drive the terminal: shown escaped, raw only to a pipe.
        from netvault.values.text import printable

        sys.stderr.write("warning: the secret holds control or invisible characters (not stored by netvault): "
                         "shown escaped; pipe it or use --copy for the raw value\n")
        value = printable(value)
    sys.stdout.write(value + "\n")
    sys.stdout.flush()


# -- find -----------------------------------------------------------------------
def find(term: str, as_json: bool = False) -> int:
    """Print the hits; exit 3 when nothing matched."""
    from netvault.values.macs import display_mac

    found = _netvault().find(term, now=_now())
    rows = [{**h, "macs": [display_mac(m) for m in h["macs"]]} for h in found.results]
    from netvault.cli.render import table  # (not at the top: reveal has no table, and render costs ~3 ms)

    if as_json:
        from netvault.cli.render import emit_json
        from netvault.records.results import Found

        emit_json(Found(term, found.match, found.key, rows))
    elif rows:
        table(rows, FIND_COLUMNS)
    if not rows:
        if found.expired:
            # not "no device matches": the search could not look where the engineer expects
            raise found.expired[0]
        what, key = found.match, found.key
        shown = display_mac(key) if what == "mac" else (
            ":".join(key[i:i + 2] for i in range(0, 6, 2)) if what == "mac-prefix" else key)
        from netvault.values.text import printable

        sys.stderr.write(f"no device or credential matches {what} {printable(shown)}\n")
        return 3
    for err in found.expired:
        sys.stderr.write(f"note: {err.message}\n")
    return 0


# -- everyday reads (issue 15: each at most its bao peer) -------------------------
def list_records(kind: str, customer: str, tags=None, device_kind: str | None = None, as_json: bool = False) -> int:
    from netvault.cli.render import emit_json, table

    rows = _netvault().store(customer, now=_now()).list(kind, customer, tags=tags, device_kind=device_kind)
    if as_json:
        emit_json(rows)
        return 0
    if kind == "devices":
        from netvault.values.macs import display_mac

        rows = [{**r, "macs": [display_mac(m) for m in r.get("macs") or []]} for r in rows]
    columns, empty = LIST_COLUMNS[kind]
    table(rows, columns, empty=empty)
    return 0


def credential_list(customer: str, tag=None, as_json: bool = False) -> int:
    return list_records("credentials", customer, tags=tag, as_json=as_json)


def device_list(customer: str, kind: str | None = None, tag=None, as_json: bool = False) -> int:
    return list_records("devices", customer, tags=tag, device_kind=kind, as_json=as_json)


def show_fields(obj: dict, as_json: bool, order=RECORD_ORDER) -> None:
    from netvault.cli.render import emit_json, fields

    if as_json:
        emit_json(obj)
        return
    keys = [k for k in order if k in obj] + sorted(k for k in obj if k not in order)
    fields([(k, obj[k]) for k in keys])


def credential_show(ref: str, version: int | None = None, as_json: bool = False) -> int:
    from netvault.values import names

    customer, name = names.record_ref(ref)
    show_fields(_netvault().store(customer, now=_now()).show("credentials", customer, name, version), as_json)
    return 0


def whoami(as_json: bool = False) -> int:
    from netvault.access import grant_client
    from netvault.access.grant_client import shown_time
    from netvault.cli.render import emit_json, fields, warn
    from netvault.local import session

    nv = _netvault()
    who, problems = grant_client.whoami_with_grants(nv.settings, nv.vault, _now())
    for p in problems:
        warn(p)
    if as_json:
        emit_json(session.WhoAmI.of(who, nv.settings.address, session.expires_in(who)))
        return 0
    limited = [f"{g['customer']} (until {shown_time(g['expires_at'])})" for g in who.time_limited
               if g["state"] == "active" and g["customer"] not in who.customers]
    expired = [f"{g['customer']} (expired {shown_time(g['expires_at'])})" for g in who.time_limited
               if g["state"] == "expired" and g["customer"] not in who.customers]
    fields([
        ("user", who.username or who.display_name), ("roles", who.roles), ("customers", who.customers + limited + expired),
        ("expires_in", session.expires_in(who)), ("expires_at", who.expire_time or "never"),
        ("address", nv.settings.address), ("entity_id", who.entity_id),
    ])
    return 0


def grant_rows(grants: list[dict]) -> list[dict]:
    return [{**g, "expires_at": g.get("expires_at") or ("never" if g["kind"] == "standing" else None)} for g in grants]


def access_list(customer: str | None = None, engineer: str | None = None, as_json: bool = False) -> int:
    from netvault.access import grants as access
    from netvault.cli.render import emit_json, table

    nv = _netvault()
    grants = [g.to_dict() for g in access.list_grants(nv.vault, now=_now(), customer=customer, user=engineer,
                                                      mounts=nv.mounts)]
    if as_json:
        emit_json(grants)
        return 0
    table(grant_rows(grants), GRANT_COLUMNS, empty="(no grants)")
    return 0
