"""Which token reads a customer: the login token or a time-limited grant's.

A time-limited grant (``access grant --for``) is its own token (Vault token
role ``nv-jit``), kept in the keyring under scope ``jit:<customer>``. It must
give the same read rights as a standing grant, and using it must not leave a
denied attempt of the login token in the trail first. So the order is:

1. a stored JIT token for the customer whose expiry (Vault's TTL, noted at
   pickup in ``jit-grants.json``, no secret) lies ahead: use it, no request;
2. else ask Vault once who the login token is (``lookup-self``, allowed): a
   standing grant or an elevated role reads with the login token;
3. else pick a delivery up from the inbox (``jit.customer_token``);
4. else, when a time-limited grant of that customer is known to have
   expired: ``your access to X expired at T`` (exit 4);
5. else the login token, whose refusal is the ordinary answer.

Lean on purpose (reveal's hot path): ``access`` is imported only to pick up.
"""

from __future__ import annotations

from datetime import datetime

from netvault.local import tokens as tokenstore
from netvault.errors import PermissionDenied
from netvault.vault.kv import INBOX, kv_list

ELEVATED = ("root", "nv-admin", "nv-team-lead")


def _parse(ts: str | None) -> datetime | None:
    if not ts:
        return None
    try:
        value = datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else None


def shown_time(ts: str) -> str:
    value = _parse(ts)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "an unknown time"


def stored_jit(settings, customer: str, now: datetime) -> str | None:
    """A stored JIT token for ``customer`` that has not expired (local knowledge only)."""
    scope = f"jit:{customer}"
    if settings.env_token:
        return None
    end = _parse(tokenstore.jit_expiries(settings.address).get(customer))
    if end is not None and end <= now:
        return None
    from netvault.local import token_cache

    if scope not in tokenstore.scopes(settings.address):
        # not recorded: only the 0600 file is looked at (a missing keyring item costs a keyring import)
        return token_cache._file_token(settings.address, scope)
    return token_cache.stored_token(settings.address, scope)


def expired_error(settings, customer: str, now: datetime) -> PermissionDenied | None:
    """``your access to X expired at T`` when a time-limited grant of X is known to have expired."""
    from netvault.values import names

    at = tokenstore.jit_expiries(settings.address).get(customer)
    end = _parse(at)
    if end is None or end > now:
        return None
    try:
        label = names.slug(customer, "customer")  # a slug is shown as is
    except Exception:
        label = names.shown(customer)
    return PermissionDenied(f"your access to {label} expired at {shown_time(at or '')}",
                            hint="ask your team lead for a new grant (`netvault access grant`)")


def login_policies(vault) -> tuple[list[str], str | None]:
    data = vault.request("GET", "auth/token/lookup-self")["data"]
    return (sorted(set((data.get("policies") or []) + (data.get("identity_policies") or []))),
            data.get("entity_id") or None)


def client_for(settings, vault, customer: str, now: datetime, *, policies: list[str] | None = None,
               entity_id: str | None = None):
    """The client that reads ``customer`` for the caller (see the module text)."""
    # A token given in the environment is another identity than the keyring's:
    # its stored JIT tokens are not taken on trust, but a delivery waiting in
    # its own inbox is still picked up (as before grantclient existed).
    token = None if settings.env_token else stored_jit(settings, customer, now)
    if token:
        jit = vault.clone()
        jit.token = token
        return jit
    if policies is None:
        policies, entity_id = login_policies(vault)
    if f"nv-customer-{customer}" in policies or any(p in ELEVATED for p in policies):
        return vault
    from netvault.access import jit as jit_access

    token = jit_access.customer_token(settings, vault, customer, now, entity_id=entity_id)
    if token:
        jit = vault.clone()
        jit.token = token
        return jit
    err = expired_error(settings, customer, now)
    if err is not None:
        raise err
    return vault


def time_limited(settings, now: datetime) -> list[dict]:
    """The caller's time-limited grants known on this machine: customer, expires_at, state."""
    scopes = set(tokenstore.scopes(settings.address))
    out = []
    for customer, at in sorted(tokenstore.jit_expiries(settings.address).items()):
        end = _parse(at)
        state = "expired" if end is not None and end <= now else (
            "active" if f"jit:{customer}" in scopes else "gone")
        out.append({"customer": customer, "expires_at": at, "state": state})
    return out


def pick_up(settings, vault, now: datetime, entity_id: str | None) -> list[str]:
    """Pick up every delivery waiting in the caller's inbox; returns problems (one line each)."""
    from netvault.errors import NetvaultError

    if not entity_id or settings.env_token:
        return []
    try:
        pending = sorted(k.rstrip("/") for k in kv_list(vault, settings.mounts.kv, f"{INBOX}/{entity_id}"))
    except NetvaultError:
        return []
    problems = []
    from netvault.access import jit as jit_access

    for customer in pending:
        try:
            jit_access.customer_token(settings, vault, customer, now, entity_id=entity_id)
        except NetvaultError as exc:
            problems.append(exc.message)
    return problems


def active_time_limited(settings, vault, now: datetime, *, policies: list[str], entity_id: str | None) -> tuple[list[dict], list[str]]:
    """(time-limited grants on this machine after picking up the inbox, problems):
    customer, expires_at, state (active | expired | gone)."""
    problems = [] if any(p in ELEVATED for p in policies) else pick_up(settings, vault, now, entity_id)
    return time_limited(settings, now), problems


def whoami_with_grants(settings, vault, now: datetime):
    """``session.whoami`` plus the time-limited grants (deliveries in the inbox
    picked up first); returns (identity, problems met while picking up)."""
    from netvault.local import session

    who = session.whoami(vault)
    who.time_limited, problems = active_time_limited(settings, vault, now, policies=who.policies,
                                                     entity_id=who.entity_id)
    return who, problems
