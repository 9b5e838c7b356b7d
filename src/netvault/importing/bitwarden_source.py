"""Bitwarden JSON exports (unencrypted; organisation or personal vault).

Format as documented by Bitwarden ("Condition a Bitwarden .json file"):
``{"encrypted": false, "folders": [{id, name}], "collections": [{id, name, ...}],
"items": [{id, type, name, notes, folderId, collectionIds, fields: [{name,
value, type}], login: {username, password, totp, uris: [{uri, match}]}}]}``.
Item type 1 is a login; field type 0 text, 1 hidden, 2 boolean, 3 linked.

Logins become credentials: password, TOTP, hidden fields as extra sealed
secrets; text/boolean fields and further URIs go into the notes; the folder
and collection names become tags. Items go to the customer their collection
or folder is mapped to (``--map NAME=CUSTOMER``, a name or a ``/`` path
prefix) or to ``--customer``; an item in collections of two customers is
imported into both. Other item types and unmapped items are skipped with a
line saying why. An encrypted export is refused.
"""

from __future__ import annotations

import json

from netvault.values import names
from netvault.errors import UsageError
from netvault.importing import plan as planmod

ITEM_TYPES: dict[object, str] = {1: "login", 2: "secure note", 3: "card", 4: "identity", 5: "SSH key"}


def _load(path: str) -> dict:
    label = names.shown(str(path))
    data = planmod.read_bytes(path, "Bitwarden file")
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise UsageError(f"{label} is not UTF-8 text; is it a Bitwarden JSON export?") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{label} is not valid JSON (line {exc.lineno}, column {exc.colno}); "
                         "export it again as Bitwarden 'JSON'") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("items", []), list):
        raise UsageError(f"{label} is JSON but not a Bitwarden export (no 'items' list)")
    if doc.get("encrypted") is True or "encKeyValidation_DO_NOT_EDIT" in doc or "passwordProtected" in doc:
        raise UsageError(f"{label} is an encrypted Bitwarden export; export again as 'JSON' (not 'JSON (Encrypted)') "
                         "and delete that file after the import")
    if "items" not in doc:
        raise UsageError(f"{label} is JSON but not a Bitwarden export (no 'items' list)")
    return doc


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _mapped(container: str, mapping: dict[str, str]) -> str | None:
    parts = container.split("/")
    for i in range(len(parts), 0, -1):
        hit = mapping.get("/".join(parts[:i]))
        if hit:
            return hit
    return None


def read(path: str, *, customer: str | None = None, mapping: dict[str, str] | None = None) -> planmod.Plan:
    doc = _load(path)
    plan = planmod.Plan(names.shown(str(path)))
    mapping = mapping or {}
    folders = {f.get("id"): _text(f.get("name")) for f in doc.get("folders") or [] if isinstance(f, dict)}
    collections = {c.get("id"): _text(c.get("name")) for c in doc.get("collections") or [] if isinstance(c, dict)}
    namer = planmod.Namer()
    seen_sources: dict[str, int] = {}
    for index, item in enumerate(doc["items"]):
        if not isinstance(item, dict):
            plan.problem(f"item {index + 1}", "not an object")
            continue
        uid = _text(item.get("id")) or f"item{index + 1:08d}"
        title = _text(item.get("name"))
        containers = [collections[c] for c in (item.get("collectionIds") or []) if c in collections]
        folder = folders.get(item.get("folderId"))
        if folder:
            containers.append(folder)
        if customer:
            targets = [(containers[0] if containers else "(no folder)", customer)]
        else:
            targets = []
            for cont in containers:
                hit = _mapped(cont, mapping)
                if hit and hit not in [t for _, t in targets]:
                    targets.append((cont, hit))
        base = containers[0] if containers else "(no folder)"
        kind = ITEM_TYPES.get(item.get("type"), f"type {item.get('type')!r}")
        if item.get("type") != 1:
            plan.skip(_source(base, title, uid, seen_sources), None, None, f"a {kind}, not a login: not imported")
            continue
        if not targets:
            plan.skip(_source(base, title, uid, seen_sources), None, None,
                      "not in a collection or folder mapped to a customer (--map NAME=CUSTOMER)")
            continue
        for container, target in targets:
            _login(plan, item, _source(container, title, uid, seen_sources), target, containers, title, uid, namer)
    plan.check_duplicates()
    return plan


def _source(container: str, title: str, uid: str, seen: dict[str, int]) -> str:
    source = f"{container}/{title.strip() or f'(untitled {uid[:8]})'}"
    seen[source] = seen.get(source, 0) + 1
    return source if seen[source] == 1 else f"{source} [{uid[:8]}]"


def _login(plan, item: dict, source: str, customer: str, containers: list[str], title: str, uid: str, namer) -> None:
    from netvault.values import validate

    found = item.get("login")
    login: dict = found if isinstance(found, dict) else {}
    secrets = {"password": _text(login.get("password")), "totp": _text(login.get("totp"))}
    notes = [_text(item.get("notes")).replace("\r\n", "\n")]
    remarks: list[str] = []
    url = ""
    for u in login.get("uris") or []:
        uri = _text(u.get("uri")) if isinstance(u, dict) else ""
        if not uri:
            continue
        ok = True
        try:
            validate.url_or_host(uri)
        except UsageError:
            ok = False
        if ok and not url:
            url = uri
        else:
            notes.append(f"URL: {uri}")
            if not ok:
                remarks.append("a URI is not a valid URL or host: kept in the notes")
    used = {"password", "totp"}
    for f in item.get("fields") or []:
        if not isinstance(f, dict):
            continue
        label, value, ftype = _text(f.get("name")), f.get("value"), f.get("type")
        if ftype == 1:
            if _text(value):
                field = planmod.field_name(label, used)
                secrets[field] = _text(value)
                if field != label:
                    remarks.append(f"hidden field {names.shown(label)} sealed as {field}")
        elif ftype == 3:
            remarks.append(f"linked field {names.shown(label)} not imported (it points at the login's own fields)")
        elif value not in (None, ""):
            notes.append(f"{label}: {value if isinstance(value, str) else json.dumps(value)}")
    if not any(secrets.values()):
        plan.skip(source, customer, None, "no password or other secret to store")
        return
    name, note = namer.name(customer, title, uid, source)
    values = {"username": _text(login.get("username")), "url": url,
              "notes": "\n".join(n for n in notes if n), "tags": ";".join(planmod.tags_from(containers))}
    planmod.build_entry(plan, source, "credentials", customer, name, values, secrets,
                        note="; ".join(n for n in [note] + remarks if n))
