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
from dataclasses import dataclass, field
from typing import Iterator

from netvault.audit.attribution import AUDIT_DEVICE, Trace, direct
from netvault.audit.reader import Entry, Progress, entries
from netvault.vault.mounts import Mounts
from netvault.errors import UsageError
from netvault.values.text import reference_flags
from netvault.values.results import json_result, to_json
from netvault.vault.kv import CUSTOMERS, GRANTS, current_version_of, data_path, metadata_path, response_data

ACTIONS = ("reveal", "read", "list", "write", "delete", "grant", "revoke", "login", "setup", "key-export", "tamper",
           "end", "shred", "erase", "request", "review")
HMAC_PREFIX = "hmac-sha256:"
_ID = re.compile(r"[0-9a-zA-Z._-]{1,128}")
_SAFE_NEEDLE = re.compile(r"[A-Za-z0-9._:@-]{2,128}")


@json_result
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
    #: what could not be traced or does not add up (attribution.FLAGS)
    flags: list[str] = field(default_factory=list)
    grantee: str | None = None  # a just-in-time token: the user it was minted for (jit:<user>)
    minted_by: str | None = None  # a just-in-time token: who created it
    token_entity_id: str | None = None  # the entity the token itself is bound to, when not the person's

    def to_dict(self) -> dict:
        return to_json(self)


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


def _plain(value) -> str | None:
    if not isinstance(value, str) or not value or value.startswith(HMAC_PREFIX):
        return None
    return value


def _record_id(context) -> str | None:
    """The record id in a transit ``context``, decoded exactly as Vault does.

    Transit decodes ``context`` with Go's ``base64.StdEncoding``: ``\\r`` and
    ``\\n`` anywhere are skipped, everything else is strict (padding required,
    no spaces, no URL-safe alphabet), checked against the real server.
    """
    ctx = _plain(context)
    if not ctx:
        return None
    try:
        raw = base64.b64decode(ctx.replace("\r", "").replace("\n", ""), validate=True).decode("ascii")
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
    """Turns an audit entry into an Event (or None when it is not an access event).

    The person is taken only from what Vault binds (``attribution``): a login
    token's entity and userpass display name, or the create/unwrap chain of a
    token minted via the token store. ``trace`` is that chain's index (built
    lazily from the files); without one, such tokens are ``untraced``.
    """

    def __init__(self, mounts: Mounts | None = None, trace: Trace | None = None, resolver: "Resolver | None" = None) -> None:
        m = mounts or Mounts()
        self.resolver = resolver
        self.kv = m.kv.strip("/") + "/"
        self.transit = m.transit.strip("/") + "/"
        self.userpass_login = f"auth/{m.userpass.strip('/')}/login/"
        self.userpass_users = f"auth/{m.userpass.strip('/')}/users/"
        if trace is None:
            trace = Trace((), kv_mount=m.kv, userpass_mount=m.userpass)
            trace.loaded = True  # nothing to trace through
        self.trace = trace
        #: transit mounts (Vault's ``request.mount_point``) holding customer
        #: decrypts that ``mounts`` does not name: reveals this classifier cannot
        #: see, because the reader's ``[mounts]`` differ from the server's
        self.unconfigured: set[str] = set()

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
            if "/decrypt/customer-" in path and req.get("mount_type") == "transit":
                point = str(req.get("mount_point") or "")
                if point and point != self.transit:
                    self.unconfigured.add(point)
            return None
        action, customer, kind, record, record_id, incident, subject = hit
        auth = doc.get("auth") or {}
        flags: list[str] = []
        who = None
        if action == "login":
            resp_auth = (doc.get("response") or {}).get("auth") or {}
            got = direct(resp_auth, self.trace.userpass_prefix)
            engineer, entity = got if got else (subject, None)
        else:
            who = self.trace.who(auth)
            engineer, entity = who.name, who.entity_id
            flags.extend(who.flags)
        if action == "reveal" and not record_id:
            flags.append("record-unresolved")
        if action == "tamper":
            flags.append("ids-rewritten")
        err = doc.get("error")
        if not entry.paired:
            outcome = "unknown" if not err else "denied"
        else:
            outcome = "denied" if err else "allowed"
        ev = Event(
            time=entry.time, action=action, engineer=engineer, entity_id=entity,
            customer=customer, kind=kind, record=record, record_id=record_id,
            incident=incident, outcome=outcome, error=clean_error(err),
            remote_address=req.get("remote_address") or None, operation=op, path=path,
            request_id=str(req.get("id") or ""), subject=subject if action != "login" else None,
            source=entry.source, flags=flags,
        )
        if self.resolver is not None and ev.entity_id:
            ev.engineer = self.resolver.person(ev.entity_id) or ev.engineer
        if who is not None and who.accessor:
            self._token_flags(ev, who)
        return ev

    def _token_flags(self, ev: Event, who) -> None:
        """A token minted via the token store: who it was for, and whether a grant says so."""
        ev.minted_by = who.minted_by
        ev.token_entity_id = who.token_entity
        grantee = None
        if self.resolver is not None and who.token_entity:
            grantee = self.resolver.jit_user(who.token_entity)
        recorded = self.trace.grant_users(who.accessor, ev.customer)
        if grantee is None and len(set(recorded)) == 1:
            grantee = recorded[0]
        ev.grantee = grantee
        if ev.customer:
            ok = bool(recorded) and (grantee is None or grantee in recorded)
            if not ok and self.resolver is not None and grantee:
                ok = self.resolver.grant_matches(ev.customer, grantee, who.accessor) is not False
            if not ok:
                ev.flags.append("no-grant-record")
        if grantee and ev.engineer and grantee != ev.engineer:
            ev.flags.append("holder-not-grantee")

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
            if kind == "_ids":
                # created once (operation "create", cas=0) and never changed by netvault:
                # any other write, delete or metadata change of it is tampering
                if action in ("read", "list") or (area == "data" and op == "create"):
                    return None
                rid = parts[3] if len(parts) > 3 else None
                return ("tamper", customer, "_ids", f"_ids/{rid}" if rid else "_ids", rid, None, None)
            if kind == "_index":
                return None  # netvault's own book-keeping
            if kind == "profile" and len(parts) == 3:
                return (action, customer, "profile", "profile", None, None, None)
            record = "/".join(parts[3:]) or None
            return (action, customer, kind, record, None, None, None)
        if top == "_lifecycle":
            # end of service, crypto-shred, erasure (netvault.lifecycle.service_end): one write each
            if len(parts) == 3 and action == "write" and area == "data" and parts[2] in ("end", "shred", "erase"):
                return (parts[2], parts[1], "lifecycle", f"_lifecycle/{parts[2]}", None, None, None)
            return None
        if top == "_grants":
            if len(parts) >= 3 and action in ("write", "delete"):
                customer, user = parts[1], parts[2]
                return ("grant" if action == "write" else "revoke", customer, "grant-record",
                        f"_grants/{user}", None, None, user)
            return None
        if top in ("_requests", "_decisions") and action in ("write", "delete") and len(parts) >= 3:
            # issue 14: an access request (path = the requester, bound by Vault) or a decision on one
            customer, user = parts[2], parts[1]
            kind = "request" if top == "_requests" else "decision"
            return ("request", customer, kind, "/".join(parts), None, None, user)
        if top == "_reviews" and action in ("write", "delete") and len(parts) == 2:
            # issue 14: the review of a break-glass reveal (subject = that reveal's request id)
            return ("review", None, "review", f"_reviews/{parts[1]}", None, None, parts[1])
        if top == "_config" and action in ("write", "delete"):
            return ("setup", None, "settings", "/".join(parts[1:]) or None, None, None, None)
        return None  # _index, _inbox, _audit: book-keeping and delivery


_PLURAL = {"credential": "credentials", "device": "devices", "licence": "licences"}


class Resolver:
    """Answers from Vault for the trail, cached:

    * stable record id -> current name, via KV ``customers/<c>/_ids/<id>``,
      **confirmed**: the named record must hold that id (its body, when the
      caller may read it; else, for an auditor, KV metadata: ``_ids/<id>``
      written once, and a version of the named record written together with
      it). A name that cannot be confirmed is not given (flag ``id-mismatch``);
    * entity id -> person (the entity's userpass alias) and -> JIT grantee
      (its ``jit:<user>`` alias);
    * whether the grant record of (customer, user) holds a given accessor
      (compared as audit HMACs through ``sys/audit-hash``).
    """

    #: _ids/<id> is written just before the record; a version of the record
    #: created this long after it still counts as "written together"
    WRITTEN_TOGETHER_S = 600
    #: ... and this long before it (a client that writes the record first)
    WRITTEN_BEFORE_S = 60

    def __init__(self, vault, kv_mount: str = Mounts.kv, userpass_mount: str = Mounts.userpass,
                 audit_device: str = AUDIT_DEVICE) -> None:
        self.vault = vault
        self.kv = kv_mount.strip("/")
        self.userpass = userpass_mount.strip("/")
        self.audit_device = audit_device
        self.cache: dict[tuple[str, str], tuple[str, str] | str | None] = {}
        self.entities: dict[str, tuple[str | None, str | None]] = {}
        self.hashes: dict[str, str | None] = {}
        self.grant_cache: dict[tuple[str, str], dict | None] = {}
        self.failed = False

    def _read(self, path: str):
        """GET, or None when absent or not allowed; marks ``failed`` when Vault is unreachable."""
        if self.vault is None or self.failed:
            return None
        from netvault.errors import NetvaultError, PermissionDenied

        try:
            return self.vault.read(path)
        except PermissionDenied:
            raise
        except NetvaultError:
            self.failed = True
            return None

    def _entity(self, entity_id: str) -> tuple[str | None, str | None]:
        if entity_id in self.entities:
            return self.entities[entity_id]
        person = jit = None
        if _ID.fullmatch(entity_id):
            from netvault.errors import PermissionDenied

            try:
                resp = self._read(f"identity/entity/id/{entity_id}")
            except PermissionDenied:
                resp = None
            for alias in ((resp or {}).get("data") or {}).get("aliases") or []:
                name = str(alias.get("name") or "")
                if alias.get("mount_type") == "token" and name.startswith("jit:"):
                    jit = name[4:] or None
                elif alias.get("mount_type") == "userpass" and name and (
                        str(alias.get("mount_path") or "").strip("/") in ("", f"auth/{self.userpass}")):
                    person = name
        self.entities[entity_id] = (person, jit)
        return person, jit

    def person(self, entity_id: str) -> str | None:
        """The login name of a userpass entity."""
        return self._entity(entity_id)[0]

    def jit_user(self, entity_id: str) -> str | None:
        """The user a JIT entity (alias ``jit:<user>``) stands for."""
        return self._entity(entity_id)[1]

    def audit_hash(self, value: str) -> str | None:
        """The audit device's HMAC of ``value`` (None when the caller may not ask)."""
        if value in self.hashes:
            return self.hashes[value]
        out = None
        if self.vault is not None and not self.failed:
            from netvault.errors import NetvaultError

            try:
                resp = self.vault.write(f"sys/audit-hash/{self.audit_device}", {"input": value}) or {}
                out = (resp.get("data") or {}).get("hash") or resp.get("hash")
            except NetvaultError:
                out = None
        self.hashes[value] = out
        return out

    def grant_matches(self, customer: str, user: str, accessor_hmac: str) -> bool | None:
        """Does the grant record of (customer, user) hold this accessor? None: cannot tell."""
        if not (_ID.fullmatch(customer) and _ID.fullmatch(user)) or ".." in customer + user:
            return False
        key = (customer, user)
        if key not in self.grant_cache:
            from netvault.errors import PermissionDenied

            try:
                resp = self._read(data_path(self.kv, f"{GRANTS}/{customer}/{user}"))
                self.grant_cache[key] = response_data(resp)
            except PermissionDenied:
                self.grant_cache[key] = {"unknown": True}
        body = self.grant_cache[key]
        if self.vault is None or self.failed or (body or {}).get("unknown"):
            return None
        acc = (body or {}).get("accessor")
        if not body or not acc:
            return False
        hashed = self.audit_hash(str(acc))
        if hashed is None:
            return None  # a record with an accessor exists; the caller may not compare HMACs
        return hashed == accessor_hmac

    def resolve(self, customer: str, record_id: str) -> tuple[str, str] | str | None:
        """(kind, name) confirmed; "id-mismatch"; or None (unknown)."""
        key = (customer, record_id)
        if key in self.cache:
            return self.cache[key]
        value = None
        if self.vault is not None and not self.failed and _ID.fullmatch(customer) and ".." not in customer \
                and _ID.fullmatch(record_id):
            from netvault.errors import PermissionDenied

            try:
                body = response_data(self._read(data_path(self.kv, f"{CUSTOMERS}/{customer}/_ids/{record_id}"))) or {}
                kind = str(body.get("kind") or "")
                # records store the singular ("credential"); paths use the plural
                kind = _PLURAL.get(kind, kind)
                name = str(body.get("name") or "")
                if name and kind and "/" not in kind and ".." not in name + kind:
                    value = (kind, name) if self._holds(customer, kind, name, record_id) else "id-mismatch"
            except PermissionDenied:
                pass
        self.cache[key] = value
        return value

    def __call__(self, customer: str, record_id: str) -> tuple[str, str] | None:
        got = self.resolve(customer, record_id)
        return got if isinstance(got, tuple) else None

    def _holds(self, customer: str, kind: str, name: str, record_id: str) -> bool:
        """Does record customers/<c>/<kind>/<name> really hold ``record_id``?

        When the caller may read record bodies: the current version, else a
        kept older version, must hold that ``id``. An auditor may not read
        bodies; for them ``_ids/<id>`` must have been written once and never
        changed or deleted (netvault writes it once, cas=0), and a version of
        the named record must have been written together with it (KV
        metadata times).
        """
        from netvault.errors import PermissionDenied

        base = f"{CUSTOMERS}/{customer}/{kind}/{name}"
        try:
            meta = self._read(metadata_path(self.kv, base))
        except PermissionDenied:
            meta = None
        versions = ((meta or {}).get("data") or {}).get("versions") or {}
        try:
            current = response_data(self._read(data_path(self.kv, base)))
            if str((current or {}).get("id") or "") == record_id:
                return True
            readable = False
            for v in sorted((int(k) for k in versions if str(k).isdigit()), reverse=True)[:20]:
                info = versions.get(str(v)) or {}
                if info.get("deletion_time") or info.get("destroyed"):
                    continue
                readable = True
                old = response_data(self._read(data_path(self.kv, base, v)))
                if str((old or {}).get("id") or "") == record_id:
                    return True
            if readable or not versions:
                return False
            # every version deleted: the bodies are gone, only the metadata can tell
        except PermissionDenied:
            pass
        try:
            ids_meta = self._read(metadata_path(self.kv, f"{CUSTOMERS}/{customer}/_ids/{record_id}"))
        except PermissionDenied:
            return False
        ids = (ids_meta or {}).get("data") or {}
        ids_versions = ids.get("versions") or {}
        first = ids_versions.get("1") or {}
        if current_version_of(ids) != 1 or len(ids_versions) != 1 \
                or first.get("deletion_time") or first.get("destroyed"):
            return False
        return self._written_together(first, versions)

    def _written_together(self, ids_first: dict, versions: dict) -> bool:
        from datetime import datetime

        def at(ts) -> float | None:
            try:
                return datetime.fromisoformat(str(ts)[:19]).timestamp()
            except ValueError:
                return None

        start = at(ids_first.get("created_time") or "")
        if start is None:
            return False
        for info in versions.values():
            t = at((info or {}).get("created_time") or "")
            if t is not None and start - self.WRITTEN_BEFORE_S <= t <= start + self.WRITTEN_TOGETHER_S:
                return True
        return False


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
    break_glass: bool = False  # only break-glass reveals (issue 14)

    def __post_init__(self) -> None:
        for a in self.actions:
            if a not in ACTIONS:
                raise UsageError(f"unknown action {a!r}; choose from {', '.join(ACTIONS)}")

    def needle(self) -> bytes | None:
        """Bytes every matching line must contain (a cheap pre-filter), if any."""
        # Not the engineer: a reveal made with a just-in-time token holds neither
        # the holder's name nor entity id (they come from the create/unwrap chain).
        for value in (self.customer, self.incident if self.incident and "*" not in self.incident else None):
            if value and _SAFE_NEEDLE.fullmatch(value):
                return value.encode()
        if self.actions == ("reveal",) or self.break_glass:
            return b"/decrypt/"
        if self.actions == ("review",):
            return b"/_reviews/"
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
        if self.break_glass and "break-glass" not in e.flags:
            return False
        return True


def events(
    paths,
    *,
    filters: Filters | None = None,
    mounts: Mounts | None = None,
    resolver: Resolver | None = None,
    progress: Progress | None = None,
    trace: Trace | None = None,
    break_glass: tuple[str, ...] | list[str] | None = None,
    unconfigured: set[str] | None = None,
) -> Iterator[Event]:
    """Access events of the audit files ``paths``, filtered, in time order.

    Paths are classified under ``mounts`` (the ``[mounts]`` of the reader's
    config). ``unconfigured``, when given, receives the transit mounts whose
    customer decrypts the trail holds but ``mounts`` does not name (filled
    once the iteration is done): the caller says so rather than show nothing.

    ``break_glass``: the break-glass reference patterns (default ``BG-*``);
    a reveal whose reference matches one is flagged ``break-glass`` (issue 14).

    ``trace``: the create/unwrap index (default: one over ``paths``, built on
    first need, whatever the filters, so a filtered query attributes as an
    unfiltered one does).
    """
    f = filters or Filters()
    m = mounts or Mounts()
    paths = [str(p) for p in paths]
    if trace is None:
        trace = Trace(paths, kv_mount=m.kv, userpass_mount=m.userpass)
    classify = Classifier(m, trace, resolver)
    from netvault.local.config import DEFAULT_BREAK_GLASS_PATTERNS

    bg = tuple(break_glass) if break_glass else DEFAULT_BREAK_GLASS_PATTERNS
    for entry in entries(paths, needle=f.needle(), since=f.since, until=f.until, progress=progress):
        ev = classify(entry)
        if ev is None:
            continue
        if ev.incident is not None:
            ev.flags.extend(reference_flags(ev.incident))  # ref-empty, ref-glob, ref-long, ref-control
            if ev.action == "reveal" and any(fnmatch.fnmatchcase(ev.incident, p) for p in bg):
                ev.flags.insert(0, "break-glass")
        if resolver is not None and ev.action == "reveal" and ev.record_id and ev.customer:
            hit = resolver.resolve(ev.customer, ev.record_id)
            if isinstance(hit, tuple):
                ev.kind, ev.record = hit
            elif hit == "id-mismatch":
                ev.flags.append("id-mismatch")
        if f.match(ev):
            yield ev
    if unconfigured is not None:
        unconfigured |= classify.unconfigured


def user_entities(vault, user: str, userpass_mount: str) -> tuple[str, ...]:
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
