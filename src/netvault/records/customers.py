"""Customers: add (admin: transit key, policy, profile), list, show, edit,
rotate-key, and the policies rendered from the customer list. Part of
``records.Store`` (see ``records/storebase.py``)."""

from __future__ import annotations

import uuid

from netvault.errors import Conflict, NetvaultError, NotFound, PermissionDenied, UsageError
from netvault.local.config import DEFAULT_INCIDENT_PATTERNS
from netvault.records import lookup, reach, results
from netvault.records.lookup import parallel, profile_path, record_path, transit_key
from netvault.records.storebase import INDEX_RETRIES, PROFILE_FIELDS, SETTINGS_PATH, StoreBase, _merge
from netvault.values import names, validate
from netvault.vault import policies
from netvault.vault.kv import CUSTOMERS, kv_folders, kv_read


def _profile(values: dict) -> dict:
    out = {}
    for key, value in values.items():
        if key not in PROFILE_FIELDS:
            raise UsageError(f"unknown profile field {names.shown(key)}")
        if value is None:
            continue
        check = {
            "email": validate.email, "phone": validate.phone, "kvk": validate.kvk,
            "vat": validate.vat, "bank": validate.iban, "notes": validate.notes,
            "retention": _retention,
        }.get(key)
        out[key] = check(value) if check else validate.text(value, key)
    return out


def _retention(value):
    from netvault.lifecycle.service_end import retention_field

    return retention_field(value)


class Customers(StoreBase):
    # -- customers ---------------------------------------------------------
    def incident_patterns(self) -> list[str]:
        got = self.read(SETTINGS_PATH)
        patterns = (got[0].get("incident_patterns") if got else None) or list(DEFAULT_INCIDENT_PATTERNS)
        return list(patterns)

    def add_customer(self, customer: str, profile: dict) -> results.CustomerAdded:
        """Admin only: creates the customer's transit key and policy, then the profile.
        Key and policy are idempotent, so a failed add can simply be retried."""
        names.slug(customer, "customer")
        data = _profile(profile)
        what = f"customer {customer}"
        meta = self.meta(profile_path(customer))
        if meta and self.read(profile_path(customer)) is not None:
            raise Conflict(f"{what} already exists")
        patterns = self.incident_patterns()
        key = transit_key(customer)
        try:
            existing = self.vault.read(f"{self.transit}/keys/{key}")
            if existing is None:
                # never "exportable"/"allow_plaintext_backup", not even false: nv-admin denies them
                self.vault.write(f"{self.transit}/keys/{key}", {"type": "aes256-gcm96", "derived": True})
                existing = self.vault.read(f"{self.transit}/keys/{key}")
            flags = (existing or {}).get("data") or {}
            if not flags.get("derived") or flags.get("exportable") or flags.get("allow_plaintext_backup"):
                raise NetvaultError(
                    f"transit key {key} exists but is not derived or may leave Vault (exportable, "
                    "plaintext backup); it was not made by `customer add`: fix it by hand")
            self.vault.write(
                f"sys/policies/acl/{policies.customer_policy_name(customer)}",
                {"policy": policies.render_customer(customer, patterns, mounts=self.mounts)},
            )
            ended = f"sys/policies/acl/{policies.ended_policy_name(customer)}"
            if self.vault.read(ended) is None:
                self.vault.write(ended, {"policy": policies.render_not_ended(customer)})
            skipped = self.sync_customer_list_policies(customer)
        except PermissionDenied:
            raise PermissionDenied(
                "customer add is admin-only: it creates the customer's transit key and Vault policy"
            ) from None
        record_id = uuid.uuid4().hex
        data["id"] = record_id
        self._write_id(customer, record_id, "customer", customer)
        reach.create_search(self.vault, self.kv, customer)
        version = self.create(profile_path(customer), data, what)
        return results.CustomerAdded(customer, record_id, version, key, policies.customer_policy_name(customer), skipped)

    def sync_customer_list_policies(self, customer: str | None = None) -> list[str]:
        """Re-render the policies made from the list of customers
        (nv-auditor-no-reveal, nv-team-lead-customers). The list is the
        ``nv-customer-<slug>`` policies Vault holds (admin-written), never the
        KV listing (team leads write KV). Returns the policy names skipped
        because they are not slugs (``netvault setup --check`` reports them)."""
        listed = self.vault.list("sys/policies/acl")
        customers, bad = policies.customers_of_policies(listed)
        if customer is not None and customer not in customers:
            customers.append(customer)
        for name, text in policies.customer_list_policies(customers, mounts=self.mounts).items():
            self.vault.write(f"sys/policies/acl/{name}", {"policy": text})
        from netvault.lifecycle.service_end import sync_lifecycle_group

        sync_lifecycle_group(self.vault, customers)
        return [policies.customer_policy_name(b) for b in bad]

    def customer_names(self) -> list[str]:
        """Every customer this token may list; engineers: their granted customers."""
        try:
            return kv_folders(self.vault, self.kv, CUSTOMERS)
        except PermissionDenied:
            return lookup.granted_customers(lookup.token_policies(self.vault))

    def list_customers(self) -> list[dict]:
        customers = self.customer_names()
        return [r for r in parallel(self.vault, customers, self.customer_row, threads=16) if r]

    def customer_row(self, client, c: str) -> dict | None:
        """One customer's line of `customer list` (None when not readable)."""
        try:
            got = kv_read(client, self.kv, profile_path(c))
        except PermissionDenied:
            return None
        if got is None:
            return None
        p = got[0]
        return {"customer": c, "company": p.get("company"), "city": p.get("city"),
                "contact": p.get("contact"), "phone": p.get("phone"), "email": p.get("email")}

    def show_customer(self, customer: str, version: int | None = None) -> dict:
        names.slug(customer, "customer")
        got = self.read(profile_path(customer), version)
        if got is None:
            raise NotFound(f"no customer {customer}" + (f" version {version}" if version else ""))
        data, meta = got
        out = {"customer": customer, **{f: data.get(f) for f in PROFILE_FIELDS}, "id": data.get("id"),
               "version": meta.get("version"), "created_time": meta.get("created_time")}
        if version is None:
            for kind in lookup.KINDS:
                try:
                    out[kind] = len(self.list_names(f"customers/{customer}/{kind}"))
                except PermissionDenied:
                    out[kind] = None
        return out

    def edit_customer(self, customer: str, changes: dict, if_version: int | None = None) -> results.CustomerEdited:
        names.slug(customer, "customer")
        checked = _profile({k: v for k, v in changes.items() if v not in (None, "")})
        cleared = {k: "" for k, v in changes.items() if v == ""}
        if not checked and not cleared:
            raise UsageError("nothing to change; give at least one field option")
        new, version = self.update(profile_path(customer), f"customer {customer}",
                                   lambda d: _merge(d, {**checked, **cleared}), if_version)
        return results.CustomerEdited(customer, version)

    def rotate_key(self, customer: str) -> results.KeyRotated:
        """Rotate the customer's key and rewrap every sealed field: reveals nothing."""
        names.slug(customer, "customer")
        if self.read(profile_path(customer)) is None:
            raise NotFound(f"no customer {customer}")
        from netvault.lifecycle.service_end import in_force

        if in_force(self.vault, customer, self.mounts):
            raise Conflict(f"customer {customer} has ended: its key refuses every earlier ciphertext, nothing to rewrap")
        key = transit_key(customer)
        self.vault.write(f"{self.transit}/keys/{key}/rotate")
        info = self.vault.read(f"{self.transit}/keys/{key}") or {}
        latest = int((info.get("data") or {}).get("latest_version") or 0)
        paths = [record_path(customer, kind, n) for kind in lookup.SECRET_KINDS
                 for n in self.list_names(f"customers/{customer}/{kind}")]

        def one(client, path):
            for _ in range(INDEX_RETRIES):
                got = kv_read(client, self.kv, path)
                if got is None:
                    return 0
                data, meta = got
                sealed = data.get("secrets") or {}
                if not sealed:
                    return 0
                data["secrets"] = self.rewrap(customer, data["id"], sealed, vault=client)
                try:
                    self.put(path, data, int(meta.get("version") or 0), vault=client)
                    return len(sealed)
                except Conflict:
                    continue
            raise Conflict(f"a record in {customer} kept changing during rotate-key; run it again")

        counts = parallel(self.vault, paths, one, threads=8)
        return results.KeyRotated(customer, key, latest, sum(1 for c in counts if c), sum(counts))

    def _require_customer(self, customer: str) -> None:
        names.slug(customer, "customer")
