"""Access events from audit entries: who did what to which record, and the outcome.

One audited Vault request that matters to netvault becomes one ``Event``;
everything else (health checks, token look-ups, netvault's own book-keeping
under ``_ids/`` and ``_index/``) is left out. A reveal is recognised from the
transit decrypt entry, which Vault writes whatever client made the request.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import re
from dataclasses import asdict, dataclass, field
from typing import Iterator

from netvault.audit.reader import Entry, Progress, entries
from netvault.config import Mounts
from netvault.errors import UsageError
from netvault.text import reference_flags

ACTIONS = ("reveal", "read", "list", "write", "delete", "grant", "revoke", "login", "setup", "key-export")
HMAC_PREFIX = "hmac-sha256:"
_ID = re.compile(r"[0-9a-zA-Z._-]{1,128}")
_SAFE_NEEDLE = re.compile(r"[A-Za-z0-9._:@-]{2,128}")


@dataclass(slots=True)
class Event:
    time: str
    action: str
    engineer: str | None
    entity_id: str | None
    customer: str | None
    kind: str | None
    record: str | None
    record_id: str | None
    incident: str | None
    outcome: str  # allowed | denied | unknown (no response entry)
    error: str | None
    remote_address: str | None
    operation: str
    path: str
    request_id: str
    subject: str | None = None  # the user a grant/revoke is about
    source: str = ""
    flags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


FIELDS = tuple(Event.__dataclass_fields__)  # column order for CSV


def clean_error(err) -> str | None:
    """'1 error occurred:\\n\\t* permission denied\\n\\n' -> 'permission denied'."""
    if not err:
        return None
    text = str(err)
    if "error occurred" in text or "errors occurred" in text:
        items = [p.strip(" \t\n*") for p in text.split("\n")[1:] if p.strip(" \t\n*")]
        text = "; ".join(items) if items else text
    return " ".join(text.split())[:300]


def _user(auth: dict) -> tuple[str | None, str | None]:
    if not auth:
        return None, None
    meta = auth.get("metadata") or {}
    name = meta.get("username") if isinstance(meta, dict) else None
    if not name:
        dn = auth.get("display_name") or None
        if dn and "-" in dn and dn.split("-", 1)[0] in ("userpass", "ldap", "oidc", "token"):
            dn = dn.split("-", 1)[1] or dn
        name = dn
    return name, auth.get("entity_id") or None


def _plain(value) -> str | None:
    if not isinstance(value, str) or not value or value.startswith(HMAC_PREFIX):
        return None
    return value


def _record_id(context) -> str | None:
    ctx = _plain(context)
    if not ctx:
        return None
    try:
        raw = base64.b64decode(ctx, validate=True).decode("ascii")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return raw if _ID.fullmatch(raw) else None


_EXPORT_FLAGS = ("exportable", "allow_plaintext_backup")


def _key_export(rest: str, op: str, data: dict) -> str | None:
    """For a transit request (path after the mount) that would let a key leave
    Vault or replace one: the key name ("" when the path names none); else None.
    Export, BYOK export, backup, restore, import, the import wrapping key, and a
    key create/config carrying ``exportable`` or ``allow_plaintext_backup``
    (values are HMAC'd or booleans, the keys are plain)."""
    parts = rest.strip("/").split("/")
    head = parts[0]
    if head in ("export", "byok-export"):
        return parts[2] if len(parts) > 2 else ""
    if head == "backup":
        return parts[1] if len(parts) > 1 else ""
    if head == "restore":
        return parts[1] if len(parts) > 1 else ""
    if head == "wrapping_key":
        return ""
    if head == "keys" and len(parts) >= 3 and parts[2].startswith("import"):
        return parts[1]
    if head == "keys" and op in _WRITE_OPS and (len(parts) == 2 or (len(parts) == 3 and parts[2] == "config")):
        if any(str(k).lower() in _EXPORT_FLAGS for k in data):
            return parts[1]
    return None


_KV_OPS = {"read": "read", "list": "list", "create": "write", "update": "write", "patch": "write", "delete": "delete"}
_WRITE_OPS = ("create", "update", "patch", "delete")


class Classifier:
    """Turns an audit entry into an Event (or None when it is not an access event)."""

    def __init__(self, mounts: Mounts | None = None) -> None:
        m = mounts or Mounts()
        self.kv = m.kv.strip("/") + "/"
        self.transit = m.transit.strip("/") + "/"
        self.userpass_login = f"auth/{m.userpass.strip('/')}/login/"
        self.userpass_users = f"auth/{m.userpass.strip('/')}/users/"

    def __call__(self, entry: Entry) -> Event | None:
        doc = entry.doc
        req = doc.get("request") or {}
        path = req.get("path") or ""
        op = req.get("operation") or ""
        data = req.get("data") or {}
        if not isinstance(data, dict):
            data = {}
        hit = self._classify(path, op, data)
        if hit is None:
            return None
        action, customer, kind, record, record_id, incident, subject = hit
        auth = doc.get("auth") or {}
        if action == "login":
            resp_auth = (doc.get("response") or {}).get("auth") or {}
            engineer, entity = _user(resp_auth)
            engineer = engineer or subject
        else:
            engineer, entity = _user(auth)
        err = doc.get("error")
        if not entry.paired:
            outcome = "unknown" if not err else "denied"
        else:
            outcome = "denied" if err else "allowed"
        return Event(
            time=entry.time, action=action, engineer=engineer, entity_id=entity,
            customer=customer, kind=kind, record=record, record_id=record_id,
            incident=incident, outcome=outcome, error=clean_error(err),
            remote_address=req.get("remote_address") or None, operation=op, path=path,
            request_id=str(req.get("id") or ""), subject=subject if action != "login" else None,
            source=entry.source,
        )

    def _classify(self, path: str, op: str, data: dict):
        # -> (action, customer, kind, record, record_id, incident, subject) | None
        if path.startswith(self.transit):
            rest = path[len(self.transit):]
            if rest.startswith("decrypt/customer-"):
                customer = rest[len("decrypt/customer-"):]
                return ("reveal", customer, None, None, _record_id(data.get("context")),
                        _plain(data.get("reference")), None)
            exported = _key_export(rest, op, data)
            if exported is not None:  # high risk: a key leaving Vault or being replaced
                key = exported or None
                customer = key[len("customer-"):] if key and key.startswith("customer-") else None
                return ("key-export", customer, "transit-key", key, None, None, None)
            if rest.startswith("keys/customer-") and op in _WRITE_OPS:
                customer = rest[len("keys/customer-"):].split("/", 1)[0]
                return ("setup", customer, "transit-key", None, None, None, None)
            if rest.startswith("keys/") and op in _WRITE_OPS:
                return ("setup", None, "transit-key", None, None, None, None)
            return None
        if path.startswith(self.kv):
            return self._kv(path[len(self.kv):], op)
        if path.startswith(self.userpass_login):
            user = path[len(self.userpass_login):]
            return ("login", None, None, None, None, None, user or None)
        if path.startswith("identity/group"):
            if op not in _WRITE_OPS:
                return None
            name = None
            if path.startswith("identity/group/name/"):
                name = path[len("identity/group/name/"):]
            elif path in ("identity/group", "identity/group/"):
                name = _plain(data.get("name"))
            if name and name.startswith("nv-grant:") and name.count(":") == 2:
                _, customer, user = name.split(":")
                action = "revoke" if op == "delete" else "grant"
                return (action, customer, "group", name, None, None, user)
            return ("setup", None, "group", name, None, None, None)
        if path.startswith("auth/token/create/nv-jit"):
            return ("grant", None, "jit-token", None, None, None, None)
        if path.startswith("auth/token/revoke-accessor"):
            return ("revoke", None, "token", None, None, None, None)
        if op in _WRITE_OPS and path.startswith(("sys/policy/nv-customer-", "sys/policies/acl/nv-customer-")):
            return ("setup", path.rsplit("/", 1)[1][len("nv-customer-"):], "policy", path.rsplit("/", 1)[1], None, None, None)
        if op in _WRITE_OPS and (
            path.startswith(("sys/policy/", "sys/policies/acl/", "sys/mounts/", "sys/auth/",
                             "auth/token/roles/", "identity/entity"))
            or path.startswith(self.userpass_users)
        ):
            if path.startswith(self.userpass_users):
                return ("setup", None, "user", path[len(self.userpass_users):], None, None, None)
            return ("setup", None, None, None, None, None, None)
        return None

    def _kv(self, rest: str, op: str):
        area, _, sub = rest.partition("/")
        if area not in ("data", "metadata", "delete", "undelete", "destroy"):
            if area == "config" and op in _WRITE_OPS:
                return ("setup", None, "kv-config", None, None, None, None)
            return None
        if area in ("delete", "destroy"):
            action = "delete"
        elif area == "undelete":
            action = "write"
        else:
            action = _KV_OPS.get(op)
            if action is None:
                return None
        parts = sub.rstrip("/").split("/") if sub.strip("/") else []
        if not parts:
            return ("list", None, None, None, None, None, None) if action == "list" else None
        top = parts[0]
        if top == "customers":
            if len(parts) == 1:
                return (action, None, None, None, None, None, None) if action == "list" else None
            customer = parts[1]
            if len(parts) == 2:
                return (action, customer, None, None, None, None, None)
            kind = parts[2]
            if kind in ("_ids", "_index"):
                return None  # netvault's own book-keeping
            if kind == "profile" and len(parts) == 3:
                return (action, customer, "profile", "profile", None, None, None)
            record = "/".join(parts[3:]) or None
            return (action, customer, kind, record, None, None, None)
        if top == "_grants":
            if len(parts) >= 3 and action in ("write", "delete"):
                customer, user = parts[1], parts[2]
                return ("grant" if action == "write" else "revoke", customer, "grant-record",
                        f"_grants/{user}", None, None, user)
            return None
        if top == "_config" and action in ("write", "delete"):
            return ("setup", None, "settings", "/".join(parts[1:]) or None, None, None, None)
        return None  # _index, _inbox, _audit: book-keeping and delivery


_PLURAL = {"credential": "credentials", "device": "devices", "licence": "licences"}


class Resolver:
    """Stable record id -> current name, via KV ``customers/<c>/_ids/<id>``;
    entity id -> user name for tokens that carry no user name (JIT tokens,
    whose entity has the alias ``jit:<user>``). Cached."""

    def __init__(self, vault, kv_mount: str = "netvault") -> None:
        self.vault = vault
        self.kv = kv_mount.strip("/")
        self.cache: dict[tuple[str, str], tuple[str, str] | None] = {}
        self.entities: dict[str, str | None] = {}
        self.failed = False

    def entity_name(self, entity_id: str) -> str | None:
        if entity_id in self.entities:
            return self.entities[entity_id]
        name = None
        if self.vault is not None and not self.failed and _ID.fullmatch(entity_id):
            from netvault.errors import NetvaultError, PermissionDenied

            try:
                resp = self.vault.read(f"identity/entity/id/{entity_id}")
                for alias in ((resp or {}).get("data") or {}).get("aliases") or []:
                    alias_name = str(alias.get("name") or "")
                    if alias_name.startswith("jit:"):
                        name = alias_name[4:]
                    elif alias.get("mount_type") == "userpass" and alias_name:
                        name = alias_name
                        break
            except PermissionDenied:
                pass
            except NetvaultError:
                self.failed = True
        self.entities[entity_id] = name
        return name

    def __call__(self, customer: str, record_id: str) -> tuple[str, str] | None:
        key = (customer, record_id)
        if key in self.cache:
            return self.cache[key]
        value = None
        if self.vault is not None and not self.failed and _ID.fullmatch(customer) and ".." not in customer:
            from netvault.errors import NetvaultError, PermissionDenied

            try:
                resp = self.vault.read(f"{self.kv}/data/customers/{customer}/_ids/{record_id}")
                body = ((resp or {}).get("data") or {}).get("data") or {}
                if body.get("name"):
                    kind = str(body.get("kind") or "")
                    # records store the singular ("credential"); paths use the plural
                    kind = _PLURAL.get(kind, kind)
                    value = (kind, str(body["name"]))
            except PermissionDenied:
                pass
            except NetvaultError:
                self.failed = True  # unreachable, not logged in: stop asking
        self.cache[key] = value
        return value


@dataclass
class Filters:
    customer: str | None = None
    engineer: str | None = None
    record: str | None = None
    incident: str | None = None
    actions: tuple[str, ...] = ()
    denied: bool = False
    #: more entity ids that count as ``engineer`` (e.g. the user's JIT entity)
    entity_ids: tuple[str, ...] = ()
    since: str | None = None  # YYYY-MM-DDTHH:MM:SS (UTC)
    until: str | None = None

    def __post_init__(self) -> None:
        for a in self.actions:
            if a not in ACTIONS:
                raise UsageError(f"unknown action {a!r}; choose from {', '.join(ACTIONS)}")

    def needle(self) -> bytes | None:
        """Bytes every matching line must contain (a cheap pre-filter), if any."""
        engineer = self.engineer if not self.entity_ids else None  # JIT entries do not hold the name
        for value in (self.customer, engineer, self.incident if self.incident and "*" not in self.incident else None):
            if value and _SAFE_NEEDLE.fullmatch(value):
                return value.encode()
        if self.actions == ("reveal",):
            return b"/decrypt/"
        return None

    def match(self, e: Event) -> bool:
        if self.customer is not None and e.customer != self.customer:
            return False
        if self.engineer is not None and self.engineer not in (e.engineer, e.entity_id) and (
            e.entity_id is None or e.entity_id not in self.entity_ids
        ):
            return False
        if self.record is not None and self.record not in (e.record, e.record_id) and (
            e.customer is None or self.record != f"{e.customer}/{e.record}"
        ):
            return False
        if self.incident is not None:
            if e.incident is None or not fnmatch.fnmatchcase(e.incident, self.incident):
                return False
        if self.actions and e.action not in self.actions:
            return False
        if self.denied and e.outcome != "denied":
            return False
        return True


def events(
    paths,
    *,
    filters: Filters | None = None,
    mounts: Mounts | None = None,
    resolver: Resolver | None = None,
    progress: Progress | None = None,
) -> Iterator[Event]:
    """Access events of the audit files ``paths``, filtered, in time order."""
    f = filters or Filters()
    classify = Classifier(mounts)
    for entry in entries(paths, needle=f.needle(), since=f.since, until=f.until, progress=progress):
        ev = classify(entry)
        if ev is None:
            continue
        if ev.incident is not None:
            ev.flags.extend(reference_flags(ev.incident))  # ref-empty, ref-glob, ref-long, ref-control
        if resolver is not None:
            if ev.action == "reveal" and ev.record_id and ev.customer:
                hit = resolver(ev.customer, ev.record_id)
                if hit:
                    ev.kind, ev.record = hit
            if ev.entity_id and ev.engineer in (None, "token"):
                ev.engineer = resolver.entity_name(ev.entity_id) or ev.engineer
        if f.match(ev):
            yield ev


def user_entities(vault, user: str, userpass_mount: str = "userpass") -> tuple[str, ...]:
    """Entity ids of USER: the userpass login's and the ``jit:<user>`` one (if any)."""
    from netvault.errors import NetvaultError

    out = []
    try:
        auths = vault.request("GET", "sys/auth") or {}
        auths = auths.get("data") or auths
        for mount, alias in ((f"{userpass_mount.strip('/')}/", user), ("token/", f"jit:{user}")):
            accessor = (auths.get(mount) or {}).get("accessor")
            if not accessor:
                continue
            resp = vault.write("identity/lookup/entity", {"alias_name": alias, "alias_mount_accessor": accessor})
            entity = ((resp or {}).get("data") or {}).get("id")
            if entity:
                out.append(entity)
    except NetvaultError:
        return tuple(out)
    return tuple(out)
