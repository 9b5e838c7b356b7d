"""``netvault setup``: bring any Vault / OpenBao to the netvault layout, idempotently.

Each item is checked first; ``check=True`` reports the drift and changes
nothing. Runs on the set-up plane (hvac), with an admin or root token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable

from netvault.values import names
from netvault.vault import policies as pol
from netvault.local.config import DEFAULT_BREAK_GLASS_PATTERNS, DEFAULT_INCIDENT_PATTERNS
from netvault.vault.mounts import Mounts
from netvault.errors import NetvaultError, UsageError
from netvault.values.results import json_result, to_json
from netvault.vault.kv import SETTINGS_PATH

#: versions KV keeps per record (Vault's own default, 10, silently trimmed
#: history after the 10th change). ``setup --history N`` sets another depth.
DEFAULT_HISTORY = 100
MAX_HISTORY = 100_000
JIT_MAX_TTL = "168h"  # a time-limited grant lasts a week at most
AUDIT_SEAL_KEY = "audit-seal"
NON_HMAC_KEYS = ["reference", "context"]
CUSTOMER_KEY_PREFIX = "customer-"
#: what every customer key must look like (setup --check reports the rest)
CUSTOMER_KEY_FLAGS = {"derived": True, "exportable": False, "allow_plaintext_backup": False, "deletion_allowed": False}


def _is_slug(name: str) -> bool:
    try:
        names.slug(name)
    except UsageError:
        return False
    return True


def _is_user(name: str) -> bool:
    try:
        names.username(name)
    except UsageError:
        return False
    return True


@json_result
@dataclass
class Item:
    name: str
    in_sync: bool
    detail: str = ""
    fix: Callable[[], None] | None = None
    #: drift that setup cannot fix itself (e.g. OpenBao audit devices)
    manual: bool = False
    #: in sync, but `setup` rewrites it anyway (a safe allow-list that lags)
    refresh: bool = False

    JSON_OMIT = ("name", "fix", "refresh")
    JSON_EXTRA = ("item",)

    @property
    def item(self) -> str:
        return self.name

    def to_dict(self) -> dict:
        return to_json(self)


@json_result
@dataclass(frozen=True)
class SetupReport:
    """`setup [--check] --json`: every item, what was applied, the names of the items that drift."""
    items: list[Item]
    applied: list[str]
    drift: list[str]
    audit_stanza: str | None


@dataclass
class SetupResult:
    items: list[Item] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    audit_stanza: str | None = None

    @property
    def drift(self) -> list[Item]:
        return [i for i in self.items if not i.in_sync]

    def report(self) -> SetupReport:
        return SetupReport(list(self.items), list(self.applied), [i.name for i in self.drift], self.audit_stanza)


def validate_patterns(patterns: list[str]) -> list[str]:
    """Incident reference patterns: ``PREFIX*``, ``*SUFFIX`` or exact, printable
    ASCII, with at least 2 fixed characters (``*`` alone would accept anything;
    the customer policy also refuses the bare prefix, see policies.denied_references)."""
    out = []
    for p in patterns:
        if not p or len(p) > 64 or any(c in p for c in ' "\\,') or p.count("*") > 1 or not (p.isascii() and p.isprintable()):
            raise UsageError(f"incident pattern {p!r} is not valid (e.g. INC-*; one '*' at start or end)")
        if "*" in p and not (p.startswith("*") or p.endswith("*")):
            raise UsageError(f"incident pattern {p!r}: Vault globs only at the start or end")
        if len(p.strip("*")) < 2:
            raise UsageError(f"incident pattern {p!r} would accept (almost) any reference: "
                             "give a prefix of at least 2 characters, e.g. INC-*")
        if "*" not in p:
            from netvault.values.text import reference_flags

            if reference_flags(p):
                raise UsageError(f"incident pattern {p!r} names no incident (nothing after the prefix); "
                                 f"did you mean {p + '*'!r}?")
        out.append(p)
    if not out:
        raise UsageError("at least one incident pattern is needed")
    return out


def validate_break_glass(patterns: list[str], incident_patterns: list[str]) -> list[str]:
    """Break-glass patterns: shaped like incident patterns, and none may be
    accepted by an incident pattern (or a normal reveal would look like a
    break-glass one, and the other way round)."""
    import fnmatch

    out = validate_patterns(patterns)
    for p in out:
        fixed = p.strip("*")
        for inc in incident_patterns:
            if p == inc or fnmatch.fnmatchcase(fixed, inc) or fnmatch.fnmatchcase(inc.strip("*"), p):
                raise UsageError(f"break-glass pattern {p!r} overlaps incident pattern {inc!r}")
    return out


def validate_history(depth: int) -> int:
    if not isinstance(depth, int) or not (1 <= depth <= MAX_HISTORY):
        raise UsageError(f"--history must be a number of versions from 1 to {MAX_HISTORY}")
    return depth


def _while_upgrading(call, seconds: float = 60.0):
    """Retry while a fresh kv-v2 mount upgrades itself (seconds on a busy machine)."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        try:
            return call()
        except Exception as exc:
            if "upgrad" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


#: how long a `netvault login` token lives: a working day (issue 15), not Vault's 32 days
DEFAULT_LOGIN_TTL = 10 * 3600
MIN_LOGIN_TTL, MAX_LOGIN_TTL = 5 * 60, 31 * 86400


def validate_login_ttl(text: str | int) -> int:
    from netvault.values.durations import parse

    return int(parse(str(text), minimum=MIN_LOGIN_TTL, maximum=MAX_LOGIN_TTL, what="login TTL").total_seconds())


class _Layout:
    def __init__(self, client, mounts: Mounts, patterns: list[str] | None, audit_path: str | None,
                 history: int | None = None, login_ttl: int | None = None,
                 break_glass: list[str] | None = None):
        self.c = client
        self.m = mounts
        self.audit_path = audit_path
        self._patterns = patterns
        self._history = history
        self._break_glass = break_glass
        self._login_ttl = login_ttl

    def login_ttl(self) -> int:
        """Seconds a login token lives: asked for (``--login-ttl``), else kept
        in the settings, else a working day."""
        if self._login_ttl is not None:
            return self._login_ttl
        if f"{self.m.kv}/" in self.secrets_mounts():
            kept = (((self.kv_read(SETTINGS_PATH) or {}).get("data")) or {}).get("login_ttl")
            if isinstance(kept, int) and MIN_LOGIN_TTL <= kept <= MAX_LOGIN_TTL:
                return kept
        return DEFAULT_LOGIN_TTL

    def userpass_ttl_item(self, mount: dict | None) -> Item:
        """Userpass tokens last ``login_ttl`` (mount tune: default and max)."""
        from netvault.values.durations import format_seconds

        ttl = self.login_ttl()
        name = f"auth {self.m.userpass}/ logins last {format_seconds(ttl)}"
        if mount is None:
            return Item(name, False, "no userpass mount yet")  # tuned on the next pass
        cfg = self.c.sys.read_auth_method_tuning(path=self.m.userpass)
        cfg = cfg.get("data") or cfg
        have = (int(cfg.get("default_lease_ttl") or 0), int(cfg.get("max_lease_ttl") or 0))
        ok = have == (ttl, ttl)
        return Item(name, ok, "" if ok else f"tokens last {format_seconds(have[0])} (max {format_seconds(have[1])})",
                    lambda: self._tune_userpass(ttl))

    def _tune_userpass(self, ttl: int) -> None:
        self.c.sys.tune_auth_method(path=self.m.userpass, default_lease_ttl=f"{ttl}s", max_lease_ttl=f"{ttl}s")

    def history(self) -> int:
        """The depth asked for (``--history``), else the one kept in the settings,
        else the default: a depth changed by hand on the mount is drift."""
        if self._history is not None:
            return self._history
        if f"{self.m.kv}/" in self.secrets_mounts():
            current = self.kv_read(SETTINGS_PATH)
            kept = ((current or {}).get("data") or {}).get("history")
            if isinstance(kept, int) and 1 <= kept <= MAX_HISTORY:
                return kept
        return DEFAULT_HISTORY

    # -- reads -------------------------------------------------------------
    def secrets_mounts(self) -> dict:
        return self.c.sys.list_mounted_secrets_engines()["data"]

    def auth_mounts(self) -> dict:
        return self.c.sys.list_auth_methods()["data"]

    def kv_read(self, path: str) -> dict | None:
        try:
            resp = self.c.secrets.kv.v2.read_secret_version(
                path=path, mount_point=self.m.kv, raise_on_deleted_version=False
            )
        except Exception as exc:  # InvalidPath: not there yet
            if type(exc).__name__ == "InvalidPath":
                return None
            raise
        return resp["data"]

    def patterns(self) -> list[str]:
        if self._patterns is not None:
            return self._patterns
        if f"{self.m.kv}/" in self.secrets_mounts():
            current = self.kv_read(SETTINGS_PATH)
            if current and current.get("data", {}).get("incident_patterns"):
                return list(current["data"]["incident_patterns"])
        return list(DEFAULT_INCIDENT_PATTERNS)

    def break_glass(self) -> list[str]:
        if self._break_glass is not None:
            return self._break_glass
        if f"{self.m.kv}/" in self.secrets_mounts():
            current = self.kv_read(SETTINGS_PATH)
            kept = ((current or {}).get("data") or {}).get("break_glass_patterns")
            if kept:
                return list(kept)
        return list(DEFAULT_BREAK_GLASS_PATTERNS)

    # -- items -------------------------------------------------------------
    def items(self) -> list[Item]:
        out: list[Item] = []
        mounts = self.secrets_mounts()
        kv = mounts.get(f"{self.m.kv}/")
        if kv is None:
            out.append(Item(f"kv mount {self.m.kv}/", False, "missing", self.enable_kv))
        elif kv.get("type") != "kv" or (kv.get("options") or {}).get("version") != "2":
            out.append(Item(f"kv mount {self.m.kv}/", False, f"is {kv.get('type')} v{(kv.get('options') or {}).get('version')}, not kv v2", manual=True))
        else:
            cfg = _while_upgrading(lambda: self.c.secrets.kv.v2.read_configuration(mount_point=self.m.kv))["data"]
            depth = self.history()
            problems = [] if cfg.get("cas_required") else ["cas_required off"]
            if int(cfg.get("max_versions") or 0) != depth:
                problems.append(f"keeps {int(cfg.get('max_versions') or 0) or 10} versions, not {depth}")
            out.append(Item(f"kv mount {self.m.kv}/ (cas_required, history {depth} versions)", not problems,
                            "; ".join(problems), lambda: self.configure_kv(depth)))
        transit = mounts.get(f"{self.m.transit}/")
        if transit is None:
            out.append(Item(f"transit mount {self.m.transit}/", False, "missing", self.enable_transit))
        else:
            keys = set((transit.get("config") or {}).get("audit_non_hmac_request_keys") or [])
            ok = set(NON_HMAC_KEYS) <= keys
            out.append(Item(f"transit mount {self.m.transit}/ (audit shows {', '.join(NON_HMAC_KEYS)})", ok, "" if ok else "audit_non_hmac_request_keys not set", self.tune_transit))
        out.append(self.identity_audit_item())
        auth = self.auth_mounts()
        up = auth.get(f"{self.m.userpass}/")
        out.append(Item(f"auth {self.m.userpass}/ (userpass)", up is not None and up.get("type") == "userpass", "" if up else "missing", self.enable_userpass))
        out.append(self.userpass_ttl_item(up))

        existing = set(self.c.sys.list_acl_policies()["data"]["keys"])
        for name, text in pol.role_policies(self.m).items():
            current = self.c.sys.read_acl_policy(name)["data"]["policy"] if name in existing else None
            out.append(Item(f"policy {name}", current == text, "missing" if current is None else ("" if current == text else "differs from policies/"), lambda n=name, t=text: self.c.sys.create_or_update_acl_policy(n, t)))
        out.extend(self.password_policy_items(up, existing))
        for role, (group, _own) in pol.ROLES.items():
            out.append(self.group_item(group, pol.group_policies(role), role))
        out.extend(self.incident_policy_items(existing, auth))

        out.append(self.jit_role_item())
        out.append(self.sealer_role_item())
        out.append(self.backup_role_item())
        out.append(self.audit_key_item())
        out.append(self.jit_identity_item())
        out.append(self.settings_item())
        out.extend(self.customer_policy_items(existing))
        if f"{self.m.kv}/" in mounts:
            out.extend(self.customer_storage_items(set(pol.customers_of_policies(existing)[0])))
        out.append(self.audit_item())
        return out

    def identity_audit_item(self) -> Item:
        """Show identity group names in the audit log, so a grant made by
        `POST identity/group {name: nv-grant:…}` names its customer and user."""
        name = "identity mount (audit shows group names)"
        try:
            cfg = self.c.sys.read_mount_configuration("identity")
        except Exception as exc:  # a server that does not tune the identity mount
            return Item(name, False, f"cannot read its config ({type(exc).__name__})", manual=True)
        have = list((cfg.get("data") or cfg).get("audit_non_hmac_request_keys") or [])
        ok = "name" in have
        return Item(name, ok, "" if ok else "audit_non_hmac_request_keys lacks name", lambda: self.c.sys.tune_mount_configuration("identity", audit_non_hmac_request_keys=sorted(set(have) | {"name"})))

    def group_item(self, group: str, group_policies: list[str], role: str) -> Item:
        try:
            g = self.c.secrets.identity.read_group_by_name(group)["data"]
        except Exception as exc:
            if type(exc).__name__ != "InvalidPath":
                raise
            g = None
        ok = g is not None and sorted(g.get("policies") or []) == sorted(group_policies)

        def fix() -> None:
            self.c.secrets.identity.create_or_update_group_by_name(
                name=group, policies=group_policies, metadata={"netvault_role": role},
                member_entity_ids=(g or {}).get("member_entity_ids") or None,
            )

        return Item(f"group {group}", ok, "missing" if g is None else ("" if ok else "policies differ"), fix)

    def jit_role_item(self) -> Item:
        want = {
            "allowed_policies_glob": ["nv-customer-*"],
            "allowed_entity_aliases": ["jit:*"],
            "orphan": True,
            "renewable": False,
            "token_explicit_max_ttl": JIT_MAX_TTL,
            "token_type": "service",
            "token_no_default_policy": False,
        }
        return self._token_role_item("nv-jit", want)

    def sealer_role_item(self) -> Item:
        want = {
            "allowed_policies": ["nv-audit-sealer"],
            "orphan": True,
            "renewable": True,
            "token_period": "24h",
            "token_type": "service",
        }
        return self._token_role_item("nv-audit-sealer", want)

    def backup_role_item(self) -> Item:
        """Tokens for the backup timer: snapshot only, renewed by each run."""
        want = {
            "allowed_policies": ["nv-backup"],
            "orphan": True,
            "renewable": True,
            "token_period": "72h",
            "token_type": "service",
        }
        return self._token_role_item("nv-backup", want)

    def _token_role_item(self, name: str, want: dict) -> Item:
        current = self.c.read(f"auth/token/roles/{name}")
        ok = current is not None and self._role_matches(current["data"], want)
        return Item(f"token role {name}", ok, "missing" if current is None else ("" if ok else "differs"), lambda: self.c.write_data(f"auth/token/roles/{name}", data=want))

    @staticmethod
    def _role_matches(have: dict, want: dict) -> bool:
        from netvault.values.durations import parse_seconds

        for key, value in want.items():
            got = have.get(key)
            if isinstance(value, str) and key.endswith(("ttl", "period")):
                if int(got or 0) != parse_seconds(value):
                    return False
            elif isinstance(value, list):
                if sorted(got or []) != sorted(value):
                    return False
            elif got != value:
                return False
        return True

    def audit_key_item(self) -> Item:
        try:
            key = self.c.secrets.transit.read_key(AUDIT_SEAL_KEY, mount_point=self.m.transit)["data"]
        except Exception as exc:
            if type(exc).__name__ not in ("InvalidPath", "InvalidRequest"):
                raise
            key = None
        ok = key is not None and key.get("type") == "ed25519" and not key.get("exportable") and not key.get("allow_plaintext_backup")

        def fix() -> None:
            if key is None:
                self.c.secrets.transit.create_key(AUDIT_SEAL_KEY, key_type="ed25519", mount_point=self.m.transit)
            else:
                raise NetvaultError(f"transit key {AUDIT_SEAL_KEY} exists but is not a non-exportable ed25519 key; fix by hand")

        return Item(f"transit key {AUDIT_SEAL_KEY} (ed25519, not exportable)", ok, "missing" if key is None else ("" if ok else "wrong type or exportable"), fix)

    def settings_item(self) -> Item:
        patterns = self.patterns()
        depth = self.history()
        current = self.kv_read(SETTINGS_PATH)
        have = (current or {}).get("data") or {}
        login_ttl = self.login_ttl()
        bg = self.break_glass()
        ok = (have.get("incident_patterns") == patterns and have.get("history") == depth
              and have.get("login_ttl") == login_ttl and have.get("break_glass_patterns") == bg)

        def fix() -> None:
            version = ((current or {}).get("metadata") or {}).get("version", 0)
            self.c.secrets.kv.v2.create_or_update_secret(
                path=SETTINGS_PATH, secret={**have, "incident_patterns": patterns, "history": depth, "login_ttl": login_ttl,
                                            "break_glass_patterns": bg},
                cas=version, mount_point=self.m.kv,
            )

        return Item(f"settings (incident patterns {', '.join(patterns)}; break-glass {', '.join(bg)}; history {depth})", ok,
                    "" if ok else "missing or different", fix)

    def customer_policy_items(self, existing: set[str]) -> list[Item]:
        """Re-render every customer's policy (so a pattern change reaches all)
        and the policies rendered from the list of customers.

        The list is what Vault itself holds: the ``nv-customer-<slug>``
        policies (only admins write policies), never the KV listing (team
        leads write KV). A name that is not a slug, in policies, KV or transit
        keys, is reported as drift to fix by hand and skipped, never rendered."""
        if f"{self.m.kv}/" not in self.secrets_mounts():
            return []
        customers, bad = pol.customers_of_policies(existing)
        out = [
            Item(f"policy {pol.CUSTOMER_POLICY_PREFIX}{names.shown(b)}", False,
                 "not a valid customer name: skipped; delete this policy by hand", manual=True)
            for b in bad
        ]
        for name, text in pol.customer_list_policies(customers, mounts=self.m).items():
            out.append(self._policy_item(name, text, existing))
        patterns = self.patterns()
        for customer in customers:
            out.append(self._policy_item(pol.customer_policy_name(customer), pol.render_customer(customer, patterns, mounts=self.m), existing))
        for customer in customers:
            name = pol.ended_policy_name(customer)
            if name not in existing:  # never overwritten here: it may hold an end in force
                out.append(Item(f"policy {name}", False, "missing", lambda n=name, c=customer:
                                self.c.sys.create_or_update_acl_policy(n, pol.render_not_ended(c))))
        out.append(self.lifecycle_group_item(customers))
        return out

    def lifecycle_group_item(self, customers: list[str]) -> Item:
        """Group nv-lifecycle (netvault.lifecycle.service_end): every customer's nv-ended-<slug>
        policy, inherited by nv-role-team-lead."""
        from netvault.lifecycle import service_end as lifecycle

        vault = self._gateway()
        ok = lifecycle.lifecycle_group_in_sync(vault, customers)
        return Item(f"group {pol.LIFECYCLE_GROUP}", ok, "" if ok else "missing or different",
                    lambda: lifecycle.sync_lifecycle_group(vault, customers))

    def password_policy_items(self, userpass: dict | None, existing: set[str]) -> list[Item]:
        """nv-self-password (own password) and nv-team-lead-engineers (the
        logins a team lead may reset), both rendered for the userpass mount."""
        if userpass is None or not userpass.get("accessor"):
            return [Item(f"policy {n}", False, "no userpass mount yet") for n in (pol.SELF_PASSWORD, pol.TEAM_LEAD_ENGINEERS)]
        out = [self._policy_item(pol.SELF_PASSWORD, pol.render_self_password(userpass["accessor"], mounts=self.m), existing)]
        from netvault.access import people as users

        logins, bad = users.engineer_logins(self._gateway(), self.m.userpass)
        out.append(self.team_lead_engineers_item(logins, existing))
        out.extend(Item(f"login {names.shown(b)} (engineer)", False, "not a valid user name: team leads cannot reset it",
                        manual=True) for b in bad)
        return out

    def team_lead_engineers_item(self, logins: list[str], existing: set[str]) -> Item:
        """In sync when it lists no one but current engineers (an allow-list
        that lags behind, after a team lead added someone, is safe: that is
        not drift, only a note). `setup` renders it afresh either way."""
        import re

        name = pol.TEAM_LEAD_ENGINEERS
        text = pol.render_team_lead_engineers(logins, mounts=self.m)
        current = self.c.sys.read_acl_policy(name)["data"]["policy"] if name in existing else None

        def fix() -> None:
            self.c.sys.create_or_update_acl_policy(name, text)

        if current is None:
            return Item(f"policy {name}", False, "missing", fix)
        listed = re.findall(r'path "auth/[^"]*/users/([^"/]+)"', current)
        try:
            same_form = current == pol.render_team_lead_engineers(listed, mounts=self.m)
        except UsageError:
            same_form = False
        extra = sorted(set(listed) - set(logins))
        if not same_form or extra:
            detail = f"lists {', '.join(names.shown(x) for x in extra)}, not (only) engineers" if extra else "stale"
            return Item(f"policy {name}", False, detail, fix)
        missing = len(set(logins) - set(listed))
        return Item(f"policy {name}", True, f"{missing} new engineer(s) not yet resettable by team leads" if missing else "",
                    fix, refresh=current != text)

    def incident_policy_items(self, existing: set[str], auth: dict) -> list[Item]:
        """nv-on-call (break-glass patterns) and the request policies, which
        need the userpass mount's accessor (templated paths; issue 14)."""
        out = [self._policy_item(pol.ON_CALL, pol.render_on_call(self.break_glass(), mounts=self.m), existing)]
        up = auth.get(f"{self.m.userpass}/")
        if up is None or not up.get("accessor"):
            return out  # the mount comes first (setup runs its items twice)
        out.append(self._policy_item(pol.REQUESTS, pol.render_requests(up["accessor"], mounts=self.m), existing))
        out.append(self._policy_item(pol.REQUEST_DECISIONS, pol.render_request_decisions(up["accessor"], mounts=self.m), existing))
        return out

    def _policy_item(self, name: str, text: str, existing: set[str]) -> Item:
        current = self.c.sys.read_acl_policy(name)["data"]["policy"] if name in existing else None
        detail = "missing" if current is None else ("" if current == text else "stale")
        return Item(f"policy {name}", current == text, detail, lambda: self.c.sys.create_or_update_acl_policy(name, text))

    def _list(self, call) -> list[str]:
        try:
            return list(call()["data"]["keys"])
        except Exception as exc:
            if type(exc).__name__ != "InvalidPath":
                raise
            return []

    def customer_storage_items(self, customers: set[str]) -> list[Item]:
        """Customer trees in KV and ``customer-*`` transit keys: names that are
        not slugs or have no customer policy (made outside `customer add`)
        are drift; each customer key must be derived, not exportable, without
        plaintext backup and not deletable."""
        out = []
        listed = self._list(lambda: self.c.secrets.kv.v2.list_secrets(path="customers", mount_point=self.m.kv))
        for entry in listed:
            name = entry.rstrip("/")
            if not _is_slug(name):
                out.append(Item(f"records customers/{names.shown(name)}", False,
                                "not a valid customer name: skipped; remove it by hand", manual=True))
            elif name not in customers:
                out.append(Item(f"records customers/{name}", False,
                                f"no policy {pol.customer_policy_name(name)}: not made by `customer add`", manual=True))
        if f"{self.m.transit}/" not in self.secrets_mounts():
            return out
        keys = self._list(lambda: self.c.secrets.transit.list_keys(mount_point=self.m.transit))
        for key in keys:
            if not key.startswith(CUSTOMER_KEY_PREFIX):
                continue
            name = key[len(CUSTOMER_KEY_PREFIX):]
            if not _is_slug(name):
                out.append(Item(f"transit key {CUSTOMER_KEY_PREFIX}{names.shown(name)}", False,
                                "not a valid customer name: skipped; remove it by hand", manual=True))
            elif name not in customers:
                out.append(Item(f"transit key {key}", False,
                                f"no policy {pol.customer_policy_name(name)}: not made by `customer add`", manual=True))
            else:
                out.append(self.customer_key_item(key))
        return out

    def customer_key_item(self, key: str) -> Item:
        data = self.c.secrets.transit.read_key(key, mount_point=self.m.transit)["data"]
        wrong = [flag for flag, want in CUSTOMER_KEY_FLAGS.items() if bool(data.get(flag)) != want]
        name = f"transit key {key}"
        if not wrong:
            return Item(name, True)
        detail = ", ".join(f"{flag} is {not CUSTOMER_KEY_FLAGS[flag]}" for flag in wrong)
        if wrong == ["deletion_allowed"]:
            return Item(name, False, detail, lambda: self.c.write_data(
                f"{self.m.transit}/keys/{key}/config", data={"deletion_allowed": False}))
        # exportable / plaintext backup cannot be switched off again, derived
        # cannot be changed: the key may have left Vault. A person decides.
        return Item(name, False, detail + ": cannot be undone; move the customer to a new key by hand", manual=True)

    def _gateway(self):
        """The same server and token as the hvac client, for domain helpers
        (users.py) that speak through ``gateway.Vault``."""
        from netvault.vault.client import ClientConfig

        cfg = getattr(self.c, "netvault_config", None)
        if cfg is None:  # an hvac client built elsewhere (scripts, tests)
            verify = (getattr(self.c.adapter, "_kwargs", None) or {}).get("verify")
            cfg = ClientConfig(self.c.adapter.base_uri, namespace=getattr(self.c.adapter, "namespace", None),
                               cacert=verify if isinstance(verify, str) else None)
        return cfg.vault(self.c.token, address=self.c.adapter.base_uri)

    def jit_identity_item(self) -> Item:
        """Every auditor and admin has a ``jit:<user>`` alias on the token
        mount whose entity is disabled: Vault then refuses any just-in-time
        token minted for them (at creation and at use)."""
        from netvault.access import people as users

        g = self._gateway()
        pending = []
        for role in pol.NO_JIT_ROLES:
            group_name = pol.ROLES[role][0]
            group = self.c.read(f"identity/group/name/{group_name}")
            for entity_id in ((group or {}).get("data") or {}).get("member_entity_ids") or []:
                entity = self.c.read(f"identity/entity/id/{entity_id}")
                for alias in ((entity or {}).get("data") or {}).get("aliases") or []:
                    user = alias.get("name") or ""
                    if alias.get("mount_type") != "userpass" or not _is_user(user):
                        continue
                    jit = users.jit_entity(g, user)
                    if not jit or not jit.get("disabled"):
                        pending.append(user)
        pending = sorted(set(pending))

        def fix() -> None:
            for user in pending:
                users.lock_jit_identity(g, user)

        detail = "" if not pending else "just-in-time identity not locked for " + ", ".join(pending[:10]) + (" …" if len(pending) > 10 else "")
        return Item("jit identities of auditors and admins (disabled)", not pending, detail, fix)

    def audit_item(self) -> Item:
        try:
            devices = self.c.sys.list_enabled_audit_devices()["data"]
        except Exception as exc:
            return Item("audit device", False, f"cannot list audit devices ({type(exc).__name__}); needs sudo", manual=True)
        file_devices = {k: v for k, v in devices.items() if isinstance(v, dict) and v.get("type") == "file"}
        if file_devices:
            paths = ", ".join((v.get("options") or {}).get("file_path", "?") for v in file_devices.values())
            return Item(f"audit device (file: {paths})", True)
        if not self.audit_path:
            return Item("audit device", False, "no file audit device; give --audit-file to enable one", manual=True)

        def fix() -> None:
            try:
                self.c.sys.enable_audit_device("file", path="netvault", options={"file_path": self.audit_path})
            except Exception as exc:
                if "declarative" in str(exc) or "config" in str(exc):
                    raise NetvaultError("this server only accepts audit devices declared in its config; add the stanza printed by `netvault setup --check`") from None
                raise

        return Item("audit device", False, f"none; will enable file device at {self.audit_path}", fix)

    # -- fixes -------------------------------------------------------------
    def enable_kv(self) -> None:
        self.c.sys.enable_secrets_engine("kv", path=self.m.kv, options={"version": "2"}, description="netvault records")
        self.configure_kv(self._history or DEFAULT_HISTORY)

    def configure_kv(self, depth: int) -> None:
        _while_upgrading(lambda: self.c.secrets.kv.v2.configure(
            cas_required=True, max_versions=depth, mount_point=self.m.kv))

    def enable_transit(self) -> None:
        self.c.sys.enable_secrets_engine("transit", path=self.m.transit, description="netvault sealing of secret fields")
        self.tune_transit()

    def tune_transit(self) -> None:
        self.c.sys.tune_mount_configuration(self.m.transit, audit_non_hmac_request_keys=NON_HMAC_KEYS)

    def enable_userpass(self) -> None:
        self.c.sys.enable_auth_method("userpass", path=self.m.userpass, description="netvault logins")


def audit_stanza(file_path: str) -> str:
    return (
        'audit "file" "netvault" {\n'
        f"  options {{ file_path = {json.dumps(file_path)} }}\n"
        "}\n"
    )


def run_setup(
    client,
    mounts: Mounts,
    *,
    check: bool = False,
    patterns: list[str] | None = None,
    audit_path: str | None = None,
    history: int | None = None,
    login_ttl: str | int | None = None,
    break_glass: list[str] | None = None,
) -> SetupResult:
    from netvault.vault.client import hvac_errors

    mounts = mounts.validated()  # names reach request paths and policies: refused (exit 2) before any request
    if patterns is not None:
        patterns = validate_patterns(patterns)
    if history is not None:
        history = validate_history(history)
    if login_ttl is not None:
        login_ttl = validate_login_ttl(login_ttl)
    layout = _Layout(client, mounts, patterns, audit_path, history, login_ttl)
    if break_glass is not None or patterns is not None:
        with hvac_errors("Vault"):
            layout._break_glass = validate_break_glass(
                break_glass if break_glass is not None else layout.break_glass(), layout.patterns())
    result = SetupResult()
    with hvac_errors("Vault"):
        if check:
            result.items = layout.items()
        else:
            # Two passes: mounts first, then what lives inside them.
            for _ in range(2):
                for item in layout.items():
                    if (not item.in_sync or item.refresh) and item.fix and not item.manual:
                        item.fix()
                        if not item.in_sync and item.name not in result.applied:
                            result.applied.append(item.name)  # a refresh only is no repair
            result.items = layout.items()
    if any(i.name.startswith("audit device") and not i.in_sync for i in result.items):
        result.audit_stanza = audit_stanza(audit_path or "/var/log/openbao/audit.log")
    return result


def sync_customer_policies(client, mounts: Mounts) -> list[str]:
    """Write every customer's policy and the auditor's no-reveal policy where
    they drifted (call after adding a customer). Returns the names written."""
    from netvault.vault.client import hvac_errors

    layout = _Layout(client, mounts.validated(), None, None)
    written = []
    with hvac_errors("Vault"):
        existing = set(client.sys.list_acl_policies()["data"]["keys"])
        for item in layout.customer_policy_items(existing):
            if not item.in_sync and item.fix:
                item.fix()
                written.append(item.name)
    return written
