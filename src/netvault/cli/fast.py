"""The process entry point, with a lean path for ``reveal`` and ``find``.

Engineers run these two mid-outage, and each must beat ``bao kv get`` as a
whole process. Importing typer (~50-70 ms) alone would eat most of that, so
a plain ``netvault reveal ...`` / ``netvault find ...`` command line is
parsed here with the standard library and run by the *same* functions the
typer commands call (``do_reveal``, ``do_find``). Anything unusual (``--help``,
an unknown option, a malformed line) goes to the full typer CLI, which gives
the usual help and usage errors. Errors print and exit exactly like
``netvault.cli.main.run``: ``error: <one line>`` and the documented exit code.

Token lookup on this path is lean too (see ``netvault.local.token_cache``): the
same sources in the same order as ``session.current_token``.
"""

from __future__ import annotations

import os
import sys

USAGE_EXIT = 2


# -- shared command bodies (also called by the typer commands) -------------
def _client():
    from netvault.local import config
    from netvault.errors import NotLoggedIn
    from netvault.local.token_cache import current_token
    settings = config.load()
    token = current_token(settings)
    if not token:
        raise NotLoggedIn(f"not logged in to {settings.address}; run `netvault login`")
    return settings, settings.vault(token)


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


def do_reveal(ref: str, incident: str | None, field: str | None, copy: bool, totp: bool,
              as_json: bool = False, break_glass: bool = False, version=None) -> None:
    from netvault.records import lookup
    from netvault.values import names
    from netvault.errors import UsageError

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
    settings, vault = _client()
    if break_glass:
        # Issue 14: on-call members reveal without a grant, with a reference
        # of the break-glass form (INC-42 -> BG-INC-42); Vault checks both.
        from netvault.access import incidents

        incident = incidents.break_glass_reference(
            incident, incidents.break_glass_patterns(vault, settings.mounts.kv))
        lookup.check_reference(incident)
        from netvault.errors import PermissionDenied as _Denied

        try:
            field_name, value = lookup.reveal(vault, settings.mounts.kv, settings.mounts.transit, customer, name,
                                              reference=incident, field=field, version=version)
        except _Denied:
            raise _Denied(f"Vault refused the break-glass reveal ({incident}): only members of the on-call role "
                          "may break glass, never admins or auditors; in a customer you hold a grant for, "
                          "reveal without --break-glass") from None
        return _output(value, field_name, customer, name, incident, copy, totp, as_json, version)
    # The token that may read this customer: a stored time-limited grant's, the
    # login token, or a delivery picked up now (netvault.access.grant_client). Chosen
    # before the first read, so the trail holds no denied attempt of the wrong one.
    field_name, value = with_customer_client(
        settings, vault, customer,
        lambda client: lookup.reveal(client, settings.mounts.kv, settings.mounts.transit, customer, name,
                                     reference=incident, field=field, version=version))
    _output(value, field_name, customer, name, incident, copy, totp, as_json, version)


def _output(value: str, field_name: str, customer: str, name: str, incident: str, copy: bool, totp: bool,
            as_json: bool, version: int | None = None) -> None:
    if totp:
        value = totp_code(value)
    if copy:
        from netvault.local import clipboard

        tool = clipboard.copy(value)
        sys.stderr.write(f"copied to the clipboard ({tool}); cleared in {clipboard.CLEAR_AFTER} s unless it changes\n")
        return
    if as_json:
        # the value only on stdout, inside the JSON; JSON escapes control characters
        from netvault.values.text import json_text

        out = {"field": "totp_code" if totp else field_name, "value": value,
               "record": f"{customer}/{name}", "incident": incident}
        if version is not None:
            out["version"] = version
        sys.stdout.write(json_text(out, sort_keys=True) + "\n")
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


def with_customer_client(settings, vault, customer: str, work):
    """``work(client)`` with the client that reads ``customer`` (grantclient.client_for).
    A stored time-limited token that Vault no longer accepts (revoked) is
    forgotten and the choice made once more."""
    from datetime import datetime, timezone

    from netvault.access import grant_client as grantclient
    from netvault.errors import NotLoggedIn, PermissionDenied

    now = datetime.now(timezone.utc)
    client = grantclient.client_for(settings, vault, customer, now)
    try:
        return work(client)
    except (PermissionDenied, NotLoggedIn):
        if client is vault or client.token_is_valid():
            raise
        from netvault.local import tokens

        tokens.delete(settings.address, f"jit:{customer}")
        client = grantclient.client_for(settings, vault, customer, now)
        return work(client)


def totp_code(seed: str) -> str:
    """The current TOTP code. Seeds of 80 bits (16 base32 characters, common in
    the field) are accepted, as validate.totp_seed does when storing."""
    import pyotp

    class TOTP(pyotp.TOTP):
        min_secret_length_bits = 80

    return TOTP(seed).now()


FIND_COLUMNS = (("customer", "customer"), ("device", "device"), ("kind", "kind"), ("location", "location"),
                ("macs", "macs"), ("ips", "ips"))


def do_find(term: str, as_json: bool) -> int:
    """Print the hits; exit 3 when nothing matched."""
    from netvault.records import lookup
    from netvault.values.macs import display_mac

    settings, vault = _client()
    self_data = vault.request("GET", "auth/token/lookup-self")["data"]
    policies = sorted(set((self_data.get("policies") or []) + (self_data.get("identity_policies") or [])))
    kv = settings.mounts.kv
    what, key, hits = lookup.find(vault, kv, term, policies=policies, entity_id=self_data.get("entity_id"))
    # An engineer may also hold time-limited grants (a stored JIT token, or a
    # delivery waiting in the inbox). A MAC names one device, so when the
    # standing grants already found it, that extra search is skipped; IPs and
    # names repeat across customers, so for those it always runs.
    if not any(p in lookup.ELEVATED_POLICIES for p in policies) and not (what == "mac" and hits):
        pending = _inbox_customers(vault, kv, self_data.get("entity_id"))
        hits = hits + _time_limited_hits(settings, vault, term, pending, lookup.granted_customers(policies))
        hits.sort(key=lambda h: (h["customer"], h["type"], h["device"]))
    rows = [{**h, "macs": [display_mac(m) for m in h["macs"]]} for h in hits]
    if as_json:
        from netvault.values.text import json_text

        sys.stdout.write(json_text({"term": term, "match": what, "key": key, "results": rows}, sort_keys=True) + "\n")
    elif rows:
        _table(rows, FIND_COLUMNS)
    expired = _expired_grants(settings, lookup.granted_customers(policies))
    if not rows:
        if expired:
            # not "no device matches": the search could not look where the engineer expects
            raise expired[0]
        shown = display_mac(key) if what == "mac" else (":".join(key[i:i + 2] for i in range(0, 6, 2)) if what == "mac-prefix" else key)
        from netvault.values.text import printable

        sys.stderr.write(f"no device or credential matches {what} {printable(shown)}\n")
        return 3
    for err in expired:
        sys.stderr.write(f"note: {err.message}\n")
    return 0


def _expired_grants(settings, granted: list[str]) -> list:
    """Errors "your access to X expired at T" for this machine's expired time-limited grants
    of customers not (any more) granted otherwise."""
    from datetime import datetime, timezone

    from netvault.access import grant_client as grantclient

    now = datetime.now(timezone.utc)
    out = []
    for g in grantclient.time_limited(settings, now):
        if g["state"] == "expired" and g["customer"] not in granted:
            err = grantclient.expired_error(settings, g["customer"], now)
            if err is not None:
                out.append(err)
    return out


def _inbox_customers(client, kv: str, entity_id: str | None) -> set[str]:
    from netvault.errors import NetvaultError

    if not entity_id:
        return set()
    try:
        return {k.rstrip("/") for k in client.list(f"{kv}/metadata/_inbox/{entity_id}")}
    except NetvaultError:
        return set()


def _time_limited_hits(settings, vault, term: str, pending: set[str], granted: list[str]) -> list[dict]:
    """Hits in customers the engineer holds only a time-limited grant for:
    a stored JIT token, or a delivery still waiting in their inbox (``pending``).
    Each such customer is searched with its own JIT token."""
    from netvault.records import lookup
    from netvault.local import tokens
    from netvault.errors import NetvaultError

    customers = {s[4:] for s in tokens.scopes(settings.address) if s.startswith("jit:")} | pending
    customers -= set(granted)
    if not customers:
        return []
    from datetime import datetime, timezone

    from netvault.access import jit as jit_access

    hits = []
    for customer in sorted(customers):
        try:
            token = jit_access.customer_token(settings, vault, customer, datetime.now(timezone.utc))
        except NetvaultError:
            continue
        if not token:
            continue
        jit = vault.clone()
        jit.token = token
        hits += lookup.find(jit, settings.mounts.kv, term, policies=[f"nv-customer-{customer}"])[2]
    return hits


def _table(rows: list[dict], columns, empty: str = "(none)") -> None:
    from netvault.cli.render import table

    table(rows, columns, empty=empty)


# -- everyday reads (issue 15: each at most its bao peer) --------------------
# Same bodies for the typer commands (cli/records.py, cli/auth.py) and the
# lean path below: the typer import alone (~60-120 ms) costs more than the
# whole `bao kv list` these are measured against.
RECORD_ORDER = ["customer", "name", "kind", "username", "url", "product", "vendor", "seats", "expires", "days_left",
                "macs", "ips", "serial", "model", "location", "credential", "tags", "secret_fields", "key_versions",
                "notes", "id", "version", "created_time"]
LIST_COLUMNS = {
    "credentials": ([("name", "name"), ("username", "username"), ("url", "url"), ("tags", "tags"),
                     ("secret_fields", "sealed"), ("version", "version")], "(no credentials)"),
    "devices": ([("name", "name"), ("kind", "kind"), ("macs", "macs"), ("ips", "ips"), ("location", "location"),
                 ("model", "model")], "(no devices)"),
}


def _store(customer: str | None = None):
    """The record store; with ``customer``, reading with the token that may read
    it (a time-limited grant's token where that is the caller's access:
    netvault.access.grant_client), chosen before the first read."""
    from netvault.records.store import Store

    settings, vault = _client()
    if customer is not None:
        from datetime import datetime, timezone

        from netvault.access import grant_client as grantclient
        from netvault.values import names

        vault = grantclient.client_for(settings, vault, names.slug(customer, "customer"), datetime.now(timezone.utc))
    return Store(vault, settings.mounts)


def do_list(kind: str, customer: str, tags=None, device_kind: str | None = None, as_json: bool = False) -> int:
    from netvault.cli.render import emit_json

    rows = _store(customer).list(kind, customer, tags=tags, device_kind=device_kind)
    if as_json:
        emit_json(rows)
        return 0
    if kind == "devices":
        from netvault.values.macs import display_mac

        rows = [{**r, "macs": [display_mac(m) for m in r.get("macs") or []]} for r in rows]
    columns, empty = LIST_COLUMNS[kind]
    _table(rows, columns, empty=empty)
    return 0


def show_fields(obj: dict, as_json: bool, order=RECORD_ORDER) -> None:
    from netvault.cli.render import emit_json, fields

    if as_json:
        emit_json(obj)
        return
    keys = [k for k in order if k in obj] + sorted(k for k in obj if k not in order)
    fields([(k, obj[k]) for k in keys])


def do_show(kind: str, ref: str, version: int | None = None, as_json: bool = False) -> int:
    from netvault.values import names

    customer, name = names.record_ref(ref)
    show_fields(_store(customer).show(kind, customer, name, version), as_json)
    return 0


def do_whoami(as_json: bool = False) -> int:
    from datetime import datetime, timezone

    from netvault.local import session
    from netvault.cli.render import emit_json, fields, warn
    from netvault.access.grant_client import shown_time

    settings, vault = _client()
    who, problems = session.whoami_with_grants(settings, vault, datetime.now(timezone.utc))
    for p in problems:
        warn(p)
    if as_json:
        emit_json({**who.to_dict(), "address": settings.address, "expires_in": session.expires_in(who)})
        return 0
    limited = [f"{g['customer']} (until {shown_time(g['expires_at'])})" for g in who.time_limited
               if g["state"] == "active" and g["customer"] not in who.customers]
    expired = [f"{g['customer']} (expired {shown_time(g['expires_at'])})" for g in who.time_limited
               if g["state"] == "expired" and g["customer"] not in who.customers]
    fields([
        ("user", who.username or who.display_name), ("roles", who.roles), ("customers", who.customers + limited + expired),
        ("expires_in", session.expires_in(who)), ("expires_at", who.expire_time or "never"),
        ("address", settings.address), ("entity_id", who.entity_id),
    ])
    return 0


GRANT_COLUMNS = [
    ("user", "user"), ("customer", "customer"), ("kind", "kind"), ("state", "state"),
    ("expires_at", "expires"), ("granted_by", "granted by"), ("reason", "reason"),
]


def grant_rows(grants: list[dict]) -> list[dict]:
    return [{**g, "expires_at": g.get("expires_at") or ("never" if g["kind"] == "standing" else None)} for g in grants]


def do_access_list(customer: str | None = None, engineer: str | None = None, as_json: bool = False) -> int:
    from datetime import datetime, timezone

    from netvault.access import grants as access
    from netvault.cli.render import emit_json

    settings, vault = _client()
    grants = [g.to_dict() for g in access.list_grants(vault, now=datetime.now(timezone.utc), customer=customer,
                                                      user=engineer, mounts=settings.mounts)]
    if as_json:
        emit_json(grants)
        return 0
    _table(grant_rows(grants), GRANT_COLUMNS, empty="(no grants)")
    return 0


# -- lean argv parsing -------------------------------------------------------
def _parse(argv: list[str]):
    """(command, kwargs) for a plain reveal/find line, else None (full CLI)."""
    command, rest = argv[0], argv[1:]
    if command == "reveal":
        opts = {"incident": None, "field": None, "copy": False, "totp": False, "as_json": False,
                "break_glass": False, "version": None}
        valued = {"--incident": "incident", "-i": "incident", "--field": "field", "-f": "field",
                  "--version": "version"}
        flags = {"--copy": "copy", "--totp": "totp", "--json": "as_json", "--break-glass": "break_glass"}
    elif command == "find":
        opts = {"as_json": False}
        valued = {}
        flags = {"--json": "as_json"}
    elif command in ("whoami", "credential", "device", "access"):
        return _parse_everyday(argv)
    else:
        return None
    positional: list[str] = []
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg == "--":
            positional.extend(rest[i + 1:])
            break
        if arg.startswith("-") and len(arg) > 1:
            name, eq, value = arg.partition("=")
            if name in flags and not eq:
                opts[flags[name]] = True
            elif name in valued:
                if not eq:
                    i += 1
                    if i >= len(rest):
                        return None
                    value = rest[i]
                if opts[valued[name]] is not None:
                    return None
                opts[valued[name]] = value
            else:
                return None  # --help, --traceback, unknown: let typer answer
        else:
            positional.append(arg)
        i += 1
    if len(positional) != 1:
        return None
    key = "ref" if command == "reveal" else "term"
    return command, {key: positional[0], **opts}


def _parse_everyday(argv: list[str]):
    """whoami / credential list|show / device list, plain (``--json`` at most)."""
    as_json = "--json" in argv
    rest = [a for a in argv if a != "--json"]
    if argv.count("--json") > 1 or any(a.startswith("-") for a in rest):
        return None
    if rest == ["whoami"]:
        return "whoami", {"as_json": as_json}
    if len(rest) == 3 and rest[1] == "list" and rest[0] in ("credential", "device"):
        return "list", {"kind": rest[0] + "s", "customer": rest[2], "as_json": as_json}
    if len(rest) == 3 and rest[:2] == ["credential", "show"]:
        return "show", {"kind": "credentials", "ref": rest[2], "as_json": as_json}
    if rest == ["access", "list"]:
        return "access-list", {"as_json": as_json}
    return None


def _run_fast(command: str, kwargs: dict) -> int:
    from netvault.errors import ExitCode, NetvaultError

    debug = os.environ.get("NETVAULT_DEBUG", "") not in ("", "0")
    try:
        if command == "reveal":
            do_reveal(**kwargs)
            return 0
        if command == "whoami":
            return do_whoami(**kwargs)
        if command == "list":
            return do_list(**kwargs)
        if command == "show":
            return do_show(**kwargs)
        if command == "access-list":
            return do_access_list(**kwargs)
        return do_find(**kwargs)
    except NetvaultError as exc:
        if debug:
            raise
        from netvault.values.text import printable

        sys.stderr.write(f"error: {printable(exc.message)}\n")
        if exc.hint:
            sys.stderr.write(f"hint: {printable(exc.hint)}\n")
        return int(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        return int(ExitCode.ERROR)
    except Exception as exc:  # a bug: say so without leaking its message
        if debug:
            raise
        sys.stderr.write(f"error: internal error ({type(exc).__name__}); rerun with --traceback and report it\n")
        return int(ExitCode.ERROR)


def run(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("reveal", "find", "whoami", "credential", "device", "access") \
            and os.environ.get("NETVAULT_NO_FAST", "") in ("", "0"):
        parsed = _parse(argv)
        if parsed is not None:
            sys.exit(_run_fast(*parsed))
    from netvault.cli.main import run as full_run

    full_run(argv)


if __name__ == "__main__":
    run()
