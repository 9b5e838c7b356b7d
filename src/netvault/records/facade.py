"""``NetVault``: the engineer's reads as one call each (reveal, find).

Both command-line paths (the typer commands and the lean entry point in
``netvault.cli.fast``) call these; what stays in ``cli/`` is parsing,
prompting and rendering. A method here chooses the token that may read
(``netvault.access.grant_client``: a stored time-limited grant's, the login
token, a delivery picked up now), retries once when a stored time-limited
token turned out revoked, and, for ``find``, merges the hits of standing and
time-limited grants. Lean like ``lookup`` (stdlib + gateway): both run as
whole processes mid-outage. Time comes in as ``now=``.
"""

from __future__ import annotations

from datetime import datetime

from netvault.errors import NetvaultError, NotLoggedIn, PermissionDenied
from netvault.local import token_cache
from netvault.records import lookup
from netvault.vault.kv import INBOX, kv_list


class Revealed:
    """What a reveal returned: the field, its plaintext, and what Vault was told
    (``incident``: the break-glass form with break_glass). A plain class, not a
    dataclass: building one costs the hot path ~0.5 ms at import."""
    __slots__ = ("field", "value", "customer", "name", "incident", "version")

    def __init__(self, field: str, value: str, customer: str, name: str, incident: str,
                 version: int | None = None) -> None:
        self.field, self.value, self.customer, self.name = field, value, customer, name
        self.incident, self.version = incident, version


class Found:
    """What ``find`` matched: the form of the term (``match``), its key and the hits;
    ``expired``: "your access to X expired at T" for this machine's expired
    time-limited grants (an error when nothing matched, a note otherwise)."""
    __slots__ = ("match", "key", "results", "expired")

    def __init__(self, match: str, key: str, results: list[dict], expired: list[PermissionDenied] | None = None) -> None:
        self.match, self.key, self.results, self.expired = match, key, results, expired or []


class NetVault:
    """The login client and settings, and the reads an engineer makes with them."""

    def __init__(self, settings, vault) -> None:
        self.settings = settings
        self.vault = vault
        self.mounts = settings.mounts

    @classmethod
    def connect(cls, settings=None) -> "NetVault":
        """With the token of ``netvault login`` (or VAULT_TOKEN), found the cheap way
        (``netvault.local.token_cache``); NotLoggedIn without one."""
        from netvault.local import config

        settings = settings or config.load()
        token = token_cache.current_token(settings)
        if not token:
            raise NotLoggedIn(f"not logged in to {settings.address}; run `netvault login`")
        return cls(settings, settings.vault(token))

    # -- which token reads a customer ---------------------------------------
    def client_for(self, customer: str, now: datetime):
        from netvault.access import grant_client

        return grant_client.client_for(self.settings, self.vault, customer, now)

    def with_customer_client(self, customer: str, work, now: datetime):
        """``work(client)`` with the client that reads ``customer``. A stored
        time-limited token Vault no longer accepts (revoked) is forgotten and
        the choice made once more."""
        client = self.client_for(customer, now)
        try:
            return work(client)
        except (PermissionDenied, NotLoggedIn):
            if client is self.vault or client.token_is_valid():
                raise
            from netvault.local import tokens

            tokens.delete(self.settings.address, f"jit:{customer}")
            return work(self.client_for(customer, now))

    def store(self, customer: str | None = None, *, now: datetime):
        """The record store; with ``customer``, reading with the token that may read it."""
        from netvault.records.store import Store
        from netvault.values import names

        vault = self.vault if customer is None else self.client_for(names.slug(customer, "customer"), now)
        return Store(vault, self.mounts)

    # -- reveal ---------------------------------------------------------------
    def reveal(self, customer: str, name: str, *, reference: str, now: datetime, field: str | None = None,
               version: int | None = None, break_glass: bool = False) -> Revealed:
        """Decrypt one sealed field for an incident (``lookup.reveal``), with the
        token that may read the customer. ``break_glass`` (issue 14): on-call
        members without a grant, with the reference in its break-glass form."""
        kv, transit = self.mounts.kv, self.mounts.transit
        version = lookup.check_version(version)
        lookup.check_reference(reference)
        if break_glass:
            from netvault.access import incidents

            reference = incidents.break_glass_reference(reference, incidents.break_glass_patterns(self.vault, kv))
            lookup.check_reference(reference)
            try:
                got = lookup.reveal(self.vault, kv, transit, customer, name, reference=reference, field=field,
                                    version=version)
            except PermissionDenied:
                raise PermissionDenied(
                    f"Vault refused the break-glass reveal ({reference}): only members of the on-call role "
                    "may break glass, never admins or auditors; in a customer you hold a grant for, "
                    "reveal without --break-glass") from None
        else:
            got = self.with_customer_client(customer, lambda client: lookup.reveal(
                client, kv, transit, customer, name, reference=reference, field=field, version=version), now)
        return Revealed(got[0], got[1], customer, name, reference, version)

    # -- find -----------------------------------------------------------------
    def find(self, term: str, *, now: datetime) -> Found:
        """Devices and credentials matching ``term`` across every customer the
        caller may see: standing grants (``lookup.find``), then customers held
        only through a time-limited grant (a stored JIT token or a delivery in
        the inbox), each searched with its own token.

        Requests: the token's look-up, its per-person copy and its inbox list,
        sent at once (in parallel) when the token's entity id is known from an
        earlier run (``token_cache.entity_hint``: a token's entity never
        changes) and it holds many grants (``prefetch_pays``); the look-up's
        fresh policies decide what is searched and shown."""
        from netvault.records import search

        kv = self.mounts.kv
        what, key = search.parse_term(term)  # a bad term is refused before any request
        hinted, prefetch = token_cache.entity_hint(self.settings.address, self.vault.token)
        prefetched = _prefetch(self.vault, kv, hinted) if hinted and prefetch else None
        if prefetched is not None:
            self_data, reach, inbox = prefetched
        else:
            self_data, reach, inbox = self.vault.request("GET", "auth/token/lookup-self")["data"], None, None
        entity_id = self_data.get("entity_id") or None
        policies = sorted(set((self_data.get("policies") or []) + (self_data.get("identity_policies") or [])))
        elevated = any(p in lookup.ELEVATED_POLICIES for p in policies)
        worth = prefetch_pays(policies)
        if (entity_id, worth) != (hinted, prefetch):
            token_cache.remember_entity(self.settings.address, self.vault.token, entity_id, worth)
        if entity_id != hinted:
            reach = inbox = None  # read for another entity: not this token's
        what, key, hits = lookup.find(self.vault, kv, term, policies=policies, entity_id=entity_id,
                                      reach=None if elevated else reach)
        granted = lookup.granted_customers(policies)
        # A MAC names one device: when the standing grants found it, the
        # time-limited ones are not searched; IPs and text repeat across customers.
        if not elevated and not (what == "mac" and hits):
            if inbox is None:
                inbox = _inbox_customers(self.vault, kv, entity_id)
            hits = hits + self._time_limited_hits(term, inbox, granted, now)
            hits.sort(key=lambda h: (h["customer"], h["type"], h["device"]))
        return Found(what, key, hits, self._expired_grants(granted, now))

    def _time_limited_hits(self, term: str, pending: set[str], granted: list[str], now: datetime) -> list[dict]:
        """Hits in customers held only through a time-limited grant: a stored JIT
        token, or a delivery still waiting in the inbox (``pending``)."""
        from netvault.local import tokens

        customers = {s[4:] for s in tokens.scopes(self.settings.address) if s.startswith("jit:")} | pending
        customers -= set(granted)
        if not customers:
            return []
        from netvault.access import jit as jit_tokens

        hits: list[dict] = []
        for customer in sorted(customers):
            try:
                token = jit_tokens.customer_token(self.settings, self.vault, customer, now)
            except NetvaultError:
                continue
            if not token:
                continue
            jit = self.vault.clone()
            jit.token = token
            hits += lookup.find(jit, self.mounts.kv, term, policies=[f"{lookup.CUSTOMER_POLICY_PREFIX}{customer}"])[2]
        return hits

    def _expired_grants(self, granted: list[str], now: datetime) -> list[PermissionDenied]:
        """"your access to X expired at T" for this machine's expired time-limited
        grants of customers not (any more) granted otherwise."""
        from netvault.access import grant_client

        out = []
        for g in grant_client.time_limited(self.settings, now):
            if g["state"] == "expired" and g["customer"] not in granted:
                err = grant_client.expired_error(self.settings, g["customer"], now)
                if err is not None:
                    out.append(err)
        return out


def prefetch_pays(policies: list[str]) -> bool:
    """Whether a token with these policies gains from find's parallel prefetch
    (``token_cache.prefetch_pays``): not a team lead or admin (they read the
    global index), and many grants."""
    return token_cache.prefetch_pays(len(lookup.granted_customers(policies)),
                                     any(p in lookup.ELEVATED_POLICIES for p in policies))


def _inbox_customers(client, kv: str, entity_id: str | None) -> set[str]:
    if not entity_id:
        return set()
    try:
        return {k.rstrip("/") for k in kv_list(client, kv, f"{INBOX}/{entity_id}")}
    except NetvaultError:
        return set()


def _prefetch(vault, kv: str, entity_id: str):
    """(lookup-self data, the copy at ``_reach/<entity_id>`` as ``lookup.find``'s
    ``reach``, inbox customers), read in parallel; None when anything failed
    (the caller then reads them one after another)."""
    def one(client, which):
        if which == 0:
            return client.request("GET", "auth/token/lookup-self")["data"]
        if which == 1:
            try:
                return lookup.read_reach(client, kv, entity_id)
            except PermissionDenied:
                return {}
        return _inbox_customers(client, kv, entity_id)

    try:
        self_data, reach, inbox = lookup.parallel(vault, [0, 1, 2], one, threads=3)
    except NetvaultError:
        return None
    return self_data, reach, inbox


def totp_code(seed: str) -> str:
    """The current TOTP code of a stored seed. Seeds of 80 bits (16 base32
    characters, common in the field) are accepted, as validate.totp_seed does."""
    import pyotp

    class TOTP(pyotp.TOTP):
        min_secret_length_bits = 80

    return TOTP(seed).now()
