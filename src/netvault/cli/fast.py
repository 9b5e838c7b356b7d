"""The process entry point, with a lean path for ``reveal`` and ``find``.

Engineers run these two mid-outage, and each must beat ``bao kv get`` as a
whole process. Importing typer (~50-70 ms) alone would eat most of that, so
a plain ``netvault reveal ...`` / ``netvault find ...`` command line is
parsed here with the standard library and run by the *same* functions the
typer commands call (``do_reveal``, ``do_find``). Anything unusual (``--help``,
an unknown option, a malformed line) goes to the full typer CLI, which gives
the usual help and usage errors. Errors print and exit exactly like
``netvault.cli.main.run``: ``error: <one line>`` and the documented exit code.

Token lookup on this path is lean too (see ``netvault.fasttoken``): the
same sources in the same order as ``session.current_token``.
"""

from __future__ import annotations

import os
import sys

USAGE_EXIT = 2


# -- shared command bodies (also called by the typer commands) -------------
def _client():
    from netvault import config
    from netvault.errors import NotLoggedIn
    from netvault.fasttoken import current_token
    from netvault.gateway import Vault

    settings = config.load()
    token = current_token(settings)
    if not token:
        raise NotLoggedIn(f"not logged in to {settings.address}; run `netvault login`")
    return settings, Vault(settings.address, token, namespace=settings.namespace, cacert=settings.cacert)


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
              as_json: bool = False, version=None) -> None:
    from netvault import lookup, names
    from netvault.errors import PermissionDenied, UsageError

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
        from netvault import clipboard

        clipboard.require()  # before the decrypt: no clipboard, no reveal in the trail
    settings, vault = _client()
    try:
        field_name, value = lookup.reveal(vault, settings.mounts.kv, settings.mounts.transit, customer, name,
                                 reference=incident, field=field, version=version)
    except PermissionDenied:
        from netvault.errors import NotLoggedIn

        # A time-limited grant (issue 4) lives in its own token, stored as
        # "jit:<customer>@<address>"; try it only after the login token was refused.
        from netvault.fasttoken import stored_token

        jit = None if settings.env_token else stored_token(settings.address, f"jit:{customer}")
        login_token = vault.token
        value, field_name = None, field
        if jit and jit != login_token:
            vault.token = jit
            try:
                field_name, value = lookup.reveal(vault, settings.mounts.kv, settings.mounts.transit, customer, name,
                                         reference=incident, field=field, version=version)
            except (PermissionDenied, NotLoggedIn):
                value = None
        if value is None:
            # Not stored (or no longer valid): pick a delivery up from the inbox.
            from datetime import datetime, timezone

            from netvault import access

            vault.token = login_token
            jit = access.customer_token(settings, vault, customer, datetime.now(timezone.utc))
            if not jit:
                raise
            vault.token = jit
            field_name, value = lookup.reveal(vault, settings.mounts.kv, settings.mounts.transit, customer, name,
                                     reference=incident, field=field, version=version)
    if totp:
        value = totp_code(value)
    if copy:
        from netvault import clipboard

        tool = clipboard.copy(value)
        sys.stderr.write(f"copied to the clipboard ({tool}); cleared in {clipboard.CLEAR_AFTER} s unless it changes\n")
        return
    if as_json:
        # the value only on stdout, inside the JSON; JSON escapes control characters
        from netvault.text import json_text

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
        from netvault.text import printable

        sys.stderr.write("warning: the secret holds control or invisible characters (not stored by netvault): "
                         "shown escaped; pipe it or use --copy for the raw value\n")
        value = printable(value)
    sys.stdout.write(value + "\n")
    sys.stdout.flush()


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
    from netvault import lookup
    from netvault.macs import display_mac

    settings, vault = _client()
    self_data = vault.request("GET", "auth/token/lookup-self")["data"]
    policies = sorted(set((self_data.get("policies") or []) + (self_data.get("identity_policies") or [])))
    kv = settings.mounts.kv
    what, key, hits = lookup.find(vault, kv, term, policies=policies)
    # An engineer may also hold time-limited grants (a stored JIT token, or a
    # delivery waiting in the inbox). A MAC names one device, so when the
    # standing grants already found it, that extra search is skipped; IPs and
    # names repeat across customers, so for those it always runs.
    if not any(p in lookup.ELEVATED_POLICIES for p in policies) and not (what == "mac" and hits):
        pending = _inbox_customers(vault, kv, self_data.get("entity_id"))
        hits = hits + _time_limited_hits(settings, vault, term, pending, lookup.granted_customers(policies))
        hits.sort(key=lambda h: (h["customer"], h["device"]))
    rows = [{**h, "macs": [display_mac(m) for m in h["macs"]]} for h in hits]
    if as_json:
        from netvault.text import json_text

        sys.stdout.write(json_text({"term": term, "match": what, "key": key, "results": rows}, sort_keys=True) + "\n")
    elif rows:
        _table(rows, FIND_COLUMNS)
    if not rows:
        sys.stderr.write(f"no device matches {what} {key if what != 'mac' else display_mac(key)}\n")
        return 3
    return 0


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
    from netvault import lookup, tokenstore
    from netvault.errors import NetvaultError

    customers = {s[4:] for s in tokenstore.scopes(settings.address) if s.startswith("jit:")} | pending
    customers -= set(granted)
    if not customers:
        return []
    from datetime import datetime, timezone

    from netvault import access

    hits = []
    for customer in sorted(customers):
        try:
            token = access.customer_token(settings, vault, customer, datetime.now(timezone.utc))
        except NetvaultError:
            continue
        if not token:
            continue
        jit = vault.clone()
        jit.token = token
        hits += lookup.find(jit, settings.mounts.kv, term, policies=[f"nv-customer-{customer}"])[2]
    return hits


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(v) for v in value) or "-"
    from netvault.text import printable

    return printable(value)


def _table(rows: list[dict], columns) -> None:
    """Same layout as netvault.cli.output.table (which needs typer)."""
    cells = [[_cell(r.get(k)) for k, _ in columns] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (_, h) in enumerate(columns)]
    out = [("  ".join(h.upper().ljust(w) for (_, h), w in zip(columns, widths))).rstrip()]
    out += [("  ".join(c.ljust(w) for c, w in zip(r, widths))).rstrip() for r in cells]
    sys.stdout.write("\n".join(out) + "\n")


# -- lean argv parsing -------------------------------------------------------
def _parse(argv: list[str]):
    """(command, kwargs) for a plain reveal/find line, else None (full CLI)."""
    command, rest = argv[0], argv[1:]
    if command == "reveal":
        opts = {"incident": None, "field": None, "copy": False, "totp": False, "as_json": False, "version": None}
        valued = {"--incident": "incident", "-i": "incident", "--field": "field", "-f": "field",
                  "--version": "version"}
        flags = {"--copy": "copy", "--totp": "totp", "--json": "as_json"}
    elif command == "find":
        opts = {"as_json": False}
        valued = {}
        flags = {"--json": "as_json"}
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


def _run_fast(command: str, kwargs: dict) -> int:
    from netvault.errors import ExitCode, NetvaultError

    debug = os.environ.get("NETVAULT_DEBUG", "") not in ("", "0")
    try:
        if command == "reveal":
            do_reveal(**kwargs)
            return 0
        return do_find(**kwargs)
    except NetvaultError as exc:
        if debug:
            raise
        from netvault.text import printable

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
    if argv and argv[0] in ("reveal", "find") and os.environ.get("NETVAULT_NO_FAST", "") in ("", "0"):
        parsed = _parse(argv)
        if parsed is not None:
            sys.exit(_run_fast(*parsed))
    from netvault.cli.main import run as full_run

    full_run(argv)


if __name__ == "__main__":
    run()
