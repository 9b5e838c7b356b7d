"""The typed import plan: what each source entry becomes, and what is wrong.

Sources (``csv_source``, ``keepass_source``, ``bitwarden_source``) only read
their format; every value goes through ``Entry``-building helpers here, which
call the very validators ``records.Store`` uses for ``add``/``edit``, one field
at a time so that *all* problems of a file are reported, not the first.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from netvault.values import names
from netvault.errors import ExitCode, NetvaultError, UsageError
from netvault.values.results import json_result

#: Columns per kind, in export order. Secret columns are never exported.
COLUMNS = {
    "devices": ("customer", "name", "kind", "mac", "ip", "serial", "model", "location", "credential", "notes"),
    "credentials": ("customer", "name", "username", "url", "password", "totp", "notes", "tags"),
    "licences": ("customer", "name", "product", "vendor", "seats", "expires", "licence_key", "notes"),
}
SECRET_COLUMNS = {"credentials": ("password", "totp"), "licences": ("licence_key",), "devices": ()}
#: The largest file an import reads (checked on its size before reading).
MAX_FILE_BYTES = 64 * 1024 * 1024
ACTIONS = ("created", "unchanged", "updated", "skipped", "failed")


@dataclass
class Entry:
    """One record to write. ``fields``: validated non-secret fields in the
    stored shape (a ``""``/``[]`` value clears the field); ``secrets``:
    validated plaintexts (never shown: ``repr`` hides them)."""

    source: str
    customer: str
    kind: str  # credentials | devices | licences
    name: str
    fields: dict
    secrets: dict = field(default_factory=dict, repr=False)
    note: str = ""  # e.g. how the name was derived; shown as the reason


@dataclass
class Problem:
    source: str
    message: str
    code: ExitCode = ExitCode.USAGE

    def line(self) -> str:
        return f"{self.source}: {self.message}" if self.source else self.message


@json_result
@dataclass
class Outcome:
    source: str
    customer: str | None
    name: str | None
    action: str
    reason: str = ""

    def as_dict(self) -> dict:
        return {"source": self.source, "customer": self.customer, "name": self.name,
                "action": self.action, "reason": self.reason}


@dataclass
class Plan:
    label: str  # the file, for messages
    entries: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: list[Outcome] = field(default_factory=list)

    def problem(self, source: str, message: str, code: ExitCode = ExitCode.USAGE) -> None:
        self.problems.append(Problem(source, message, code))

    def skip(self, source: str, customer: str | None, name: str | None, reason: str) -> None:
        self.skipped.append(Outcome(source, customer, name, "skipped", reason))

    def check_duplicates(self) -> None:
        """Two entries for the same customer/kind/name: both sources named."""
        seen: dict[tuple[str, str, str], str] = {}
        for e in self.entries:
            key = (e.customer, e.kind, e.name)
            if key in seen:
                self.problem(e.source, f"duplicate name {e.customer}/{e.name} (also {seen[key]})")
            else:
                seen[key] = e.source


class ImportRefused(NetvaultError):
    """The plan has problems: nothing was written. ``problems`` holds every one."""

    def __init__(self, label: str, problems: list[Problem]) -> None:
        codes = {p.code for p in problems}
        self.exit_code = codes.pop() if len(codes) == 1 else ExitCode.USAGE
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in {label}; nothing written")


def check_file(path: str, what: str) -> int:
    """Refuse a missing, non-regular or oversized file by its size, before reading."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise UsageError(f"cannot read {what} {names.shown(str(path))}: {exc.strerror or type(exc).__name__}") from None
    import stat

    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{what} {names.shown(str(path))} is not a regular file")
    if st.st_size > MAX_FILE_BYTES:
        raise UsageError(f"{what} {names.shown(str(path))} is {st.st_size / 2**20:,.0f} MiB; "
                         f"the limit is {MAX_FILE_BYTES // 2**20} MiB (split it)")
    return st.st_size


def read_bytes(path: str, what: str) -> bytes:
    check_file(path, what)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {what} {names.shown(str(path))}: {exc.strerror or type(exc).__name__}") from None
    if len(data) > MAX_FILE_BYTES:  # grew while we looked
        raise UsageError(f"{what} {names.shown(str(path))} is larger than {MAX_FILE_BYTES // 2**20} MiB")
    return data


# -- values -------------------------------------------------------------------
_LIST_SPLIT = re.compile(r"[;,\s]+")


def split_list(value: str) -> list[str]:
    """MACs / IPs in one cell: separated by ';', ',' or whitespace."""
    return [v for v in _LIST_SPLIT.split(value.strip()) if v]


def totp_seed(value: str) -> tuple[str, str]:
    """(base32 seed, note) from a seed or an ``otpauth://totp/...`` URI.
    Raises UsageError without the value in the message."""
    from urllib.parse import parse_qs, urlsplit

    note = ""
    if value.strip().lower().startswith("otpauth://"):
        parts = urlsplit(value.strip())
        if parts.netloc.lower() != "totp":
            raise UsageError("TOTP: only otpauth://totp/ URIs are supported (HOTP counters are not)")
        query = parse_qs(parts.query)
        seed = (query.get("secret") or [""])[0]
        if not seed:
            raise UsageError("TOTP URI holds no secret")
        odd = [k for k, default in (("digits", "6"), ("period", "30"), ("algorithm", "SHA1"))
               if (query.get(k) or [default])[0].upper() != default]
        if odd:
            note = f"TOTP {', '.join(odd)} not the default: stored the seed only"
        value = seed
    from netvault.records.store import Store

    return Store._secret_fields({"totp": value})["totp"], note


def secret(field_name: str, value: str) -> str:
    from netvault.records.store import Store

    return Store._secret_fields({field_name: value})[field_name]


def _validate(kind: str, column: str, raw: str):
    """One column's value in the stored shape, by the Store's own validators.
    Returns (store key, value)."""
    from netvault.records.store import Store

    if kind == "devices":
        key = {"mac": "macs", "ip": "ips"}.get(column, column)
        arg = split_list(raw) if key in ("macs", "ips") else raw
        return key, Store.device_values(**{key: arg})[key]
    if kind == "credentials":
        arg = [t for t in re.split(r"[;,]", raw)] if column == "tags" else raw
        return column, Store._credential_fields(**{column: arg})[column]
    return column, Store._licence_fields(**{column: raw})[column]


def build_entry(plan: Plan, source: str, kind: str, customer: str, name: str, values: dict[str, str],
                secrets: dict[str, str], *, note: str = "") -> Entry | None:
    """Validate one source entry; adds its problems to the plan (all of them).

    ``values``: column -> raw text for the non-secret columns the source has
    ("" clears the field); ``secrets``: field -> plaintext ("" = not given)."""
    errors: list[str] = []
    try:
        names.slug(customer, "customer")
    except UsageError as exc:
        errors.append(exc.message)
    try:
        names.slug(name, "name")
    except UsageError as exc:
        errors.append(exc.message)
    fields: dict = {}
    for column, raw in values.items():
        if raw == "":
            key = {"mac": "macs", "ip": "ips"}.get(column, column) if kind == "devices" else column
            fields[key] = [] if key in ("macs", "ips", "tags") else ""
            continue
        if column == "notes":
            raw = raw.replace("\r\n", "\n")
        try:
            key, value = _validate(kind, column, raw)
            fields[key] = value
        except UsageError as exc:
            errors.append(exc.message)
    sealed: dict[str, str] = {}
    for field_name, raw in secrets.items():
        if raw == "":
            continue
        try:
            if field_name == "totp":
                sealed["totp"], extra = totp_seed(raw)
                note = "; ".join(n for n in (note, extra) if n)
            else:
                sealed[field_name] = secret(field_name, raw)
        except UsageError as exc:
            errors.append(exc.message)
    for message in errors:
        plan.problem(source, message)
    if errors:
        return None
    entry = Entry(source, customer, kind, name, fields, sealed, note)
    plan.entries.append(entry)
    return entry


class Namer:
    """Record names for password-manager entries, deterministic per file.

    The title's slug (``names.slugify``); an empty or not fully Latin title,
    or one a previous entry of the same customer already took, gets the first
    8 hex digits of the entry's own UUID appended, so the same file always
    gives the same names. Each such case returns a note saying so."""

    SLUG_ROOM = names.MAX_SLUG - 9

    def __init__(self) -> None:
        self.taken: dict[str, dict[str, str]] = {}

    def name(self, customer: str, title: str, uid: str, source: str) -> tuple[str, str]:
        slug, lossless = names.slugify(title or "", self.SLUG_ROOM)
        short = uid.replace("-", "").lower()[:8] or "0"
        taken = self.taken.setdefault(customer, {})
        note = ""
        if not slug or not lossless:
            name = f"{slug or 'entry'}-{short}"
            note = (f"no title: named {name}" if not (title or "").strip()
                    else f"title not fully Latin: named {name}")
        elif slug in taken:
            name = f"{slug}-{short}"
            note = f"name {slug} already taken by {taken[slug]}: named {name}"
        else:
            name = slug
        if name in taken:  # same UUID prefix twice: fall back to the whole UUID
            name = f"{(slug or 'entry')[:names.MAX_SLUG - 33]}-{uid.replace('-', '').lower()[:32]}"
            note = f"name collision: named {name}"
        taken[name] = source
        return name, note


def field_name(label: str, used: set[str]) -> str:
    """A secret field name (slug) for a password manager's custom field label."""
    base, _ = names.slugify(label or "", 48)
    base = base or "field"
    name, n = base, 2
    while name in used:
        name, n = f"{base}-{n}", n + 1
    used.add(name)
    return name


def tags_from(parts: list[str]) -> list[str]:
    """Tags from group/folder names: slugs of at most 32 characters, at most 20."""
    from netvault.values import validate

    out: list[str] = []
    for part in parts:
        tag, _ = names.slugify(part or "", 32)
        if tag and tag not in out:
            out.append(tag)
    return out[:validate.MAX_TAGS]
