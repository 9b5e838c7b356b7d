"""Who is talking to which Vault: settings + token -> a gateway client; login/whoami."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from netvault.local import config
from netvault.local import tokens
from netvault.errors import NetvaultError, NotLoggedIn, PermissionDenied, UsageError
from netvault.vault.client import Vault  # noqa: F401 (type of the clients built here)
from netvault.vault.policies import ROLES
from netvault.values.results import json_result, to_json


def current_token(settings: config.Settings) -> str | None:
    return settings.env_token or tokens.load(settings.address)


def connect(settings: config.Settings | None = None, *, require_token: bool = True) -> Vault:
    settings = settings or config.load()
    token = current_token(settings)
    if require_token and not token:
        raise NotLoggedIn(f"not logged in to {settings.address}; run `netvault login`")
    return settings.vault(token)


def userpass_login(vault: Vault, mount: str, username: str, password: str) -> dict:
    try:
        resp = vault.write(f"auth/{mount}/login/{username}", {"password": password})
    except (PermissionDenied, UsageError):
        # Vault answers 400 "invalid username or password" or 403: same thing to a user.
        raise PermissionDenied(f"login failed for {username!r}: wrong user name or password, or login disabled") from None
    if not resp or not isinstance(resp.get("auth"), dict):
        raise NetvaultError("Vault answered the login without a token")
    return resp["auth"]


@json_result
@dataclass(frozen=True)
class LoggedOut:
    """`logout --json`: whether a stored token was removed, for which server."""
    logged_out: bool
    address: str


@json_result
@dataclass
class Identity:
    display_name: str
    username: str | None
    entity_id: str | None
    policies: list[str]
    roles: list[str]
    customers: list[str]
    expire_time: str | None
    ttl: int
    accessor: str
    #: time-limited grants known on this machine: customer, expires_at, state (active | expired | gone)
    time_limited: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return to_json(self)


@json_result
@dataclass
class WhoAmI(Identity):
    """`whoami --json`: the identity, the server and the time left."""
    address: str = ""
    expires_in: str = ""

    @classmethod
    def of(cls, who: Identity, address: str, expires_in: str) -> "WhoAmI":
        return cls(**{f: getattr(who, f) for f in who.__dataclass_fields__}, address=address, expires_in=expires_in)


def roles_from_policies(policies: list[str]) -> list[str]:
    out = []
    for role, (_group, role_policies) in ROLES.items():
        if role_policies[0] in policies:
            out.append(role)
    if "root" in policies:
        out.append("root")
    return out


def whoami(vault: Vault) -> Identity:
    resp = vault.request("GET", "auth/token/lookup-self")
    data = (resp or {}).get("data")
    if not isinstance(data, dict):
        raise NetvaultError("Vault answered the token look-up without data")
    policies = sorted(set((data.get("policies") or []) + (data.get("identity_policies") or [])))
    meta = data.get("meta") or {}
    customers = sorted(p[len("nv-customer-"):] for p in policies if p.startswith("nv-customer-"))
    return Identity(
        display_name=data.get("display_name", ""),
        username=meta.get("username"),
        entity_id=data.get("entity_id") or None,
        policies=policies,
        roles=roles_from_policies(policies),
        customers=customers,
        expire_time=data.get("expire_time"),
        ttl=int(data.get("ttl") or 0),
        accessor=data.get("accessor", ""),
    )


def login(settings: config.Settings, *, method: str, username: str | None, secret: str) -> tuple[Identity, str | None]:
    """Log in, keep the token in the keyring; returns (who, storage warning)."""
    vault = settings.vault(None)
    vault.require_ready()
    if method == "userpass":
        if not username:
            raise UsageError("user name required for userpass login")
        token = userpass_login(vault, settings.mounts.userpass, username, secret)["client_token"]
    elif method == "token":
        token = secret
    else:
        raise UsageError(f"unknown login method {method!r}; use userpass or token")
    vault.token = token
    if not vault.token_is_valid():
        raise NotLoggedIn("that token is not valid (expired or revoked)")
    who = whoami(vault)
    warning = tokens.save(settings.address, token)
    from netvault.local import token_cache

    token_cache.remember_entity(settings.address, token, who.entity_id,  # find's hint (token_cache.entity_hint)
                                token_cache.prefetch_pays(len(who.customers),
                                                          bool({"admin", "team-lead", "root"} & set(who.roles))))
    changes: dict[str, object] = {"address": settings.address, "user": who.username or username or who.display_name}
    listed = config.read_file().get("addresses")
    if isinstance(listed, list) and ",".join(str(a).rstrip("/") for a in listed) != settings.address:
        changes["addresses"] = None  # `login --address` elsewhere: the old node list no longer applies
    config.update_file(changes)
    return who, warning


def logout(settings: config.Settings, *, revoke: bool = True) -> bool:
    """Revoke and forget the login token and every time-limited grant's token."""
    removed = False
    for scope in ["login", *tokens.scopes(settings.address)]:
        token = tokens.load(settings.address, scope)
        if token and revoke:
            try:
                settings.client.once(token).write("auth/token/revoke-self")
            except Exception:  # best effort: the local copy goes regardless
                pass
        removed = tokens.delete(settings.address, scope) or removed
    tokens.forget_jit_expiries(settings.address)
    config.update_file({"user": None})
    return removed


def expires_in(identity: Identity, now: datetime | None = None) -> str:
    from netvault.values.durations import format_seconds

    if not identity.expire_time:
        return "never"
    now = now or datetime.now(timezone.utc)
    end = datetime.fromisoformat(identity.expire_time.replace("Z", "+00:00"))
    return format_seconds(max(0, int((end - now).total_seconds())))
