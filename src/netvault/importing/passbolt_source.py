"""Passbolt CSV exports (issue 12), in every CSV flavour Passbolt writes.

Passbolt's "Export" offers KDBX and CSV in several flavours; each CSV flavour
is a fixed header (Passbolt's browser extension, ``csvRowComposer/*``: the
composer writes every column of its mapping, every cell quoted):

* ``csv-kdbx`` ("CSV (KeePass)", Passbolt's own): ``Title, Username, URL,
  Password, Notes, Group`` and, since Passbolt 4.x, ``TOTP`` (an otpauth URI);
* older Passbolt / hand-made files: ``Group`` or ``Folder``, ``Title,
  Username, URL, Password, Description`` (+ ``TOTP``);
* ``csv-lastpass``: ``name, username, url, password, extra, grouping``
  (LastPass itself adds ``totp, fav``);
* ``csv-bitwarden``: ``folder, favorite, type, name, notes, fields, reprompt,
  login_uri, login_username, login_password, login_totp``;
* ``csv-1password``: ``Title, Username, Url, Password, Notes, Type``;
* ``csv-chromium``: ``name, url, username, password`` (Chrome adds ``note``);
* ``csv-mozilla``: ``url, username, password, httpRealm, formActionOrigin,
  guid, timeCreated, timeLastUsed, timePasswordChanged`` (no title: the
  host of the URL is the title).

The flavour is recognised from the header (case-insensitive); a column no
flavour knows is an error. The folder path (``Group``, ``grouping``,
``folder``, 1Password's ``Type``) goes to a customer by ``--map
FOLDER=CUSTOMER`` (a folder or a ``/`` path prefix) or ``--customer``, and
becomes tags. Rows are numbered as a spreadsheet shows them (header row 1).
A KDBX export is a KeePass database: ``netvault import keepass`` reads it.
"""

from __future__ import annotations

import csv
import hashlib
import io

from netvault.values import names
from netvault.errors import UsageError
from netvault.importing import csv_source
from netvault.importing import plan as planmod
from netvault.importing.keepass_source import KDBX_MAGIC

# role of each column per flavour: title, username, url, password, notes,
# folder, totp, type (Bitwarden item type), extra (appended to the notes as
# "Label: value"), ignore (book-keeping without a place in netvault).
FLAVOURS: dict[str, dict[str, str]] = {
    "csv-kdbx": {"title": "title", "username": "username", "url": "url", "password": "password",
                 "notes": "notes", "group": "folder", "totp": "totp"},
    "passbolt": {"group": "folder", "folder": "folder", "title": "title", "username": "username", "url": "url",
                 "password": "password", "description": "notes", "totp": "totp"},
    "csv-lastpass": {"url": "url", "username": "username", "password": "password", "totp": "totp",
                     "extra": "notes", "name": "title", "grouping": "folder", "fav": "ignore"},
    "csv-bitwarden": {"folder": "folder", "favorite": "ignore", "type": "type", "name": "title", "notes": "notes",
                      "fields": "extra", "reprompt": "ignore", "login_uri": "url", "login_username": "username",
                      "login_password": "password", "login_totp": "totp"},
    "csv-1password": {"title": "title", "username": "username", "url": "url", "password": "password",
                      "notes": "notes", "type": "folder"},
    "csv-chromium": {"name": "title", "url": "url", "username": "username", "password": "password",
                     "note": "notes"},
    "csv-mozilla": {"url": "url", "username": "username", "password": "password", "httprealm": "ignore",
                    "formactionorigin": "ignore", "guid": "ignore", "timecreated": "ignore",
                    "timelastused": "ignore", "timepasswordchanged": "ignore"},
}
#: Columns a header must have to be read as that flavour.
REQUIRED = {
    "csv-kdbx": ("title", "password"),
    "passbolt": ("title", "password", "description"),
    "csv-lastpass": ("name", "password", "grouping"),
    "csv-bitwarden": ("name", "login_password"),
    "csv-1password": ("title", "password", "type"),
    "csv-chromium": ("name", "url", "password"),
    "csv-mozilla": ("url", "password", "guid"),
}
_KNOWN = {c for cols in FLAVOURS.values() for c in cols}


def flavour(header: list[str]) -> str | None:
    """The first flavour that knows every column of ``header`` and finds its
    required ones; None if there is none."""
    cols = set(header)
    for name, known in FLAVOURS.items():
        if cols <= set(known) and all(c in cols for c in REQUIRED[name]):
            return name
    return None


def _delimiter(text: str) -> str:
    first = text.split("\n", 1)[0].rstrip("\r")
    scores = {}
    for d in csv_source.DELIMITERS:
        cells = csv_source._header_cells(first, d)
        scores[d] = sum(1 for c in cells if c.strip().lower() in _KNOWN)
    return max(csv_source.DELIMITERS, key=lambda d: scores[d])


def _mapped(folder: str, mapping: dict[str, str]) -> str | None:
    parts = [p for p in folder.split("/") if p.strip()]
    for i in range(len(parts), 0, -1):
        hit = mapping.get("/".join(parts[:i]))
        if hit:
            return hit
    return None


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url if "//" in url else f"//{url}").hostname or url
    except ValueError:
        return url


def read(path: str, *, customer: str | None = None, mapping: dict[str, str] | None = None,
         encoding: str | None = None) -> planmod.Plan:
    """A plan from one Passbolt CSV export."""
    label = names.shown(str(path))
    data = planmod.read_bytes(path, "Passbolt export")
    if data.startswith(KDBX_MAGIC[:4]):
        raise UsageError(f"{label} is a KeePass database (Passbolt's 'kdbx' export); "
                         "import it with `netvault import keepass`")
    text, _used = csv_source.decode(data, encoding, label)
    if not text.strip():
        raise UsageError(f"{label} is empty")
    if text.lstrip().startswith(("{", "[")):
        raise UsageError(f"{label} is JSON, not a Passbolt CSV export (a Bitwarden JSON export: `netvault import bitwarden`)")
    mapping = mapping or {}
    plan = planmod.Plan(label)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except csv.Error as exc:
        raise UsageError(f"{label}: row 1 (header) is not valid CSV: {exc}") from None
    dup = sorted({h for h in header if header.count(h) > 1 and h})
    if dup:
        plan.problem("row 1", f"column(s) named twice: {', '.join(dup)}")
    kind = flavour(header)
    if kind is None:
        unknown = [h for h in header if h not in _KNOWN]
        what = (f"unknown column(s) {', '.join(names.shown(h) for h in unknown)}" if unknown
                else f"the columns {', '.join(names.shown(h) for h in header)} match no Passbolt CSV export "
                     "(a column it needs is missing)")
        plan.problem("row 1", f"{what}; expected one of Passbolt's CSV exports ({', '.join(FLAVOURS)}), "
                              "e.g. Title, Username, URL, Password, Notes, Group, TOTP")
    if customer is not None:
        try:
            names.slug(customer, "customer")
        except UsageError as exc:
            plan.problem("", f"--customer: {exc.message}")
    if plan.problems or kind is None:
        return plan
    roles = FLAVOURS[kind]
    namer = planmod.Namer()
    uids: set[str] = set()
    for row_no, row in csv_source.numbered_rows(reader, plan):
        source = f"row {row_no}"
        if len(row) != len(header):
            plan.problem(source, f"{len(row)} cells, the header has {len(header)} (a stray delimiter or a missing quote?)")
            continue
        _row(plan, source, kind, {roles[h]: (h, v) for h, v in zip(header, row)}, customer, mapping, namer, uids)
    plan.check_duplicates()
    return plan


def _row(plan, source: str, kind: str, cells: dict[str, tuple[str, str]], customer, mapping, namer, uids) -> None:
    from netvault.values import validate

    def get(role: str, strip: bool = True) -> str:
        value = cells.get(role, ("", ""))[1]
        return csv_source.unescape(value.strip()) if strip else value

    url = get("url")
    title = get("title") or (_host(url) if kind == "csv-mozilla" else "")
    folder = get("folder").strip("/")
    if get("type") and get("type").lower() != "login":
        plan.skip(source, None, None, f"a Bitwarden {names.shown(get('type'))} item, not a login: not imported")
        return
    target = customer or _mapped(folder, mapping)
    if not target:
        plan.skip(source, None, None, f"folder {names.shown(folder or '(none)')} is not mapped to a customer "
                                      "(--map FOLDER=CUSTOMER or --customer)")
        return
    password = get("password", strip=False)
    password = password if password.strip() else ""
    totp = get("totp")
    if not password and not totp:
        plan.skip(source, target, None, "no password or TOTP to store")
        return
    notes = [get("notes").replace("\r\n", "\n")]
    remarks = []
    if url:
        try:
            validate.url_or_host(url)
        except UsageError:
            notes.append(f"URL: {url}")
            remarks.append("the URL is not a valid URL or host: kept in the notes")
            url = ""
    if get("extra"):
        notes.append(get("extra").replace("\r\n", "\n"))
    # A deterministic id for names that need one (empty, non-Latin or taken
    # titles): the same file always gives the same names, in any row order.
    uid = hashlib.sha256("\x1f".join((folder, title, get("username"), url)).encode()).hexdigest()[:32]
    if uid in uids:
        uid = hashlib.sha256(f"{uid}\x1f{source}".encode()).hexdigest()[:32]
    uids.add(uid)
    name, note = namer.name(target, title, uid, source)
    values = {"username": get("username"), "url": url, "notes": "\n".join(n for n in notes if n),
              "tags": ";".join(planmod.tags_from(folder.split("/") if folder else []))}
    planmod.build_entry(plan, source, "credentials", target, name, values, {"password": password, "totp": totp},
                        note="; ".join(n for n in [note, *remarks] if n))
