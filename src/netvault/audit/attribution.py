"""Who held the token: attribution of audit entries from what Vault binds.

Threat model: every person has a real token and may call the API with any
parameter Vault accepts, so a token's ``metadata`` and any display name it
was created with are caller-chosen and never trusted. A person is taken only
from:

* a **userpass login token**: Vault sets ``display_name = "<mount>-<user>"``
  and binds the token to the login's entity (tokens from ``auth/token/create…``
  always get a ``token-`` prefix, wrapping tokens carry the policy
  ``response-wrapping`` and no entity, so neither can pass for a login);
  with a Vault client the name is the entity's userpass alias;
* a **token minted through the token store** (JIT tokens of ``nv-jit``):
  traced through the accessor HMACs that Vault writes anyway. The create's
  response holds the new token's accessor HMAC (``response.auth.accessor``, or
  ``response.wrap_info.wrapped_accessor`` when it was response-wrapped), the
  unwrap's response holds the same HMAC (``response.auth.accessor``) and the
  unwrap request's ``auth`` says who unwrapped, and every later use carries it
  as ``auth.accessor``. The person is whoever obtained the token: the
  unwrapper, or the creator when it was never wrapped.

What cannot be traced is flagged (``FLAGS``), never guessed.

The index of creates, unwraps and grant-record writes is built lazily, by
one pass over all the given files that parses only lines holding
``NEEDLES`` (whatever time window or filter the caller asked for), and only
when an event made with a non-login token shows up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from netvault.values import names
from netvault.audit.reader import iter_lines_multi, open_binary
from netvault.errors import UsageError
from netvault.values.results import json_result
from netvault.vault.kv import GRANTS, data_path
from netvault.vault.mounts import Mounts

HMAC_PREFIX = "hmac-sha256:"
#: path of netvault's audit device (``sys/audit-hash/<path>`` HMACs as it does)
AUDIT_DEVICE = "netvault"
WRAPPING_POLICY = "response-wrapping"


@json_result
@dataclass(frozen=True)
class AuditHash:
    """`audit hash --json`: the value's HMAC as the audit device writes it."""
    hash: str | None
    device: str


def audit_hash(vault, value: str, device: str = AUDIT_DEVICE) -> AuditHash:
    """HMAC ``value`` through ``sys/audit-hash/<device>`` (Vault's own key)."""
    resp = vault.write(f"sys/audit-hash/{device.strip('/')}", {"input": value})
    return AuditHash(((resp or {}).get("data") or {}).get("hash") or (resp or {}).get("hash"), device)

#: every flag an event can carry, with its meaning (README, DESIGN.md)
FLAGS = {
    "holder-not-grantee": "a just-in-time token was used by someone other than the user it was minted for",
    "no-grant-record": "no grant record _grants/<customer>/<user> holds this token's accessor",
    "untraced": "a token minted via the token store whose create or unwrap is not in the given files: no person",
    "untraced-holder": "the token was unwrapped with the wrapping token itself: who did it is unknown",
    "record-unresolved": "the transit context does not decode to a record id: the record is unknown",
    "id-mismatch": "_ids/<id> names a record that does not hold that id: record not named",
    "ids-rewritten": "the id -> name book-keeping _ids/<id> was changed after its creation",
}


@dataclass(slots=True)
class Mint:
    time: str
    creator: str | None
    creator_entity: str | None
    wrapped: bool
    path: str
    token_entity: str | None = None


@dataclass(slots=True)
class Unwrap:
    time: str
    holder: str | None
    holder_entity: str | None
    self_unwrap: bool  # the wrap token was its own X-Vault-Token: no person
    token_entity: str | None = None


@dataclass(slots=True)
class Who:
    """The person behind one audited request, and what could not be traced."""

    name: str | None
    entity_id: str | None
    flags: list[str] = field(default_factory=list)
    traced: bool = False  # a token-store token traced through create/unwrap
    token_entity: str | None = None  # the entity the token itself is bound to (jit:<user>)
    minted_by: str | None = None
    accessor: str | None = None  # HMAC'd accessor of a token-store token


def direct(auth: dict, userpass_prefix: str) -> tuple[str | None, str | None] | None:
    """(name, entity id) of a login or root token; None when the token must be traced."""
    if not auth:
        return None
    policies = auth.get("policies") or ()
    if WRAPPING_POLICY in policies:
        return None
    dn = auth.get("display_name") or ""
    entity = auth.get("entity_id") or None
    if entity and dn.startswith(userpass_prefix) and len(dn) > len(userpass_prefix):
        return dn[len(userpass_prefix):], entity
    if dn == "root" and list(policies) == ["root"] and not entity:
        return "root", None
    return None


def _valid(value: str, check) -> bool:
    """A path segment a writer chose is used only when it is a valid name."""
    try:
        check(value)
        return True
    except UsageError:
        return False


def _hm(value) -> str | None:
    return value if isinstance(value, str) and value.startswith(HMAC_PREFIX) else None


class Trace:
    """Index of token creates, unwraps and grant-record writes of the given files."""

    def __init__(self, paths, *, kv_mount: str = Mounts.kv, userpass_mount: str = Mounts.userpass) -> None:
        self.paths = [str(p) for p in paths]
        self.kv = kv_mount.strip("/")
        self.grant_writes = data_path(self.kv, GRANTS) + "/"  # audit paths of grant records
        self.userpass_prefix = userpass_mount.strip("/").replace("/", "-") + "-"
        self.minted: dict[str, Mint] = {}
        self.unwrapped: dict[str, Unwrap] = {}
        self.wrap_accessors: dict[str, str] = {}  # wrap token accessor HMAC -> wrapped accessor HMAC
        self.grants: dict[str, list[tuple[str, str]]] = {}  # accessor HMAC -> [(customer, user)]
        self.loaded = False

    # -- building ---------------------------------------------------------
    def needles(self) -> tuple[bytes, ...]:
        return (b'"path":"auth/token/create', b'"path":"sys/wrapping/unwrap',
                f'"path":"{self.grant_writes}'.encode())

    def load(self) -> "Trace":
        if self.loaded:
            return self
        self.loaded = True
        for p in self.paths:
            fh = open_binary(p)
            try:
                for _off, line in iter_lines_multi(fh, self.needles(), name=p):
                    if b'"type":"response"' not in line[:80]:
                        continue
                    try:
                        doc = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(doc, dict):
                        self.add(doc)
            finally:
                fh.close()
        return self

    def _person(self, auth: dict) -> tuple[str | None, str | None]:
        got = direct(auth, self.userpass_prefix)
        if got is not None:
            return got
        # A token-store token minting or unwrapping: its own holder (traced once, no loops).
        who = self._traced(auth)
        return who.name, who.entity_id

    def add(self, doc: dict) -> None:
        """Feed one response entry (creates, unwraps, grant-record writes)."""
        if doc.get("error"):
            return
        req = doc.get("request") or {}
        path = req.get("path") or ""
        auth = doc.get("auth") or {}
        resp = doc.get("response") or {}
        if path.startswith("auth/token/create"):
            wrap = resp.get("wrap_info") or {}
            rauth = resp.get("auth") or {}
            creator, creator_entity = self._person(auth)
            acc = _hm(wrap.get("wrapped_accessor"))
            if acc:
                self.minted[acc] = Mint(doc.get("time") or "", creator, creator_entity, True, path)
                if _hm(wrap.get("accessor")):
                    self.wrap_accessors[wrap["accessor"]] = acc
            elif _hm(rauth.get("accessor")):
                self.minted[rauth["accessor"]] = Mint(doc.get("time") or "", creator, creator_entity, False, path,
                                                      rauth.get("entity_id") or None)
        elif path == "sys/wrapping/unwrap":
            rauth = resp.get("auth") or {}
            acc = _hm(rauth.get("accessor"))
            if not acc:
                return
            policies = auth.get("policies") or ()
            self_unwrap = (WRAPPING_POLICY in policies) or (auth.get("accessor") in self.wrap_accessors)
            if self_unwrap:
                holder, entity = None, None
            else:
                holder, entity = self._person(auth)
            self.unwrapped[acc] = Unwrap(doc.get("time") or "", holder, entity, self_unwrap,
                                         rauth.get("entity_id") or None)
        elif path.startswith(self.grant_writes):
            parts = path.split("/")
            if len(parts) != 5 or req.get("operation") not in ("create", "update"):
                return
            body = (req.get("data") or {}).get("data") or {}
            acc = _hm(body.get("accessor")) if isinstance(body, dict) else None
            if acc and _valid(parts[3], names.slug) and _valid(parts[4], names.username):
                self.grants.setdefault(acc, []).append((parts[3], parts[4]))

    # -- asking -----------------------------------------------------------
    def who(self, auth: dict) -> Who:
        """The person behind a request made with ``auth`` (an audit entry's auth block)."""
        got = direct(auth, self.userpass_prefix)
        if got is not None:
            return Who(got[0], got[1])
        if not self.loaded:
            self.load()
        return self._traced(auth)

    def _traced(self, auth: dict) -> Who:
        acc = _hm(auth.get("accessor"))
        token_entity = auth.get("entity_id") or None
        if not acc:
            return Who(None, None, ["untraced"], token_entity=token_entity)
        if WRAPPING_POLICY in (auth.get("policies") or ()):
            return Who(None, None, ["untraced-holder"], token_entity=token_entity, accessor=acc)
        mint = self.minted.get(acc)
        unwrap = self.unwrapped.get(acc)
        minted_by = mint.creator if mint else None
        if unwrap is not None:
            if unwrap.self_unwrap:
                return Who(None, None, ["untraced-holder"], traced=True, token_entity=token_entity,
                           minted_by=minted_by, accessor=acc)
            flags = [] if unwrap.holder else ["untraced"]
            return Who(unwrap.holder, unwrap.holder_entity, flags, traced=bool(unwrap.holder),
                       token_entity=token_entity, minted_by=minted_by, accessor=acc)
        if mint is not None and not mint.wrapped:
            flags = [] if mint.creator else ["untraced"]
            return Who(mint.creator, mint.creator_entity, flags, traced=bool(mint.creator),
                       token_entity=token_entity, minted_by=minted_by, accessor=acc)
        # created wrapped but the unwrap is not in the files, or not created in them at all
        return Who(None, None, ["untraced"], token_entity=token_entity, minted_by=minted_by, accessor=acc)

    def minted_by_entity(self, entity_ids) -> list[tuple[str, Mint]]:
        """(accessor HMAC, Mint) of every token the person with these entity ids created."""
        self.load()
        ids = {e for e in entity_ids if e}
        return [(acc, m) for acc, m in self.minted.items() if m.creator_entity in ids]

    def grant_users(self, accessor_hmac: str | None, customer: str | None) -> list[str]:
        """Users whose grant record of ``customer`` was written with this accessor (from the trail)."""
        if not accessor_hmac:
            return []
        return [u for c, u in self.grants.get(accessor_hmac, ()) if customer is None or c == customer]
