"""Time-limited grants: just-in-time tokens, their delivery and their pickup.

A **time-limited grant** (``netvault grant --for 4h``) is a token from the
token role ``nv-jit`` (only ``nv-customer-*`` policies, entity alias
``jit:<u>``, TTL = the grant, not renewable). Vault expires it by itself;
nothing has to run at the expiry. It is delivered response-wrapped into the
engineer's inbox ``_inbox/<entity id>/<c>``; the engineer's netvault unwraps
it (``customer_token``). A wrap token can be unwrapped once: if anyone else
did, the engineer's unwrap fails and netvault says so.

The grant itself (record, ledger) is netvault.access.grants; this module
only mints, delivers, revokes and picks up tokens.

Domain code: no printing, no typer; time comes in as ``now``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from netvault.errors import NetvaultError, NotFound, PermissionDenied, UsageError
from netvault.vault.mounts import Mounts
from netvault.values import names
from netvault.values.durations import iso_utc, parse_iso
from netvault.vault import kv
from netvault.vault.client import Vault
from netvault.vault.policies import customer_policy_name

JIT_ROLE = "nv-jit"
JIT_CREATE_PATH = f"auth/token/create/{JIT_ROLE}"
MAX_GRANT = timedelta(hours=168)  # = layout.JIT_MAX_TTL, the token role's cap


def inbox_key(entity_id: str, customer: str | None = None) -> str:
    """``_inbox/<entity id>[/<customer>]``, relative to the KV mount."""
    return f"{kv.INBOX}/{entity_id}" + (f"/{customer}" if customer else "")


def caller_entity(vault: Vault) -> str | None:
    """The identity entity of the token in use (Vault's answer, not a claim)."""
    data = (vault.request("GET", "auth/token/lookup-self") or {}).get("data") or {}
    return data.get("entity_id") or None


# --------------------------------------------------------------------------
# minting and revoking (team lead side)
# --------------------------------------------------------------------------
def issue(
    vault: Vault, mounts: Mounts, user: str, customer: str, entity_id: str,
    duration: timedelta, now: datetime, granted_by: str,
) -> str:
    """Mint the JIT token (wrapped) and drop the wrap token into the inbox.

    Returns the JIT token's accessor. The plain token never reaches this
    process: Vault hands out only the single-use wrapping token.
    """
    from netvault.access import people as users

    seconds = int(duration.total_seconds())
    resp = vault.write(
        JIT_CREATE_PATH,
        {
            "policies": customer_policy_name(customer),
            "ttl": f"{seconds}s",
            "explicit_max_ttl": f"{seconds}s",
            "entity_alias": users.jit_alias(user),
            # No display_name / meta: they are caller-chosen, so the trail never
            # trusts them (the nv-jit policy refuses them too). The audit reader
            # names the person who unwrapped the token (accessor HMAC chain).
        },
        wrap_ttl=f"{seconds}s",
    )
    wrap = (resp or {}).get("wrap_info") or {}
    if not wrap.get("token"):
        raise NetvaultError("Vault did not wrap the just-in-time token; not delivered")
    accessor = wrap.get("wrapped_accessor") or ""
    try:
        key = inbox_key(entity_id, customer)
        kv.kv_write(vault, mounts.kv, key, {
            "wrap_token": wrap["token"],
            "wrap_accessor": wrap.get("accessor"),
            "customer": customer,
            "expires_at": iso_utc(now + duration),
            "granted_by": granted_by,
        }, cas=kv.current_version(vault, mounts.kv, key))
    except BaseException:
        if accessor:
            try:
                vault.write("auth/token/revoke-accessor", {"accessor": accessor})
            except NetvaultError:
                pass
        raise
    return accessor


def revoke_accessor(vault: Vault, accessor: str | None) -> bool:
    if not accessor:
        return False
    try:
        vault.write("auth/token/revoke-accessor", {"accessor": accessor})
        return True
    except (NotFound, UsageError):  # already expired or revoked: "invalid accessor"
        return False



def withdraw_delivery(vault: Vault, mounts: Mounts, entity_id: str, customer: str | None = None) -> None:
    """Delete an undelivered wrap token from the inbox (``customer`` None: all of them)."""
    if customer is not None:
        kv.delete_quietly(vault, kv.metadata_path(mounts.kv, inbox_key(entity_id, customer)))
        return
    for entry in kv.kv_list(vault, mounts.kv, inbox_key(entity_id)):
        kv.delete_quietly(vault, kv.metadata_path(mounts.kv, inbox_key(entity_id, entry.rstrip("/"))))


# --------------------------------------------------------------------------
# pickup (engineer side)
# --------------------------------------------------------------------------
def customer_token(settings, vault: Vault, customer: str, now: datetime, *,
                   entity_id: str | None = None) -> str | None:
    """A token for ``customer`` from a time-limited grant, or None.

    Returns a stored JIT token while Vault still accepts it; otherwise looks in
    the caller's inbox ``_inbox/<own entity id>/<customer>``, checks that the
    wrap token really comes from the ``nv-jit`` role, unwraps it, keeps the
    token in the keyring (scope ``jit:<customer>``), deletes the inbox entry
    and returns the token. Raises PermissionDenied when the delivery was
    already unwrapped by someone else (the wrap token is single-use).
    The expiry (Vault's TTL at pickup) is noted on this machine
    (``tokenstore.remember_jit_expiry``): a stored token known to have expired
    is not sent to Vault again, and callers can say when the access ended.
    """
    from netvault.local import tokens as tokenstore

    names.slug(customer, "customer")
    scope = f"jit:{customer}"
    stored = tokenstore.load(settings.address, scope=scope) if scope in tokenstore.scopes(settings.address) else None
    if stored:
        end = parse_iso(tokenstore.jit_expiries(settings.address).get(customer))
        if end is None or end > now:
            probe = settings.client.once(stored)
            if probe.token_is_valid():
                return stored
        tokenstore.delete(settings.address, scope=scope)
    entity_id = entity_id or caller_entity(vault)
    if not entity_id:
        return None
    entry = kv.kv_data(vault, settings.mounts.kv, inbox_key(entity_id, customer))
    if not entry:
        return None
    end = parse_iso(entry.get("expires_at"))
    if end is not None and end <= now:
        # never picked up and over: keep when it ended, for "your access to X expired at T"
        tokenstore.remember_jit_expiry(settings.address, customer, iso_utc(end))
        withdraw_delivery(vault, settings.mounts, entity_id, customer)
        return None
    wrap = entry.get("wrap_token") or ""
    anon = settings.client.once(None)
    granted_by = names.shown(str(entry.get("granted_by") or "?"))
    try:
        info = anon.write("sys/wrapping/lookup", {"token": wrap})["data"]
    except NetvaultError:
        raise PermissionDenied(
            f"the time-limited access to {names.shown(customer)} delivered by {granted_by} was already "
            "unwrapped by someone else (or withdrawn); it is not usable. Tell your team lead: "
            "the delivery may have been intercepted",
        ) from None
    if info.get("creation_path") != JIT_CREATE_PATH:
        raise PermissionDenied(
            f"the inbox entry for {names.shown(customer)} is not a netvault just-in-time token "
            f"(created at {names.shown(str(info.get('creation_path')))}); refusing to use it"
        )
    # Unwrap with the engineer's OWN token (the wrap token goes in the body):
    # the audit entry of the unwrap then names the engineer as the holder.
    # Unwrapping with the wrap token as X-Vault-Token would leave no person.
    unwrapper = settings.client.once(vault.token)
    try:
        resp = unwrapper.write("sys/wrapping/unwrap", {"token": wrap})
    except NetvaultError:
        raise PermissionDenied(
            f"the time-limited access to {names.shown(customer)} was unwrapped by someone else "
            "a moment ago; it is not usable. Tell your team lead",
        ) from None
    auth = (resp or {}).get("auth") or {}
    token = auth.get("client_token")
    if not token or customer_policy_name(customer) not in (auth.get("policies") or []):
        raise PermissionDenied(f"the delivered token does not carry access to {names.shown(customer)}")
    tokenstore.save(settings.address, token, scope=scope)
    # the end as Vault set it (the token's TTL), not the inbox entry's own field
    ttl = int(auth.get("lease_duration") or 0)
    tokenstore.remember_jit_expiry(settings.address, customer, iso_utc(now + timedelta(seconds=ttl)) if ttl else None)
    withdraw_delivery(vault, settings.mounts, entity_id, customer)
    return token
