"""``netvault customer|credential|device|licence|history|reveal|find``.

Thin: parse, call ``netvault.records.store`` / ``netvault.records.lookup``, render. Domain
code is imported inside the commands so ``netvault --help`` stays fast.
``reveal``, ``find`` and the everyday reads (credential list/show, device
list) are one call to their typer-free body in ``netvault.cli.lean``, which
the lean entry point (``netvault.cli.fast``) runs too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from netvault.cli.output import JsonOption, emit_json, fields, info, table, warn

customer_app = typer.Typer(help="Customers: profile, transit key, Vault policy.", no_args_is_help=True, rich_markup_mode=None)
credential_app = typer.Typer(help="Credentials: username, URL, sealed password/TOTP/extra secrets.", no_args_is_help=True, rich_markup_mode=None)
device_app = typer.Typer(help="Devices: kind, MACs, IPs, serial, model, location, linked credential.", no_args_is_help=True, rich_markup_mode=None)
licence_app = typer.Typer(help="Licences: product, vendor, seats, expiry, sealed licence key.", no_args_is_help=True, rich_markup_mode=None)

Version = Annotated[Optional[int], typer.Option("--version", min=1, help="Show this earlier version (see `netvault history`).")]
IfVersion = Annotated[Optional[int], typer.Option("--if-version", min=1, help="Only write if the record is still at this version (else exit 7).")]


def complete_record(incomplete: str) -> list[str]:
    """Shell completion: CUSTOMER/ then CUSTOMER/NAME, from Vault (netvault.cli.complete)."""
    from netvault.cli.complete import records

    return records(incomplete)


def complete_customer(incomplete: str) -> list[str]:
    """Shell completion: customers the caller may see (netvault.cli.complete)."""
    from netvault.cli.complete import customers

    return customers(incomplete)


Ref = Annotated[str, typer.Argument(help="CUSTOMER/NAME", show_default=False, autocompletion=complete_record)]
CustomerArg = Annotated[str, typer.Argument(help="Customer slug.", show_default=False, autocompletion=complete_customer)]
Notes = Annotated[Optional[str], typer.Option("--notes", help="Free text (at most 4000 characters).")]
Stdin = Annotated[bool, typer.Option("--stdin", help="Read secret values from standard input, one per line, in the order listed above.")]
Generate = Annotated[bool, typer.Option("--generate", help="Generate the (first) secret with the `secrets` module.")]
Length = Annotated[Optional[int], typer.Option("--length", help="Generated password length (8-128, default 24).")]
Words = Annotated[Optional[int], typer.Option("--words", help="Generate a passphrase of N words (3-20) instead.")]


def _store(customer: str | None = None):
    """The record store; with ``customer``, reading with the token that may read it
    (a time-limited grant's token where that is the caller's access: netvault.access.grant_client)."""
    from datetime import datetime, timezone

    from netvault.records.facade import NetVault

    return NetVault.connect().store(customer, now=datetime.now(timezone.utc))


def _ref(ref: str) -> tuple[str, str]:
    from netvault.values import names

    return names.record_ref(ref)


def _show(obj: dict, as_json: bool, order: list[str]) -> None:
    if as_json:
        emit_json(obj)
        return
    keys = [k for k in order if k in obj] + sorted(k for k in obj if k not in order)
    fields([(k, obj[k]) for k in keys])


def _done(obj: Any, as_json: bool, message: str) -> None:
    """A write's message on stderr; with --json its typed result (records/results.py) on stdout."""
    info(message)
    if as_json:
        emit_json(obj)


def _secret_values(field_names: list[str], stdin: bool, generate: bool, length: Optional[int], words: Optional[int]) -> dict:
    from netvault.local import secretinput
    from netvault.errors import UsageError

    if (length is not None or words is not None) and not generate:
        raise UsageError("--length/--words only go with --generate")
    first = secretinput.generate(length, words) if generate else None
    return secretinput.collect(field_names, stdin=stdin, generate_first=first)


# -- customer ------------------------------------------------------------------
Company = Annotated[Optional[str], typer.Option("--company", help="Company name.")]
Address = Annotated[Optional[str], typer.Option("--address", help="Street address.")]
Postcode = Annotated[Optional[str], typer.Option("--postcode")]
City = Annotated[Optional[str], typer.Option("--city")]
Contact = Annotated[Optional[str], typer.Option("--contact", help="Contact person.")]
Phone = Annotated[Optional[str], typer.Option("--phone")]
Email = Annotated[Optional[str], typer.Option("--email")]
Kvk = Annotated[Optional[str], typer.Option("--kvk", help="KvK number (8 digits).")]
Vat = Annotated[Optional[str], typer.Option("--vat", help="VAT number, e.g. NL004495445B01.")]
Bank = Annotated[Optional[str], typer.Option("--bank", help="Bank account (IBAN).")]
Retention = Annotated[Optional[str], typer.Option("--retention", help="Years kept after the end of service: 7y (default) or e.g. 10y (1y-30y).")]

PROFILE_ORDER = ["customer", "company", "address", "postcode", "city", "contact", "phone", "email", "kvk", "vat",
                 "bank", "notes", "credentials", "devices", "licences", "id", "version", "created_time"]


@customer_app.command("add")
def customer_add(customer: CustomerArg, company: Company = None, address: Address = None, postcode: Postcode = None,
                 city: City = None, contact: Contact = None, phone: Phone = None, email: Email = None,
                 kvk: Kvk = None, vat: Vat = None, bank: Bank = None, notes: Notes = None, retention: Retention = None,
                 as_json: JsonOption = False) -> None:
    """Add a customer (admin only): its transit key, its Vault policy, its profile.

    Example:  netvault customer add acme --company "Acme BV" --city Utrecht --email it@acme.example --retention 10y
    """
    result = _store().add_customer(customer, dict(
        company=company, address=address, postcode=postcode, city=city, contact=contact, phone=phone,
        email=email, kvk=kvk, vat=vat, bank=bank, notes=notes, retention=retention))
    from netvault.values.names import shown

    for name in result.skipped:
        warn(f"skipped policy {shown(name)}: not a valid customer name (see `netvault setup --check`)")
    _done(result, as_json, f"added customer {customer} (transit key {result.transit_key}, policy {result.policy})")


@customer_app.command("list")
def customer_list(as_json: JsonOption = False) -> None:
    """List the customers you may see (engineers: those granted to them), with their state.

    State (team leads, admins): active, ending (date), ended (date), past-retention (date).
    Ends whose date has come are put in force first.

    Example:  netvault customer list --json
    """
    from datetime import datetime, timezone

    from netvault.local import config
    from netvault.access import grant_client as grantclient
    from netvault.cli.lifecycle import _state_text, states

    settings = config.load()
    store = _store()
    rows = store.list_customers()
    # time-limited grants: each read with its own token, shown with its end
    now = datetime.now(timezone.utc)
    policies, entity_id = grantclient.login_policies(store.vault)
    limited, problems = grantclient.active_time_limited(settings, store.vault, now, policies=policies, entity_id=entity_id)
    for p in problems:
        warn(p)
    seen = {r["customer"] for r in rows}
    for g in limited:
        if g["state"] != "active" or g["customer"] in seen:
            continue
        client = grantclient.client_for(settings, store.vault, g["customer"], now, policies=policies, entity_id=entity_id)
        row = store.customer_row(client, g["customer"]) or {"customer": g["customer"]}
        rows.append({**row, "access_until": g["expires_at"]})
    known = states()
    for row in rows:
        st = known.get(row["customer"])
        if st:
            row.update(state=st["state"], end_on=st["end_on"], retention=st["retention"],
                       retention_until=st["retention_until"], shredded=st["shredded"])
    if as_json:
        from netvault.records.results import CustomerRow, CustomerRowWithState

        emit_json([(CustomerRowWithState if "state" in row else CustomerRow)(**row) for row in rows])
        return
    for row in rows:
        row["state_text"] = _state_text(row) if "state" in row else ""
    table(rows, [("customer", "customer"), ("company", "company"), ("city", "city"), ("contact", "contact"), ("phone", "phone"),
                 *([("access_until", "access until")] if any(r.get("access_until") for r in rows) else []),
                 ("state_text", "state")], empty="(no customers)")


@customer_app.command("show")
def customer_show(customer: CustomerArg, version: Version = None, as_json: JsonOption = False) -> None:
    """Show a customer's profile (and how many records it has).

    Example:  netvault customer show acme --version 2
    """
    _show(_store(customer).show_customer(customer, version), as_json, PROFILE_ORDER)


@customer_app.command("edit")
def customer_edit(customer: CustomerArg, company: Company = None, address: Address = None, postcode: Postcode = None,
                  city: City = None, contact: Contact = None, phone: Phone = None, email: Email = None,
                  kvk: Kvk = None, vat: Vat = None, bank: Bank = None, notes: Notes = None,
                  retention: Retention = None, if_version: IfVersion = None, as_json: JsonOption = False) -> None:
    """Change profile fields (an empty value clears one). Check-and-set: a concurrent edit is exit 7.

    Example:  netvault customer edit acme --phone "+31 30 123 4567" --if-version 3
    """
    result = _store().edit_customer(customer, dict(
        company=company, address=address, postcode=postcode, city=city, contact=contact, phone=phone,
        email=email, kvk=kvk, vat=vat, bank=bank, notes=notes, retention=retention), if_version)
    _done(result, as_json, f"customer {customer} is now at version {result.version}")


@customer_app.command("rotate-key")
def customer_rotate_key(customer: CustomerArg, as_json: JsonOption = False) -> None:
    """Rotate the customer's transit key and rewrap every sealed field (reveals nothing).

    Example:  netvault customer rotate-key acme
    """
    result = _store().rotate_key(customer)
    _done(result, as_json, f"rotated {result.transit_key} to version {result.key_version}; "
                           f"rewrapped {result.fields_rewrapped} field(s) in {result.records_rewrapped} record(s)")


# -- credential -----------------------------------------------------------------
Username = Annotated[Optional[str], typer.Option("--username", "-u", help="Login name (not secret).")]
Url = Annotated[Optional[str], typer.Option("--url", help="URL or host[:port], e.g. https://192.0.2.1:8443.")]
Tags = Annotated[Optional[list[str]], typer.Option("--tag", help="Tag (repeat, or comma-separated).")]
from netvault.cli.lean import RECORD_ORDER  # noqa: E402  (one list for both paths)


@credential_app.command("add")
def credential_add(ref: Ref, username: Username = None, url: Url = None, notes: Notes = None, tag: Tags = None,
                   totp: Annotated[bool, typer.Option("--totp", help="Also store a TOTP seed (base32): prompted, or the next stdin line.")] = False,
                   secret: Annotated[Optional[list[str]], typer.Option("--secret", help="Also store an extra named secret FIELD (repeat): prompted, or next stdin lines.")] = None,
                   stdin: Stdin = False, generate: Generate = False, length: Length = None, words: Words = None,
                   as_json: JsonOption = False) -> None:
    """Add a credential. Secrets are never arguments: prompted twice, --stdin
    (lines: password, then TOTP seed, then each --secret field), or --generate.

    Example:  netvault credential add acme/fw-admin --username admin --url https://192.0.2.1 --generate --length 32
    """
    customer, name = _ref(ref)
    from netvault.values import names

    extra = [names.slug(f, "secret field name") for f in (secret or [])]
    wanted = ["password"] + (["totp"] if totp else []) + extra
    if len(set(wanted)) != len(wanted):
        from netvault.errors import UsageError

        raise UsageError("secret field names must be distinct (password and totp are built in)")
    values = _secret_values(wanted, stdin, generate, length, words)
    result = _store().add_credential(customer, name, username=username, url=url, notes=notes, tags=tag, secrets=values)
    _done(result, as_json, f"added credential {customer}/{name} (sealed: {', '.join(result.secret_fields)})")


@credential_app.command("list")
def credential_list(customer: CustomerArg, tag: Tags = None, as_json: JsonOption = False) -> None:
    """List a customer's credentials (no secrets: those stay sealed).
    --tag keeps those carrying every given tag.

    Example:  netvault credential list acme --tag vpn
    """
    from netvault.cli import lean

    lean.credential_list(customer=customer, tag=tag, as_json=as_json)


@credential_app.command("show")
def credential_show(ref: Ref, version: Version = None, as_json: JsonOption = False) -> None:
    """Show a credential without its secrets (use `netvault reveal` for those).

    Example:  netvault credential show acme/fw-admin --json
    """
    from netvault.cli import lean

    lean.credential_show(ref=ref, version=version, as_json=as_json)


@credential_app.command("edit")
def credential_edit(ref: Ref, username: Username = None, url: Url = None, notes: Notes = None, tag: Tags = None,
                    if_version: IfVersion = None, as_json: JsonOption = False) -> None:
    """Change a credential's non-secret fields (an empty value clears one).

    Example:  netvault credential edit acme/fw-admin --url https://fw.acme.example --if-version 2
    """
    customer, name = _ref(ref)
    result = _store().edit_credential(customer, name, username=username, url=url, notes=notes, tags=tag, if_version=if_version)
    _done(result, as_json, f"credential {customer}/{name} is now at version {result.version}")


@credential_app.command("rotate")
def credential_rotate(ref: Ref,
                      field: Annotated[Optional[list[str]], typer.Option("--field", help="Secret field to replace or add (repeat; default: password).")] = None,
                      remove_field: Annotated[Optional[list[str]], typer.Option("--remove-field", help="Drop a secret field (repeat).")] = None,
                      stdin: Stdin = False, generate: Generate = False, length: Length = None, words: Words = None,
                      if_version: IfVersion = None, as_json: JsonOption = False) -> None:
    """Set a new value for a sealed field (e.g. after changing the password on the device).

    Example:  netvault credential rotate acme/fw-admin --generate --words 5
    """
    customer, name = _ref(ref)
    wanted = list(dict.fromkeys(field or ([] if remove_field else ["password"])))
    values = _secret_values(wanted, stdin, generate, length, words) if wanted else {}
    result = _store().set_secrets("credentials", customer, name, values, remove=remove_field, if_version=if_version)
    _done(result, as_json, f"credential {customer}/{name} is now at version {result.version} "
                           f"(sealed: {', '.join(result.secret_fields)})")


Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask; delete at once.")]


def _confirm_rm(customer: str, name: str, yes: bool) -> None:
    """rm asks for the record's name (typed; read from stdin when it is not a
    terminal) unless --yes; anything else leaves the record alone."""
    if yes:
        return
    from netvault.cli.output import confirm_by_typing
    from netvault.errors import NetvaultError

    confirm_by_typing(name, f"delete {customer}/{name}? type its name ({name}) to confirm: ",
                      f"not deleted: confirmation did not match {name!r} (or give --yes)", NetvaultError)


@credential_app.command("rm")
def credential_rm(ref: Ref, yes: Yes = False, as_json: JsonOption = False) -> None:
    """Delete a credential (its history stays: `netvault history`).

    Example:  netvault credential rm acme/old-vpn
    """
    customer, name = _ref(ref)
    _confirm_rm(customer, name, yes)
    result = _store().remove("credentials", customer, name)
    _done(result, as_json, f"deleted credential {customer}/{name}")


@credential_app.command("undelete")
def credential_undelete(ref: Ref, as_json: JsonOption = False) -> None:
    """Restore a removed credential (the version `rm` deleted).

    Example:  netvault credential undelete acme/old-vpn
    """
    customer, name = _ref(ref)
    result = _store().undelete("credentials", customer, name)
    _done(result, as_json, f"restored credential {customer}/{name} (version {result.restored_version})")


# -- device ----------------------------------------------------------------------
Kind = Annotated[Optional[str], typer.Option("--kind", help="modem, router, firewall, switch, access-point, server, nas, printer or other.")]
Macs = Annotated[Optional[list[str]], typer.Option("--mac", help="MAC address in any common notation (repeat).")]
Force = Annotated[bool, typer.Option("--force", help="Record a MAC even if another device you may see has it.")]
Ips = Annotated[Optional[list[str]], typer.Option("--ip", help="IP address (repeat).")]
Serial = Annotated[Optional[str], typer.Option("--serial")]
Model = Annotated[Optional[str], typer.Option("--model")]
Location = Annotated[Optional[str], typer.Option("--location")]
Linked = Annotated[Optional[str], typer.Option("--credential", help="Name of this customer's credential for the device.")]


def _device_view(obj: dict) -> dict:
    from netvault.values.macs import with_vendor

    return {**obj, "macs": [with_vendor(m) for m in obj.get("macs") or []]}


@device_app.command("add")
def device_add(ref: Ref, kind: Kind = None, mac: Macs = None, ip: Ips = None, serial: Serial = None, model: Model = None,
               location: Location = None, credential: Linked = None, notes: Notes = None, tag: Tags = None,
               force: Force = False, as_json: JsonOption = False) -> None:
    """Add a device; its MACs and IPs go into the find index.

    Example:  netvault device add acme/fw-main --kind firewall --mac AA-BB-CC-DD-EE-FF --ip 192.0.2.1 --location "server room"
    """
    customer, name = _ref(ref)
    result = _store().add_device(customer, name, kind=kind or "", macs=mac or [], ips=ip or [], serial=serial,
                                 model=model, location=location, credential=credential, notes=notes, tags=tag, force=force)
    _done(result, as_json, f"added device {customer}/{name}")


@device_app.command("list")
def device_list(customer: CustomerArg, kind: Kind = None, tag: Tags = None, as_json: JsonOption = False) -> None:
    """List a customer's devices; --kind and --tag narrow the list.

    Example:  netvault device list acme --kind switch --tag core
    """
    from netvault.cli import lean

    lean.device_list(customer=customer, kind=kind, tag=tag, as_json=as_json)


@device_app.command("show")
def device_show(ref: Ref, version: Version = None, as_json: JsonOption = False) -> None:
    """Show a device, its MACs with vendor (OUI) where known.

    Example:  netvault device show acme/fw-main
    """
    customer, name = _ref(ref)
    obj = _store(customer).show("devices", customer, name, version)
    if as_json:
        from netvault.values.macs import display_mac, vendor

        obj = {**obj, "mac_details": [{"mac": display_mac(m), "vendor": vendor(m)} for m in obj.get("macs") or []]}
        emit_json(obj)
        return
    _show(_device_view(obj), False, RECORD_ORDER)


@device_app.command("edit")
def device_edit(ref: Ref, kind: Kind = None, mac: Macs = None, ip: Ips = None, serial: Serial = None, model: Model = None,
                location: Location = None, credential: Linked = None, notes: Notes = None, tag: Tags = None,
                force: Force = False, if_version: IfVersion = None, as_json: JsonOption = False) -> None:
    """Change a device (--mac/--ip replace the whole list); the find index follows.

    Example:  netvault device edit acme/fw-main --ip 192.0.2.1 --ip 198.51.100.7 --if-version 1
    """
    customer, name = _ref(ref)
    result = _store().edit_device(customer, name, kind=kind, macs=mac, ips=ip, serial=serial, model=model,
                                  location=location, credential=credential, notes=notes, tags=tag,
                                  force=force, if_version=if_version)
    _done(result, as_json, f"device {customer}/{name} is now at version {result.version}")


@device_app.command("rm")
def device_rm(ref: Ref, yes: Yes = False, as_json: JsonOption = False) -> None:
    """Delete a device and its find-index entries (history stays).

    Example:  netvault device rm acme/old-switch
    """
    customer, name = _ref(ref)
    _confirm_rm(customer, name, yes)
    result = _store().remove("devices", customer, name)
    _done(result, as_json, f"deleted device {customer}/{name}")


@device_app.command("undelete")
def device_undelete(ref: Ref, as_json: JsonOption = False) -> None:
    """Restore a removed device (the version `rm` deleted).

    Example:  netvault device undelete acme/old-switch
    """
    customer, name = _ref(ref)
    result = _store().undelete("devices", customer, name)
    _done(result, as_json, f"restored device {customer}/{name} (version {result.restored_version})")


# -- licence ---------------------------------------------------------------------
Product = Annotated[Optional[str], typer.Option("--product")]
Vendor = Annotated[Optional[str], typer.Option("--vendor")]
Seats = Annotated[Optional[str], typer.Option("--seats", help="Number of seats (whole number).")]
Expires = Annotated[Optional[str], typer.Option("--expires", help="Expiry date, YYYY-MM-DD.")]
WithKey = Annotated[bool, typer.Option("--with-key", help="Store a licence key: prompted twice (or --stdin).")]
KeyStdin = Annotated[bool, typer.Option("--stdin", help="Read the licence key from standard input.")]


def _licence_key(with_key: bool, stdin: bool) -> Optional[str]:
    if not (with_key or stdin):
        return None
    from netvault.local import secretinput

    return secretinput.collect(["licence_key"], stdin=stdin)["licence_key"]


@licence_app.command("add")
def licence_add(ref: Ref, product: Product = None, vendor: Vendor = None, seats: Seats = None, expires: Expires = None,
                notes: Notes = None, with_key: WithKey = False, stdin: KeyStdin = False, as_json: JsonOption = False) -> None:
    """Add a licence; its key (optional) is sealed like a password.

    Example:  echo "$KEY" | netvault licence add acme/m365 --product "Microsoft 365" --seats 25 --expires 2027-03-31 --stdin
    """
    customer, name = _ref(ref)
    store = _store()
    key = _licence_key(with_key, stdin)
    result = store.add_licence(customer, name, product=product or "", vendor=vendor, seats=seats, expires=expires,
                               notes=notes, licence_key=key)
    _done(result, as_json, f"added licence {customer}/{name}")


@licence_app.command("list")
def licence_list(customer: Annotated[Optional[str], typer.Argument(help="Customer slug (default: every customer you may see).")] = None,
                 expiring: Annotated[Optional[str], typer.Option("--expiring", help="Only those expiring within this period (e.g. 30d), expired included.")] = None,
                 as_json: JsonOption = False) -> None:
    """List licences of one customer, or across customers; soonest expiry first.

    Example:  netvault licence list --expiring 30d
    """
    from datetime import datetime, timezone

    from netvault.values import durations

    window = durations.parse(expiring, what="--expiring", maximum=10 * 366 * 86400) if expiring else None
    rows = _store().list_licences(customer, expiring=window, today=datetime.now(timezone.utc).date())
    if as_json:
        emit_json(rows)
        return
    table(rows, [("customer", "customer"), ("name", "name"), ("product", "product"), ("vendor", "vendor"), ("seats", "seats"),
                 ("expires", "expires"), ("days_left", "days left")], empty="(no licences)")


@licence_app.command("show")
def licence_show(ref: Ref, version: Version = None, as_json: JsonOption = False) -> None:
    """Show a licence without its key (use `netvault reveal --field licence_key`).

    Example:  netvault licence show acme/m365
    """
    customer, name = _ref(ref)
    _show(_store(customer).show("licences", customer, name, version), as_json, RECORD_ORDER)


@licence_app.command("edit")
def licence_edit(ref: Ref, product: Product = None, vendor: Vendor = None, seats: Seats = None, expires: Expires = None,
                 notes: Notes = None, with_key: Annotated[bool, typer.Option("--with-key", help="Replace the licence key (prompted twice, or --stdin).")] = False,
                 stdin: KeyStdin = False, if_version: IfVersion = None, as_json: JsonOption = False) -> None:
    """Change a licence's fields, or replace its key.

    Example:  netvault licence edit acme/m365 --seats 30 --expires 2028-03-31
    """
    customer, name = _ref(ref)
    store = _store()
    key = _licence_key(with_key, stdin)
    changes = dict(product=product, vendor=vendor, seats=seats, expires=expires, notes=notes)
    if key is not None:
        if any(v is not None for v in changes.values()):
            from netvault.errors import UsageError

            raise UsageError("replace the key on its own (--with-key/--stdin without other fields)")
        result = store.set_secrets("licences", customer, name, {"licence_key": key}, if_version=if_version)
    else:
        result = store.edit_licence(customer, name, if_version=if_version, **changes)
    _done(result, as_json, f"licence {customer}/{name} is now at version {result.version}")


@licence_app.command("rm")
def licence_rm(ref: Ref, yes: Yes = False, as_json: JsonOption = False) -> None:
    """Delete a licence (history stays).

    Example:  netvault licence rm acme/old-av
    """
    customer, name = _ref(ref)
    _confirm_rm(customer, name, yes)
    result = _store().remove("licences", customer, name)
    _done(result, as_json, f"deleted licence {customer}/{name}")


@licence_app.command("undelete")
def licence_undelete(ref: Ref, as_json: JsonOption = False) -> None:
    """Restore a removed licence (the version `rm` deleted).

    Example:  netvault licence undelete acme/old-av
    """
    customer, name = _ref(ref)
    result = _store().undelete("licences", customer, name)
    _done(result, as_json, f"restored licence {customer}/{name} (version {result.restored_version})")


# -- history, reveal, find ----------------------------------------------------------
def history(ref: Annotated[str, typer.Argument(help="CUSTOMER/NAME, or CUSTOMER for the profile.", show_default=False)],
            kind: Annotated[Optional[str], typer.Option("--kind", help="credential, device or licence (when NAME is ambiguous).")] = None,
            audit_file: Annotated[Optional[list[Path]], typer.Option("--audit-file", "--file", help="Audit file(s) to find who wrote each version (default: the embedded server's trail, when it is on this machine).")] = None,
            as_json: JsonOption = False) -> None:
    """List the versions of a record with who made each and when.

    The author comes from the audit trail (what Vault binds to the write's
    token), never from record fields; "unknown" (with a flag) when the write is
    not in the trail or cannot be traced. Show a version with `... show REF
    --version N`, an earlier secret with `reveal REF --version N --incident ...`.

    Example:  netvault history acme/fw-admin --audit-file /var/log/openbao/audit.log
    """
    from netvault.records import authors
    from netvault.values import names
    from netvault.audit.events import Resolver

    if "/" in ref:
        customer, name = _ref(ref)
    else:
        customer, name = names.slug(ref, "customer"), None
    if audit_file:
        files = [str(p) for p in audit_file]
    else:
        from netvault.audit import default_audit_files

        files = [str(p) for p in default_audit_files() if p.is_file()]
    store = _store(customer)
    result = authors.record_history(store, kind, customer, name, audit_files=files,
                                    resolver=Resolver(store.vault, store.kv, store.mounts.userpass))
    if not files:
        warn("no audit file given or found: authors are unknown (give --audit-file)")
    if as_json:
        emit_json(result)
        return
    info(f"{result['kind']} {customer}{'/' + name if name else ''}: current version {result['current_version']}")
    rows = [{**v, "flags": ", ".join(v.get("author_flags") or []) or None} for v in result["versions"]]
    table(rows, [("version", "version"), ("created_time", "created"), ("author", "author"), ("flags", "flags"),
                 ("deleted", "deleted"), ("destroyed", "destroyed")])


def reveal(ref: Ref,
           incident: Annotated[Optional[str], typer.Option("--incident", "-i", help="Incident/change reference, e.g. INC-1234 (Vault requires it).")] = None,
           field: Annotated[Optional[str], typer.Option("--field", "-f", help="Sealed field (default: password, or licence_key for a licence).")] = None,
           copy: Annotated[bool, typer.Option("--copy", help="Put it on the clipboard instead (cleared after 45 s unless changed).")] = False,
           totp: Annotated[bool, typer.Option("--totp", help="Print the current TOTP code from the stored seed.")] = False,
           as_json: Annotated[bool, typer.Option("--json", help="Print {field, value, record, incident} as JSON.")] = False,
           break_glass: Annotated[bool, typer.Option("--break-glass", help="On call, without a grant: send the break-glass reference (INC-42 -> BG-INC-42). Flagged for review.")] = False,
           version: Annotated[Optional[int], typer.Option("--version", min=1, help="Reveal the value of this earlier version (see `netvault history`); same rules as any reveal.")] = None) -> None:
    """Decrypt a sealed field through Vault transit, for an incident. Prints the secret alone.

    Vault itself refuses a reveal without a reference matching the configured
    patterns (default INC-* and CHG-*); every reveal is in its audit log.
    With --break-glass (on-call role only) the reference gets the break-glass
    form (default BG-<incident>) and the reveal is flagged until reviewed.

    Example:  ssh admin@fw "$(netvault reveal acme/fw-admin --incident INC-4711)"
    Example:  netvault reveal acme/fw-admin --break-glass --incident INC-42
    """
    from netvault.cli import lean

    lean.reveal(ref=ref, incident=incident, field=field, copy=copy, totp=totp, as_json=as_json,
                break_glass=break_glass, version=version)


def find(term: Annotated[str, typer.Argument(
             help="MAC (any notation), MAC vendor prefix (00:23:04), IP, subnet (10.10.0.0/24) or text.",
             show_default=False)],
         as_json: JsonOption = False) -> None:
    """Find devices and credentials across every customer you may see.

    A full MAC or IP, a subnet, a MAC vendor prefix, or text matched
    case-insensitively in device and credential names, model, serial,
    location, tags and MAC vendor (e.g. cisco). Reads the search documents
    kept in Vault at write time (never a scan of records). Exit 3 when
    nothing matches.

    Example:  netvault find "meter cupboard"
    """
    from netvault.cli import lean

    code = lean.find(term=term, as_json=as_json)
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.add_typer(customer_app, name="customer")
    app.add_typer(credential_app, name="credential")
    app.add_typer(device_app, name="device")
    app.add_typer(licence_app, name="licence")
    app.command("history")(history)
    app.command("reveal")(reveal)
    app.command("find")(find)
