"""KeePass 2 databases (.kdbx, KDBX 3 and 4) through ``pykeepass``.

Every entry becomes a credential: title -> name (``plan.Namer``), username,
URL, notes, password, TOTP (the ``otp`` field, an otpauth URI), custom fields
(protected ones as extra sealed secrets, others appended to the notes), tags
from the group path (and the entry's own tags). ``{REF:...}`` field
references are resolved. Entries in the recycle bin, entries without any
secret and entries under a group no ``--map`` names are skipped, each with a
line saying why.
"""

from __future__ import annotations

from netvault.values import names
from netvault.errors import UsageError
from netvault.importing import plan as planmod

KDBX_MAGIC = bytes.fromhex("03d9a29a67fb4bb5")
KDB1_MAGIC = bytes.fromhex("03d9a29a65fb4bb5")


def open_database(path: str, password: str | None, keyfile: str | None):
    """PyKeePass, or one clear UsageError line (never the password)."""
    label = names.shown(str(path))
    planmod.check_file(path, "KeePass file")
    if keyfile is not None:
        planmod.check_file(keyfile, "key file")
    with open(path, "rb") as fh:
        magic = fh.read(8)
    if magic == KDB1_MAGIC:
        raise UsageError(f"{label} is a KeePass 1 (.kdb) database; open it in KeePass 2 and save it as .kdbx")
    if magic != KDBX_MAGIC:
        raise UsageError(f"{label} is not a KeePass database")
    from pykeepass import PyKeePass
    from pykeepass.exceptions import CredentialsError, HeaderChecksumError, PayloadChecksumError

    try:
        return PyKeePass(path, password=password, keyfile=keyfile)
    except CredentialsError:
        raise UsageError(f"cannot open {label}: wrong password or key file") from None
    except HeaderChecksumError as exc:
        if "not a keepass" in str(exc).lower():
            raise UsageError(f"{label} is not a KeePass database") from None
        raise UsageError(f"{label} is damaged (header checksum does not match)") from None
    except PayloadChecksumError:
        raise UsageError(f"{label} is damaged (its contents fail their checksum)") from None
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except Exception as exc:  # the parser raises many types on a damaged file; say which, not its text
        raise UsageError(f"{label} is damaged or not a KeePass 2 (.kdbx) file ({type(exc).__name__})") from None


def _customer(group_path: list[str], customer: str | None, mapping: dict[str, str]) -> str | None:
    if customer:
        return customer
    for i in range(len(group_path), 0, -1):
        hit = mapping.get("/".join(group_path[:i]))
        if hit:
            return hit
    return None


def read(path: str, *, password: str | None, keyfile: str | None = None, customer: str | None = None,
         mapping: dict[str, str] | None = None) -> planmod.Plan:
    kp = open_database(path, password, keyfile)
    plan = planmod.Plan(names.shown(str(path)))
    mapping = mapping or {}
    namer = planmod.Namer()
    recycle = kp.recyclebin_group
    recycle_uuid = recycle.uuid if recycle is not None else None
    sources: dict[str, int] = {}
    for entry in kp.entries:
        group = entry.group
        group_path = [g or "(unnamed)" for g in (group.path if group is not None else [])]
        uid = str(entry.uuid)
        title = entry.title or ""
        source = "/".join(group_path + [title.strip() or f"(untitled {uid[:8]})"])
        sources[source] = sources.get(source, 0) + 1
        if sources[source] > 1:
            source = f"{source} [{uid[:8]}]"
        in_recycle = False
        g = group
        while g is not None:
            if recycle_uuid is not None and g.uuid == recycle_uuid:
                in_recycle = True
                break
            g = g.parentgroup
        if in_recycle:
            plan.skip(source, None, None, "in the recycle bin")
            continue
        target = _customer(group_path, customer, mapping)
        if target is None:
            plan.skip(source, None, None, "its group is not mapped to a customer (--map GROUP=CUSTOMER)")
            continue
        _entry(plan, kp, entry, source, target, group_path, title, uid, namer)
    plan.check_duplicates()
    return plan


def _deref(kp, plan, source: str, what: str, value):
    if value and "{REF:" in value.upper():
        try:
            resolved = kp.deref(value)
        except (ValueError, TypeError):
            resolved = None
        if resolved is None:
            plan.problem(source, f"the field reference in {what} points at no entry")
            return None
        return str(resolved)
    return value


def _entry(plan, kp, entry, source, customer, group_path, title, uid, namer) -> None:
    problems_before = len(plan.problems)
    title = _deref(kp, plan, source, "the title", title) or ""
    username = _deref(kp, plan, source, "the username", entry.username) or ""
    url = _deref(kp, plan, source, "the URL", entry.url) or ""
    notes_parts = [(_deref(kp, plan, source, "the notes", entry.notes) or "").replace("\r\n", "\n")]
    password = _deref(kp, plan, source, "the password", entry.password) or ""
    secrets: dict[str, str] = {"password": password}
    remarks: list[str] = []
    otp = entry.otp or ""
    if otp:
        secrets["totp"] = otp
    used = {"password", "totp"}
    for key, value in sorted((entry.custom_properties or {}).items()):
        value = _deref(kp, plan, source, f"field {key!r}", value) or ""
        if not value:
            continue
        if entry.is_custom_property_protected(key):
            field = planmod.field_name(key, used)
            secrets[field] = value
            if field != key:
                remarks.append(f"protected field {names.shown(key)} sealed as {field}")
        else:
            notes_parts.append(f"{key}: {value}")
    if url:
        from netvault.values import validate

        try:
            validate.url_or_host(url)
        except UsageError:
            notes_parts.append(f"URL: {url}")
            remarks.append("URL not a valid URL or host: kept in the notes")
            url = ""
    attachments = len(entry.attachments or [])
    if attachments:
        remarks.append(f"{attachments} attachment(s) not imported")
    if len(plan.problems) > problems_before:
        return
    if not any(secrets.values()):
        plan.skip(source, customer, None, "no password or other secret to store")
        return
    name, note = namer.name(customer, title, uid, source)
    tags = planmod.tags_from(group_path + list(entry.tags or []))
    values = {"username": username, "url": url, "notes": "\n".join(p for p in notes_parts if p), "tags": ";".join(tags)}
    planmod.build_entry(plan, source, "credentials", customer, name, values, secrets,
                        note="; ".join(n for n in [note] + remarks if n))
