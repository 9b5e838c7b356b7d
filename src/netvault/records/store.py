"""Customer records in KV v2, secret fields sealed by transit. No printing, no typer.

Layout and rules: docs/DESIGN.md. In short:

- every write carries ``options.cas`` (the mount has ``cas_required``); a
  mismatch is ``Conflict`` (exit 7), never a silent overwrite;
- a record gets a stable id (``uuid4().hex``) at creation; for records with
  sealed fields (credentials, licences) ``_ids/<id>`` maps it back to the
  record for the auditor (the id is the transit context a reveal carries);
- secret fields are ``encrypt/customer-<c>`` ciphertexts with
  ``context = base64(id)``; nothing here ever decrypts (see ``lookup.reveal``);
- devices keep the global MAC/IP index (``records.index`` buckets) and the
  customer's search document current at write time.

Write order is chosen so a failure leaves nothing a retry trips over: side
entries (key, policy, ``_ids``, index) first and idempotent, the record last.
Index entries that point at a device which is not (or no longer) there are
harmless: ``lookup.find`` checks each hit against the device record.
"""
from __future__ import annotations

import uuid
from datetime import date, timedelta

from netvault.errors import Conflict, NotFound, PermissionDenied, UsageError
from netvault.records import lookup, results
from netvault.records.bulk import BulkWrites
from netvault.records.customers import Customers
from netvault.records.lookup import parallel, profile_path, record_path
from netvault.records.storebase import (  # noqa: F401  (re-exported: callers import them from here)
    DEVICE_KINDS, INDEX_RETRIES, KIND_WORDS, PROFILE_FIELDS, SECRETS_CHANGED, SETTINGS_PATH, _merge, kind_dir,
    stamp_secrets,
)
from netvault.values import names, validate
from netvault.vault.kv import CUSTOMERS, kv_names, kv_read

__all__ = ["Store", "PROFILE_FIELDS", "DEVICE_KINDS", "KIND_WORDS", "SECRETS_CHANGED", "kind_dir", "stamp_secrets"]


class Store(Customers, BulkWrites):
    """Records of every customer, through one ``gateway.Vault``: the record
    commands here; customers, find upkeep and bulk writes in their modules."""

    # -- generic records ---------------------------------------------------
    def show(self, kind: str, customer: str, name: str, version: int | None = None) -> dict:
        kind = kind_dir(kind)
        names.slug(customer, "customer")
        names.slug(name, "record name")
        try:
            got = self.read(record_path(customer, kind, name), version)
        except PermissionDenied:
            raise lookup.unknown_customer(self.vault, self.kv, customer) or PermissionDenied(
                f"Vault refused to read {customer}/{name}") from None
        what = f"{KIND_WORDS[kind]} {customer}/{name}"
        if got is None:
            raise lookup.unknown_customer(self.vault, self.kv, customer) or NotFound(
                f"no {what}" + (f" version {version}" if version else ""))
        data, meta = got
        return self._public(kind, customer, name, data, meta)

    def _public(self, kind: str, customer: str, name: str, data: dict, meta: dict) -> dict:
        out = {"customer": customer, "name": name}
        for key, value in data.items():
            if key == "secrets":
                out["secret_fields"] = sorted((value or {}).keys())
                out["key_versions"] = sorted({str(ct).split(":")[1] for ct in (value or {}).values() if str(ct).count(":") >= 2})
            elif key == "fingerprints":
                continue
            else:
                out[key] = value
        out["version"] = meta.get("version")
        out["created_time"] = meta.get("created_time")
        return out

    def list(self, kind: str, customer: str, *, tags: list[str] | None = None,
             device_kind: str | None = None) -> list[dict]:
        """A customer's records of one kind; ``tags`` keeps those carrying every
        given tag, ``device_kind`` the devices of that kind (both validated)."""
        kind = kind_dir(kind)
        names.slug(customer, "customer")
        wanted = set(validate.tags(tags) or [])
        if device_kind is not None and device_kind not in DEVICE_KINDS:
            raise UsageError(f"invalid device kind {names.shown(device_kind)}; one of {', '.join(DEVICE_KINDS)}")
        try:
            record_names = self.list_names(f"customers/{customer}/{kind}")
        except PermissionDenied:
            raise lookup.unknown_customer(self.vault, self.kv, customer) or PermissionDenied(
                f"Vault refused to list the {kind} of {customer}") from None
        if not record_names:
            unknown = lookup.unknown_customer(self.vault, self.kv, customer)
            if unknown is not None:
                raise unknown

        def one(client, n):
            got = kv_read(client, self.kv, record_path(customer, kind, n))
            return None if got is None else self._public(kind, customer, n, got[0], got[1])

        rows = [r for r in parallel(self.vault, record_names, one) if r]
        if wanted:
            rows = [r for r in rows if wanted <= set(r.get("tags") or [])]
        if device_kind is not None:
            rows = [r for r in rows if r.get("kind") == device_kind]
        return rows

    def remove(self, kind: str, customer: str, name: str) -> results.RecordRemoved:
        kind = kind_dir(kind)
        names.slug(customer, "customer")
        names.slug(name, "record name")
        path = record_path(customer, kind, name)
        what = f"{KIND_WORDS[kind]} {customer}/{name}"
        got = self.read(path)
        if got is None:
            raise NotFound(f"no {what}")
        self._delete_version(path, int(got[1].get("version") or 0), what)
        if kind == "devices":
            # settle, not a blind removal: the name may have been added again meanwhile
            self._settle_index(customer, name, self._index_keys(name, got[0]))
        elif kind == "credentials":
            self._settle_search(customer, kind, name)
        return results.RecordRemoved(customer, name, KIND_WORDS[kind], got[1].get("version"))

    def undelete(self, kind: str, customer: str, name: str) -> results.RecordRestored:
        """Restore a removed record: KV v2 ``undelete`` of exactly the version
        that was deleted (the newest one, soft-deleted, not destroyed). A record
        added again under the name since, or never removed, is refused."""
        kind = kind_dir(kind)
        names.slug(customer, "customer")
        names.slug(name, "record name")
        path = record_path(customer, kind, name)
        what = f"{KIND_WORDS[kind]} {customer}/{name}"
        meta = self.meta(path)
        if not meta:
            raise NotFound(f"no {what}, removed or not")
        version = int(meta.get("current_version") or 0)
        newest = (meta.get("versions") or {}).get(str(version)) or {}
        if newest.get("destroyed"):
            raise Conflict(f"{what} version {version} was destroyed; it cannot be restored")
        if not newest.get("deletion_time"):
            raise Conflict(f"{what} is not removed (version {version} is live)")
        self.vault.write(f"{self.kv}/undelete/{path}", {"versions": [version]})
        if kind == "devices":
            self._settle_index(customer, name, set())  # its MACs/IPs come back into find
        elif kind == "credentials":
            self._settle_search(customer, kind, name)
        return results.RecordRestored(customer, name, KIND_WORDS[kind], version)

    def _delete_version(self, path: str, version: int, what: str) -> None:
        """Soft-delete exactly the version the caller read: KV v2's plain delete
        takes whatever is newest, so a write that landed in between would be
        deleted unseen (and its find entries left behind)."""
        self.vault.write(f"{self.kv}/delete/{path}", {"versions": [version]})
        meta = self.meta(path) or {}
        if int(meta.get("current_version") or 0) != version:
            self.vault.write(f"{self.kv}/undelete/{path}", {"versions": [version]})
            raise Conflict(f"{what} changed meanwhile (now version {meta.get('current_version')}); "
                           "re-read and try again")

    def record_history(self, kind: str | None, customer: str, name: str | None) -> dict:
        names.slug(customer, "customer")
        if name is None:
            return {"customer": customer, "name": None, "kind": "customer",
                    **self.history(profile_path(customer), f"customer {customer}")}
        names.slug(name, "record name")
        kinds = [kind_dir(kind)] if kind else list(lookup.KINDS)
        found = []
        for k in kinds:
            meta = self.meta(record_path(customer, k, name))
            if meta:
                found.append(k)
        if not found:
            raise NotFound(f"no record {customer}/{name}")
        if len(found) > 1:
            raise UsageError(f"{customer}/{name} names a {' and a '.join(KIND_WORDS[k] for k in found)}; add --kind")
        k = found[0]
        return {"customer": customer, "name": name, "kind": KIND_WORDS[k],
                **self.history(record_path(customer, k, name), f"{KIND_WORDS[k]} {customer}/{name}")}

    def _new_record(self, kind: str, customer: str, name: str, fields: dict, secrets: dict[str, str]) -> tuple[str, dict]:
        """Check the customer exists, seal the secrets, write _ids; returns (id, data)."""
        if self.read(profile_path(customer)) is None:
            raise NotFound(f"no customer {customer}")
        path = record_path(customer, kind, name)
        what = f"{KIND_WORDS[kind]} {customer}/{name}"
        meta = self.meta(path)
        if meta:
            cur = (meta.get("versions") or {}).get(str(meta.get("current_version"))) or {}
            if not cur.get("deletion_time") and not cur.get("destroyed"):
                raise Conflict(f"{what} already exists")
        record_id = uuid.uuid4().hex
        data = {"id": record_id, **{k: v for k, v in fields.items() if v not in (None, "", [])}}
        if kind in lookup.SECRET_KINDS:
            data["secrets"] = self.seal(customer, record_id, secrets)
            self._write_id(customer, record_id, KIND_WORDS[kind], name)
        return record_id, data

    # -- credentials -------------------------------------------------------
    @staticmethod
    def _credential_fields(username=None, url=None, notes=None, tags=None) -> dict:
        return {
            "username": validate.text(username, "username") if username != "" else "",
            "url": validate.url_or_host(url),
            "notes": validate.notes(notes),
            "tags": validate.tags(tags),
        }

    @staticmethod
    def _secret_fields(secrets: dict[str, str]) -> dict[str, str]:
        out = {}
        for field, value in secrets.items():
            names.slug(field, "secret field name")
            if field == "totp":
                out[field] = validate.totp_seed(value)
            else:
                out[field] = validate.secret_value(value, f"secret field {field!r}")
        if len(out) > validate.MAX_LIST:
            raise UsageError(f"at most {validate.MAX_LIST} secret fields")
        return out

    def add_credential(self, customer: str, name: str, *, username=None, url=None, notes=None,
                       tags=None, secrets: dict[str, str]) -> results.RecordAdded:
        names.slug(customer, "customer")
        names.slug(name, "credential name")
        fields = self._credential_fields(username, url, notes, tags)
        sealed_input = self._secret_fields(secrets)
        if not sealed_input:
            raise UsageError("a credential needs at least one secret field")
        record_id, data = self._new_record("credentials", customer, name, fields, sealed_input)
        version = self.create(record_path(customer, "credentials", name), data, f"credential {customer}/{name}",
                              sealed=list(data["secrets"]))
        self._settle_search(customer, "credentials", name)
        return results.RecordAdded(customer, name, record_id, version, sorted(data["secrets"]))

    def edit_credential(self, customer: str, name: str, *, username=None, url=None, notes=None,
                        tags=None, if_version: int | None = None) -> results.RecordEdited:
        names.slug(customer, "customer")
        names.slug(name, "credential name")
        changes = self._credential_fields(username, url, notes, tags)
        if all(v is None for v in changes.values()):
            raise UsageError("nothing to change; give at least one field option")
        _, version = self.update(record_path(customer, "credentials", name), f"credential {customer}/{name}",
                                 lambda d: _merge(d, changes), if_version)
        self._settle_search(customer, "credentials", name)
        return results.RecordEdited(customer, name, version)

    def set_secrets(self, kind: str, customer: str, name: str, secrets: dict[str, str], *,
                    remove: list[str] | None = None, if_version: int | None = None) -> results.SecretsChanged:
        """Replace (or add) sealed fields of a credential or licence: ``credential rotate``."""
        kind = kind_dir(kind)
        names.slug(customer, "customer")
        names.slug(name, "record name")
        sealed_input = self._secret_fields(secrets)
        for field in remove or []:
            names.slug(field, "secret field name")
        path = record_path(customer, kind, name)
        what = f"{KIND_WORDS[kind]} {customer}/{name}"
        data, version = self.current(path, what)
        if if_version is not None and int(if_version) != version:
            raise Conflict(f"{what} changed meanwhile (now version {version}); re-read and try again")
        sealed = dict(data.get("secrets") or {})
        for field in remove or []:
            if field not in sealed:
                raise NotFound(f"no secret field {field!r} on {what}")
            sealed.pop(field)
        sealed.update(self.seal(customer, data["id"], sealed_input))
        if kind == "credentials" and not sealed:
            raise UsageError("a credential needs at least one secret field")
        data["secrets"] = sealed
        # an import's fingerprint of a replaced value no longer describes it
        stale = set(sealed_input) | set(remove or [])
        if data.get("fingerprints"):
            data["fingerprints"] = {f: v for f, v in data["fingerprints"].items() if f not in stale}
        stamp_secrets(data, list(sealed_input), version + 1)
        new_version = self.put(path, data, version)
        return results.SecretsChanged(customer, name, new_version, sorted(sealed_input), sorted(remove or []), sorted(sealed))

    # -- devices -----------------------------------------------------------
    def _device_fields(self, customer: str, *, kind=None, macs=None, ips=None, serial=None, model=None,
                       location=None, credential=None, notes=None, tags=None) -> dict:
        out = self.device_values(kind=kind, macs=macs, ips=ips, serial=serial, model=model, location=location,
                                 credential=credential, notes=notes, tags=tags)
        if credential not in (None, ""):
            if self.read(record_path(customer, "credentials", credential)) is None:
                raise NotFound(f"no credential {customer}/{credential} to link")
        return out

    @staticmethod
    def device_values(*, kind=None, macs=None, ips=None, serial=None, model=None, location=None,
                      credential=None, notes=None, tags=None) -> dict:
        """A device's fields, validated (no Vault access; the link is checked by the caller)."""
        from netvault.values.macs import canonical_ip, canonical_mac

        if kind not in (None, "") and kind not in DEVICE_KINDS:
            raise UsageError(f"invalid device kind {names.shown(kind)}; one of {', '.join(DEVICE_KINDS)}")
        out = {"kind": kind}
        if macs is not None:
            out["macs"] = list(dict.fromkeys(canonical_mac(m) for m in validate.bounded_list(macs, "MAC addresses")))
        if ips is not None:
            out["ips"] = list(dict.fromkeys(canonical_ip(i) for i in validate.bounded_list(ips, "IP addresses", 32)))
        out["serial"] = validate.text(serial, "serial", limit=100)
        out["model"] = validate.text(model, "model")
        out["location"] = validate.text(location, "location")
        out["notes"] = validate.notes(notes)
        out["tags"] = validate.tags(tags)
        if credential not in (None, ""):
            names.slug(credential, "credential name")
        out["credential"] = credential
        return out

    def add_device(self, customer: str, name: str, *, kind: str, macs=(), ips=(), serial=None, model=None,
                   location=None, credential=None, notes=None, tags=None, force: bool = False) -> results.DeviceWritten:
        names.slug(customer, "customer")
        names.slug(name, "device name")
        if not kind:
            raise UsageError(f"device kind required; one of {', '.join(DEVICE_KINDS)}")
        fields = self._device_fields(customer, kind=kind, macs=list(macs), ips=list(ips), serial=serial,
                                     model=model, location=location, credential=credential, notes=notes,
                                     tags=tags)
        self._refuse_shared_macs(customer, name, fields.get("macs") or [], force)
        record_id, data = self._new_record("devices", customer, name, fields, {})
        keys = self._index_keys(name, data)
        self._index_add(customer, name, keys)
        self._search_ahead(customer, name, None, data)
        try:
            version = self.create(record_path(customer, "devices", name), data, f"device {customer}/{name}")
        except Conflict:
            self._settle_index(customer, name, keys)  # take back what this failed add put in
            raise
        self._settle_index(customer, name, set())
        return results.DeviceWritten(customer, name, version, data.get("macs", []), data.get("ips", []), id=record_id)

    def edit_device(self, customer: str, name: str, *, if_version: int | None = None, force: bool = False,
                    **changes) -> results.DeviceWritten:
        names.slug(customer, "customer")
        names.slug(name, "device name")
        fields = self._device_fields(customer, **changes)
        if all(v is None for v in fields.values()):
            raise UsageError("nothing to change; give at least one field option")
        self._refuse_shared_macs(customer, name, fields.get("macs") or [], force)
        path = record_path(customer, "devices", name)
        what = f"device {customer}/{name}"
        data, version = self.current(path, what)
        if if_version is not None and int(if_version) != version:
            raise Conflict(f"{what} changed meanwhile (now version {version}, you expected {if_version}); re-read and try again")
        new = _merge(data, fields)
        old_keys, new_keys = self._index_keys(name, data), self._index_keys(name, new)
        self._index_add(customer, name, new_keys - old_keys)
        self._search_ahead(customer, name, (data, {"version": version}), new)
        try:
            new_version = self.put(path, new, version)
        except Conflict:
            self._settle_index(customer, name, new_keys - old_keys)
            raise
        self._settle_index(customer, name, old_keys - new_keys)
        return results.DeviceWritten(customer, name, new_version, new.get("macs", []), new.get("ips", []))

    # -- licences ----------------------------------------------------------
    @staticmethod
    def _licence_fields(product=None, vendor=None, seats=None, expires=None, notes=None) -> dict:
        return {
            "product": validate.text(product, "product"), "vendor": validate.text(vendor, "vendor"),
            "seats": validate.seats(seats), "expires": validate.iso_date(expires, "expiry date"),
            "notes": validate.notes(notes),
        }

    def add_licence(self, customer: str, name: str, *, product: str, vendor=None, seats=None, expires=None,
                    notes=None, licence_key: str | None = None) -> results.RecordAdded:
        names.slug(customer, "customer")
        names.slug(name, "licence name")
        if not product:
            raise UsageError("licence product required (--product)")
        fields = self._licence_fields(product, vendor, seats, expires, notes)
        secrets = {"licence_key": validate.secret_value(licence_key, "licence key")} if licence_key else {}
        record_id, data = self._new_record("licences", customer, name, fields, secrets)
        version = self.create(record_path(customer, "licences", name), data, f"licence {customer}/{name}",
                              sealed=list(data.get("secrets") or {}))
        return results.RecordAdded(customer, name, record_id, version, sorted(data.get("secrets") or {}))

    def edit_licence(self, customer: str, name: str, *, if_version: int | None = None, **changes) -> results.RecordEdited:
        names.slug(customer, "customer")
        names.slug(name, "licence name")
        fields = self._licence_fields(**changes)
        if all(v is None for v in fields.values()):
            raise UsageError("nothing to change; give at least one field option")
        _, version = self.update(record_path(customer, "licences", name), f"licence {customer}/{name}",
                                 lambda d: _merge(d, fields), if_version)
        return results.RecordEdited(customer, name, version)

    def list_licences(self, customer: str | None, *, expiring: timedelta | None, today: date) -> list[dict]:
        """Licences of one customer, or of every visible customer; optionally only
        those expiring within ``expiring`` from ``today`` (expired ones included)."""
        customers = [names.slug(customer, "customer")] if customer else self.customer_names()

        def per_customer(client, c):
            try:
                listed = kv_names(client, self.kv, f"{CUSTOMERS}/{c}/licences")
            except PermissionDenied:
                return []
            rows = []
            for n in listed:
                got = kv_read(client, self.kv, record_path(c, "licences", n))
                if got is not None:
                    rows.append(self._public("licences", c, n, got[0], got[1]))
            return rows

        rows = [r for chunk in parallel(self.vault, customers, per_customer, threads=16) for r in chunk]
        out = []
        for r in rows:
            exp = r.get("expires")
            r["days_left"] = (date.fromisoformat(exp) - today).days if exp else None
            if expiring is not None and (r["days_left"] is None or r["days_left"] > expiring.days):
                continue
            out.append(r)
        out.sort(key=lambda r: (r["days_left"] if r["days_left"] is not None else 10**9, r["customer"], r["name"]))
        return out
